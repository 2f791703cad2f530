"""Prometheus metrics of the daemon, in a registry of its own.

Why a private ``CollectorRegistry`` and not prometheus-client's global one: no import-time
global state, so tests can build as many daemons as they like in one process, and
``/metrics`` shows exactly what this module declares (plus nothing a library registered
behind our back). Every name starts with ``revox_sync_``.

Label values are team names (validated by the mapping schema), service names, HTTP status
codes and fixed result words: never free text, so nothing secret and no unbounded series.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from connector.engine import Engine
from connector.summary import TickError, TickSummary, tick_result

# Seconds: a CSV tick takes milliseconds, a Salesforce list view of a million rows minutes.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
RESULTS = ("ok", "errors", "failed", "disabled")


def error_labels(error: TickError) -> tuple[str, str]:
    """(service, status) labels of one tick error, e.g. ("revox", "503"); "none" if none."""
    return error.service, str(error.status) if error.status else "none"


class Metrics:
    """Every metric the daemon exports, and the few ways it updates them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ticks = Counter(
            "revox_sync_ticks", "Ticks run, by team and result", ["team", "result"], registry=r
        )
        self.rows_read = Counter(
            "revox_sync_rows_read", "Rows read from the source", ["team"], registry=r
        )
        self.rows_new = Counter(
            "revox_sync_rows_new", "Rows seen for the first time", ["team"], registry=r
        )
        self.rows_rejected = Counter(
            "revox_sync_rows_rejected", "Rows rejected by the mapping", ["team"], registry=r
        )
        self.rows_submitted = Counter(
            "revox_sync_rows_submitted", "Contacts sent to Revox", ["team"], registry=r
        )
        self.campaigns = Counter(
            "revox_sync_campaigns_created", "Campaigns created on Revox", ["team"], registry=r
        )
        self.results = Counter(
            "revox_sync_results_written", "Call results queued for write-back", ["team"], registry=r
        )
        self.outbox = Gauge(
            "revox_sync_outbox_rows", "Write-backs not yet acknowledged", ["team"], registry=r
        )
        self.parked = Gauge(
            "revox_sync_parked_rows",
            "Write-backs the source refused for good, no longer sent",
            ["team"],
            registry=r,
        )
        self.open_campaigns = Gauge(
            "revox_sync_open_campaigns", "Campaigns still being polled", ["team"], registry=r
        )
        self.requests = Counter(
            "revox_sync_api_requests",
            "HTTP requests sent, by team and service",
            ["team", "service"],
            registry=r,
        )
        self.api_errors = Counter(
            "revox_sync_api_errors",
            "Errors reported by a tick, by team, service and HTTP status",
            ["team", "service", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "revox_sync_tick_duration_seconds",
            "How long a tick took",
            ["team"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.failures = Gauge(
            "revox_sync_team_consecutive_failures",
            "Failed ticks in a row (0 when the last one succeeded)",
            ["team"],
            registry=r,
        )
        self.last_success = Gauge(
            "revox_sync_team_last_success_timestamp_seconds",
            "When the team's last successful tick ended (Unix time)",
            ["team"],
            registry=r,
        )
        self.teams = Gauge("revox_sync_teams", "Teams scheduled", registry=r)
        self.reloads = Counter(
            "revox_sync_reloads", "SIGHUP reloads, by result", ["result"], registry=r
        )
        self.config_problems = Gauge(
            "revox_sync_config_problems",
            "Mapping files that could not be loaded (a running team keeps its last good one)",
            registry=r,
        )

    def observe_tick(
        self, team: str, result: str, seconds: float, summary: TickSummary | None
    ) -> None:
        """Count one tick; ``summary`` is None when the tick raised."""
        self.ticks.labels(team, result).inc()
        self.duration.labels(team).observe(seconds)
        if summary is None:
            return
        self.rows_read.labels(team).inc(summary.read)
        self.rows_new.labels(team).inc(summary.new)
        self.rows_rejected.labels(team).inc(summary.rejected)
        self.rows_submitted.labels(team).inc(summary.submitted)
        self.campaigns.labels(team).inc(summary.campaigns_created)
        self.results.labels(team).inc(summary.results_written)
        self.outbox.labels(team).set(summary.outbox)
        self.parked.labels(team).set(summary.parked)
        self.open_campaigns.labels(team).set(summary.open_campaigns)

    def observe_outcome(
        self,
        team: str,
        seconds: float,
        summary: TickSummary | None,
        errors: Sequence[TickError],
        failures: int,
    ) -> None:
        """Everything one tick tells: result, counts, errors, and the team's failure streak."""
        result = tick_result(summary, errors)
        self.observe_tick(team, result, seconds, summary)
        self.observe_errors(team, errors)
        self.team_state(team, failures, None if errors else time.time())

    def observe_requests(self, team: str, service: str, count: int) -> None:
        """Add the requests a tick sent (a delta of the client's own counter)."""
        if count > 0:
            self.requests.labels(team, service).inc(count)

    @contextmanager
    def counting_requests(self, team: str, engine: Engine, service: str) -> Iterator[None]:
        """Count the requests sent inside the block, from the clients' own counters.

        Revox always counts; so does every registered source (``SourcePlugin.requests``),
        read with getattr because tests wrap sources in doubles that may not count.
        """
        revox, source = engine.revox.requests, getattr(engine.source, "requests", None)
        try:
            yield
        finally:
            self.observe_requests(team, "revox", engine.revox.requests - revox)
            after = getattr(engine.source, "requests", None)
            if isinstance(source, int) and isinstance(after, int):
                self.observe_requests(team, service, after - source)

    def observe_errors(self, team: str, errors: Sequence[TickError]) -> None:
        """Count the errors of one tick by the service and status they carry."""
        for error in errors:
            self.api_errors.labels(team, *error_labels(error)).inc()

    def team_state(self, team: str, failures: int, last_success: float | None) -> None:
        """The team's failure streak and last success time."""
        self.failures.labels(team).set(failures)
        if last_success is not None:
            self.last_success.labels(team).set(last_success)

    def forget(self, team: str) -> None:
        """Drop the gauges of a team that left the configuration (counters stay, as usual)."""
        for gauge in (
            self.outbox,
            self.parked,
            self.open_campaigns,
            self.failures,
            self.last_success,
        ):
            with suppress(KeyError):
                gauge.remove(team)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
