"""`revox-sync run`: every team's ticks on its schedule, until SIGTERM.

Threads, and why:
- main: the ``BlockingScheduler`` loop, then the drain; signal handlers only set flags.
- supervisor (``notify.supervise``): the slow work that signals ask for (reload, closing
  retired teams), the systemd watchdog and STATUS. Teams are opened and closed only by
  main (start-up, drain) or by the supervisor, never by both at once.
- workers (a thread pool): one tick each, holding the team's lock (``health.Slot``).

The engine commits at every protocol step, so stopping only waits for running ticks to
end (bounded by REVOX_SYNC_STOP_TIMEOUT, 30 s); a tick cut short is logged and we exit 1.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector import notify, status_page
from connector.config import LoadedMapping, Schedule
from connector.errors import AuthError, ConfigError, ConnectorError, RetryableError
from connector.health import Backoff, Board, HealthServer, Slot
from connector.loading import load_each, mapping_files
from connector.lock import TeamLock
from connector.logs import Redactor, describe_error, log_tick, setup_logging
from connector.metrics import Metrics
from connector.runtime import open_team
from connector.settings import Settings
from connector.summary import TickError

log = logging.getLogger(__name__)
MAX_JITTER = 30.0  # seconds: teams on one schedule spread over half a minute at most
CRON_BASE = 60.0  # backoff base of a cron team, whose period is not one number
Entry = tuple[LoadedMapping, Any, float]  # a mapping, its trigger, its backoff base


def make_trigger(schedule: Schedule) -> tuple[Any, float]:
    """The APScheduler trigger of a schedule (with jitter) and its backoff base in seconds."""
    seconds = schedule.seconds()
    if seconds is not None:
        if seconds < 1:
            raise ValueError("schedule.every: must be at least 1s")
        jitter = min(seconds * 0.1, MAX_JITTER)
        return IntervalTrigger(seconds=seconds, jitter=jitter, timezone=UTC), float(seconds)
    try:
        tz = ZoneInfo(schedule.timezone)
        trigger = CronTrigger.from_crontab(str(schedule.cron), timezone=tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        where = "timezone" if isinstance(exc, ZoneInfoNotFoundError) else "cron"
        raise ValueError(
            f"schedule.{where}: {exc} (cron has 5 fields, e.g. '*/5 8-19 * * mon-fri'; "
            "timezone is an IANA name, e.g. Europe/Paris)"
        ) from exc
    trigger.jitter = MAX_JITTER
    return trigger, CRON_BASE


class Daemon:
    """The scheduler, the teams, and the signal, health and systemd plumbing around them."""

    def __init__(self, mappings: Path, state_dir: Path, env: Mapping[str, str], r: Redactor):
        self.mappings, self.state_dir, self.env = mappings, state_dir, env
        self.metrics, self.signals = Metrics(), notify.Signals()
        self.notifier = notify.Notifier(env)
        self.settings = Settings.from_env(env)  # validated by the CLI already: no surprise here
        self.board = Board(r, self.settings.unhealthy_after)
        self.stop_timeout = self.settings.stop_timeout
        # a tick running longer than this is taken for stuck: the watchdog stops being pinged
        self.tick_limit = self.settings.tick_limit
        pool = ThreadPoolExecutor(self.settings.workers)
        self.scheduler = BlockingScheduler(executors={"default": pool}, timezone=UTC)
        self.scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
        self.board.scheduler_running = lambda: self.scheduler.running and not self.signals.stop
        self.slots: dict[str, Slot] = {}
        self._locks: dict[str, threading.Lock] = {}  # by team name, kept across reloads
        self._retiring: list[Slot] = []
        self._pending: list[Entry] = []
        self._t0 = time.monotonic()

    def _status_page(self) -> str:
        """The HTML status page of every scheduled team (status_page.py)."""
        teams = sorted(t.team for t in self.board.teams())
        report = [status_page.team_status(self.state_dir, t) for t in teams]
        return status_page.render_html(report, self.board.redactor.redact)

    def run(self, http: str | None) -> int:
        """Schedule every valid team, serve until SIGTERM/SIGINT, drain; the exit code."""
        self.signals.install()
        server = None
        try:
            mapping_files(self.mappings)
            if http:
                server = HealthServer(http, self.board, self.metrics, self._status_page)
                server.start()
                where = {"event": "http_listening", "address": server.address}
                log.info("serving /healthz and /metrics on %s", server.address, extra=where)
        except (ConfigError, ValueError, OSError) as exc:
            log.error("cannot start: %s", describe_error(exc), extra={"event": "config_error"})
            return 1 if isinstance(exc, OSError) else 2  # a busy port may free up: retry
        self._pending, failed = self._load()
        self.board.problems = [p for ps in failed.values() for p in ps]
        self.metrics.config_problems.set(len(failed))
        for p in self.board.problems:
            log.error("skipped: %s", p, extra={"event": "config_error", "problem": p})
        self._settle()
        args = (self.signals, self.notifier, self.scheduler, self.board, self._reload, self._settle)
        threading.Thread(
            target=notify.supervise, args=(*args, self._hung), name="supervisor", daemon=True
        ).start()
        self.scheduler.start()  # blocks until the supervisor shuts it down
        code = self._drain()
        if server is not None:
            server.stop()
        return code

    def _hung(self) -> list[str]:
        """Teams whose tick has run past REVOX_SYNC_TICK_LIMIT (no progress to vouch for)."""
        now = time.monotonic()
        return sorted(
            s.name
            for s in self.slots.values()
            if s.tick_started is not None and now - s.tick_started > self.tick_limit
        )

    def _on_started(self, event: Any) -> None:
        names = sorted(s.name for s in self.slots.values() if not s.disabled)
        took = round(time.monotonic() - self._t0, 3)
        extra = {"event": "ready", "teams": names, "seconds": took}
        log.info("ready: %d team(s) scheduled in %ss", len(names), took, extra=extra)
        self.notifier.ready(notify.status_text(self.board))

    def _load(self) -> tuple[list[Entry], dict[Path, list[str]]]:
        """Every valid mapping with its trigger, and each bad file's problems."""
        try:
            good, failed = load_each(mapping_files(self.mappings), self.settings.data_dir)
        except ConfigError as exc:
            return [], {self.mappings.resolve(): list(exc.problems)}
        entries: list[Entry] = []
        for m in good:
            try:
                entries.append((m, *make_trigger(m.mapping.schedule)))
            except ValueError as exc:
                failed[m.path] = [f"{m.path}: {exc}"]
        return entries, failed

    def _reload(self) -> None:
        """SIGHUP: apply each file on its own. A good file is applied; a broken one leaves
        its team on its last good configuration (and says so in logs, /healthz, metrics)."""
        entries, failed = self._load()
        problems = [p for ps in failed.values() for p in ps]
        self.board.problems = problems
        self.metrics.config_problems.set(len(failed))
        wanted = {e[0].mapping.team: e for e in entries}
        held = {n for n, s in self.slots.items() if n not in wanted and s.loaded.path in failed}
        for name, slot in self.slots.items():
            self.board.config_problem(name, "; ".join(failed.get(slot.loaded.path, [])) or None)
        for p in problems:
            extra = {"event": "reload_rejected", "problem": p}
            log.error("reload: not applied, its team keeps its last good file: %s", p, extra=extra)
        kept = [n for n, s in self.slots.items() if n in wanted and wanted[n][0] == s.loaded]
        kept = [n for n in kept if not self.slots[n].disabled]  # a reload retries those
        for slot in [s for n, s in self.slots.items() if n not in kept and n not in held]:
            self._retire(slot)
        opened = sorted(set(wanted) - set(kept))
        waiting = [
            e for e in self._pending if e[0].path in failed and e[0].mapping.team not in wanted
        ]
        self._pending = [wanted[n] for n in opened] + waiting  # supersedes an earlier reload's
        self._settle()
        done = {"event": "reload", "opened": opened, "unchanged": kept, "held": sorted(held)}
        log.info("reloaded: (re)opened %s, %d unchanged", opened, len(kept), extra=done)
        self.metrics.reloads.labels("partial" if failed else "applied").inc()

    def _retire(self, slot: Slot) -> None:
        self.slots.pop(slot.name, None)
        slot.retired = True
        with suppress(JobLookupError):
            self.scheduler.remove_job(slot.job_id)
        self.board.remove(slot.name)
        self.metrics.forget(slot.name)
        self._retiring.append(slot)

    def _settle(self) -> None:
        """Close retired teams whose tick is over, then open pending ones in their place."""
        for slot in list(self._retiring):
            if slot.lock.acquire(blocking=False):
                self._close(slot)
                slot.lock.release()
                self._retiring.remove(slot)
        busy = {s.name for s in self._retiring}
        for entry in [e for e in self._pending if e[0].mapping.team not in busy]:
            self._pending.remove(entry)
            self._open(*entry)
        self.metrics.teams.set(sum(1 for s in self.slots.values() if not s.disabled))

    def _open(self, loaded: LoadedMapping, trigger: Any, base: float) -> None:
        name, sched = loaded.mapping.team, loaded.mapping.schedule
        slot = Slot(loaded, trigger, Backoff(base), self._locks.setdefault(name, threading.Lock()))
        self.slots[name] = slot
        described = sched.every or f"cron {sched.cron} {sched.timezone}"
        self.board.add(name, str(loaded.path), described)
        try:
            slot.team = open_team(loaded, self.state_dir, self.env)
        except (ConfigError, AuthError) as exc:
            return self._disable(slot, exc, {"team": name})
        except Exception as exc:  # e.g. the network while authenticating: the job retries
            log.warning("cannot open yet: %s", exc, extra={"team": name, "event": "open_failed"})
            self.board.failure(name, describe_error(exc))
        seconds = sched.seconds()
        opts: dict[str, Any] = {"max_instances": 1, "coalesce": True, "replace_existing": True}
        opts["misfire_grace_time"] = 300 if seconds is None else max(10, min(seconds, 600))
        if seconds is not None:  # interval teams start now, staggered by a few seconds
            stagger = timedelta(seconds=random.uniform(0, min(seconds * 0.1, 5.0)))
            opts["next_run_time"] = datetime.now(UTC) + stagger
        self.scheduler.add_job(lambda: self._job(slot), trigger, id=slot.job_id, **opts)
        extra = {"team": name, "event": "team_scheduled", "file": str(loaded.path)}
        log.info("scheduled %s (%s)", loaded.path, described, extra=extra)

    def _close(self, slot: Slot) -> None:
        team, slot.team = slot.team, None
        if team is not None:
            try:
                team.close()
            except Exception as exc:
                log.warning("closing: %s", exc, extra={"team": slot.name, "event": "close_failed"})

    def _disable(self, slot: Slot, exc: ConnectorError, ctx: dict[str, str]) -> None:
        """Config or credentials refused: no runs until a reload. Caller holds the lock."""
        msg = describe_error(exc)
        extra = {**ctx, "event": "team_disabled", "error_type": type(exc).__name__}
        text = "disabled until its mapping or credentials are fixed and the daemon reloaded"
        log.error("%s: %s", text, msg, extra=extra)
        self.metrics.team_state(slot.name, self.board.failure(slot.name, msg, disabled=True), None)
        slot.disabled = True
        with suppress(JobLookupError):
            self.scheduler.remove_job(slot.job_id)
        self._close(slot)

    def _job(self, slot: Slot) -> None:
        """One scheduled run (a worker thread): a tick unless stopping or backing off."""
        if self.signals.stop or slot.retired or not slot.lock.acquire(blocking=False):
            return
        try:
            idle = self.signals.stop or slot.retired or slot.disabled
            if not idle and slot.backoff.ready(time.monotonic()):
                self._tick(slot)
        finally:
            slot.lock.release()

    def _tick(self, slot: Slot) -> None:
        name, service = slot.name, slot.loaded.mapping.source.type
        slot.tick_id, slot.tick_started = secrets.token_hex(4), time.monotonic()
        ctx = {"team": name, "tick": slot.tick_id}
        summary, error = None, None
        try:
            # per tick, so an operator's `sync --once` can run between two ticks; a team
            # another process holds is skipped (TeamBusy: logged, in /healthz, backoff)
            with TeamLock(self.state_dir, name, "revox-sync run"):
                if slot.team is None:
                    slot.team = open_team(slot.loaded, self.state_dir, self.env)
                with self.metrics.counting_requests(name, slot.team.engine, service):
                    summary = slot.team.engine.tick()
        except Exception as exc:
            error = exc
        seconds, slot.tick_started = time.monotonic() - slot.tick_started, None
        if isinstance(error, ConfigError | AuthError):
            self.metrics.observe_tick(name, "disabled", seconds, None)
            return self._disable(slot, error, ctx)
        if summary is not None:
            errors = summary.errors
        else:  # the tick raised: one error for the whole tick
            err = error or RuntimeError()
            retry = isinstance(err, RetryableError) or not isinstance(err, ConnectorError)
            status = getattr(err, "status", None)
            errors = [TickError("tick", service, describe_error(err), status, retry)]
        line = summary.line() if summary else f"{name}: tick failed"
        failures, delay = self.board.record(name, line, errors, slot.backoff)
        if delay is not None:  # space the next runs out, not just skip them
            with suppress(JobLookupError):
                later = datetime.now(UTC) + timedelta(seconds=delay)
                self.scheduler.modify_job(slot.job_id, next_run_time=later)
        self.metrics.observe_outcome(name, seconds, summary, errors, failures)
        log_tick(log, ctx, line, seconds, summary, errors, delay, error)

    def _drain(self) -> int:
        """Wait (bounded) for running ticks, close every team: 0, or 1 when cut short."""
        deadline = (self.signals.stop_at or time.monotonic()) + self.stop_timeout
        slots = [*self.slots.values(), *self._retiring]
        taken = notify.acquire_all([s.lock for s in slots], deadline, self.signals, self.notifier)
        for slot in (s for s, ok in zip(slots, taken, strict=True) if ok):
            self._close(slot)
            slot.lock.release()
        cut = [s for s, ok in zip(slots, taken, strict=True) if not ok]
        took = round(time.monotonic() - (self.signals.stop_at or self._t0), 3)
        if not cut:
            log.info("stopped in %ss", took, extra={"event": "stopped", "seconds": took})
            return 0
        for s in cut:
            ran = round(time.monotonic() - (s.tick_started or time.monotonic()), 1)
            extra = {"team": s.name, "tick": s.tick_id, "event": "stop_timeout", "ran": ran}
            text = "stop timeout: tick cut short; the next start resumes from its last commit"
            log.error(text, extra=extra)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(1)  # a worker stuck in I/O cannot be interrupted, and exit would wait for it


def run_daemon(
    mappings: Path,
    state_dir: Path,
    env: Mapping[str, str],
    *,
    http: str | None = None,
    log_format: str = "json",
) -> int:
    """`revox-sync run`: the long-running daemon; returns the exit code (0 after SIGTERM)."""
    env = notify.with_credentials(env)
    redactor = setup_logging(log_format, env)
    try:
        return Daemon(mappings, state_dir, env, redactor).run(http)
    except Exception:
        log.critical("the daemon failed", exc_info=True, extra={"event": "crash"})
        return 1
