"""Each team's run state and health, for /healthz and systemd's STATUS line; the HTTP server.

The board is written by tick threads and read by HTTP threads and the supervisor, so every
access takes its lock. /healthz answers 200 while the scheduler runs and no team has been
failing for longer than a threshold (15 min by default), 503 otherwise: one failed tick is
normal life for a connector over three remote APIs; a team stuck for a quarter of an hour
needs a human. Texts shown here come from error messages, so they pass the log redactor.

The server is the stdlib ``ThreadingHTTPServer`` in a daemon thread: two read-only
endpoints do not justify a web framework, and a stuck scrape must never delay shutdown.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from connector.logs import Redactor
from connector.metrics import Metrics
from connector.summary import TickError

if TYPE_CHECKING:
    from connector.config import LoadedMapping
    from connector.runtime import Team

DEFAULT_UNHEALTHY_AFTER = 900.0
BACKOFF_CAP = 600.0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass
class Backoff:
    """A failing team's next runs spaced base*2, base*4, ... up to ``cap``; reset on success.

    ``base`` is the team's own period, so a 30 s team retries after 1, 2, 4 ... minutes and
    an hourly team is simply not retried early; the cap keeps a recovered API from waiting
    long for us.
    """

    base: float
    cap: float = BACKOFF_CAP
    failures: int = 0
    not_before: float = 0.0

    def failed(self, now: float) -> float:
        """Count a failure; return the delay before the next attempt."""
        self.failures += 1
        delay = min(max(self.cap, self.base), self.base * 2.0 ** min(self.failures, 32))
        self.not_before = now + delay
        return delay

    def succeeded(self) -> None:
        """Back to the plain schedule."""
        self.failures, self.not_before = 0, 0.0

    def ready(self, now: float) -> bool:
        """Whether a run may start now (a quarter second early counts as on time)."""
        return now + 0.25 >= self.not_before


@dataclass(eq=False)
class Slot:
    """One team in the schedule: mapping, open Team (None while closed), lock, backoff.

    The lock is held for a whole tick and shared by team name across reloads: an old and a
    new instance of one team never tick at once, and only its holder may close a team.
    """

    loaded: LoadedMapping
    trigger: Any
    backoff: Backoff
    lock: threading.Lock
    team: Team | None = None
    disabled: bool = False  # config or credentials refused: no runs until a reload
    retired: bool = False  # left the configuration: closed once its tick is over
    tick_started: float | None = None
    tick_id: str = ""

    @property
    def name(self) -> str:
        return self.loaded.mapping.team

    @property
    def job_id(self) -> str:
        return f"team:{self.name}"


@dataclass
class TeamHealth:
    """One team as /healthz shows it."""

    team: str
    file: str
    schedule: str
    state: str = "starting"  # starting | ok | failing | disabled
    consecutive_failures: int = 0
    failing_since: float | None = None
    last_tick_at: float | None = None
    last_success_at: float | None = None
    last_summary: str | None = None
    last_error: str | None = None
    config_problem: str | None = None  # its file is broken: it runs its last good mapping


class Board:
    """Per-team health, shared by tick threads, the HTTP server and the supervisor."""

    def __init__(
        self,
        redactor: Redactor,
        unhealthy_after: float = DEFAULT_UNHEALTHY_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redactor = redactor
        self.unhealthy_after = unhealthy_after
        self.clock = clock
        self.scheduler_running: Callable[[], bool] = lambda: False
        self.problems: list[str] = []  # mapping files that could not be loaded
        self._teams: dict[str, TeamHealth] = {}
        self._last: TeamHealth | None = None
        self._lock = threading.Lock()

    def add(self, team: str, file: str, schedule: str) -> None:
        """A team (re)entered the configuration."""
        with self._lock:
            self._teams[team] = TeamHealth(team, file, schedule)

    def remove(self, team: str) -> None:
        """A team left the configuration."""
        with self._lock:
            self._teams.pop(team, None)

    def config_problem(self, team: str, problem: str | None) -> None:
        """A team's file failed to reload (it keeps its last good mapping), or is fine."""
        with self._lock:
            t = self._teams.get(team)
            if t is not None:
                t.config_problem = problem

    def success(self, team: str, summary: str) -> None:
        """A tick ended without errors."""
        now = self.clock()
        with self._lock:
            t = self._teams.get(team)
            if t is not None:
                t.state, t.consecutive_failures, t.failing_since = "ok", 0, None
                t.last_tick_at = t.last_success_at = now
                t.last_summary, t.last_error = summary, None
                self._last = t

    def failure(
        self, team: str, error: str, *, summary: str | None = None, disabled: bool = False
    ) -> int:
        """A tick (or opening the team) failed; returns the failure streak."""
        now = self.clock()
        with self._lock:
            t = self._teams.get(team)
            if t is None:
                return 0
            t.state = "disabled" if disabled else "failing"
            t.consecutive_failures += 1
            t.failing_since = t.failing_since or now
            t.last_tick_at, t.last_error = now, error
            t.last_summary = summary or t.last_summary
            self._last = t
            return t.consecutive_failures

    def record(
        self, team: str, line: str, errors: Sequence[TickError], backoff: Backoff
    ) -> tuple[int, float | None]:
        """One tick's outcome: (failure streak, seconds before the next attempt or None)."""
        if not errors:
            backoff.succeeded()
            self.success(team, line)
            return 0, None
        delay = backoff.failed(time.monotonic())
        return self.failure(team, "; ".join(e.message for e in errors), summary=line), delay

    def last(self) -> TeamHealth | None:
        """The team that ticked last."""
        with self._lock:
            return None if self._last is None else TeamHealth(**asdict(self._last))

    def teams(self) -> list[TeamHealth]:
        """A copy of every team's health."""
        with self._lock:
            return [TeamHealth(**asdict(t)) for t in self._teams.values()]

    def report(self) -> tuple[int, dict[str, Any]]:
        """The /healthz status code and JSON body."""
        now, running = self.clock(), self.scheduler_running()
        teams, stuck = [], []
        for t in self.teams():
            body: dict[str, Any] = asdict(t)
            for key in ("failing_since", "last_tick_at", "last_success_at"):
                body[key] = _iso(body[key])
            teams.append(body)
            if t.failing_since is not None and now - t.failing_since > self.unhealthy_after:
                stuck.append(t.team)
        healthy = running and not stuck
        body = {
            "status": "ok" if healthy else "unhealthy",
            "scheduler": "running" if running else "stopped",
            "failing_longer_than_threshold": stuck,
            "unhealthy_after_seconds": self.unhealthy_after,
            "teams": teams,
            "config_problems": list(self.problems),
        }
        return (200 if healthy else 503), self.redactor.redact_obj(body)


def parse_address(text: str) -> tuple[str, int]:
    """'127.0.0.1:9464', '[::1]:9464' or ':9464' (loopback) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r}: write --http HOST:PORT, e.g. 127.0.0.1:9464")
    return host.strip("[]") or "127.0.0.1", int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    page: Callable[[], str] | None = None

    def __init__(self, address: tuple[str, int], board: Board, metrics: Metrics) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.board, self.metrics = board, metrics
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            code, body = self.server.board.report()
            self._send(code, json.dumps(body, indent=1).encode(), "application/json")
        elif path == "/metrics":
            payload, ctype = self.server.metrics.render()
            self._send(200, payload, ctype)
        elif path == "/" and self.server.page is not None:
            self._send(200, self.server.page().encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b'{"error": "try /, /healthz or /metrics"}\n', "application/json")

    def _send(self, code: int, payload: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)


class HealthServer:
    """/healthz and /metrics on one address, served from a daemon thread."""

    def __init__(
        self, address: str, board: Board, metrics: Metrics, page: Callable[[], str] | None = None
    ) -> None:
        self._server = _Server(parse_address(address), board, metrics)
        self._server.page = page  # the status page at / (status_page.py)
        self.address = f"{address.rpartition(':')[0] or '127.0.0.1'}:{self.port}"
        self._thread = threading.Thread(  # a short poll: shutdown() waits for one
            target=self._server.serve_forever, args=(0.1,), name="health-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
