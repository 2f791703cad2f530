"""The daemon's conversation with its service manager: sd_notify out; signals and
credentials in; the supervisor loop that turns one into the other.

systemd's notify protocol needs no dependency. A unit with ``Type=notify`` gets
``$NOTIFY_SOCKET``: a Unix datagram socket (abstract namespace when the path starts with
'@') to which the service sends newline-separated ``KEY=value`` assignments: ``READY=1``
once it serves, ``WATCHDOG=1`` at least every ``$WATCHDOG_USEC`` microseconds (or systemd
kills and restarts it), ``STATUS=...`` for ``systemctl status``, ``STOPPING=1`` when it
begins to shut down. Without ``$NOTIFY_SOCKET`` (a terminal, a container) every call is a
no-op. A failed send is logged once and never raised: telling systemd is never worth
stopping a tick for.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.health import Board

log = logging.getLogger(__name__)
_MAX_STATUS = 400  # systemctl shows one line; keep the datagram far below any size limit
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def with_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """The environment plus systemd credentials named like variables (LoadCredential=).

    ``LoadCredential=REVOX_API_KEY:/etc/revox-sync/credentials/revox-api-key`` puts the
    file in ``$CREDENTIALS_DIRECTORY``, readable by this service only; its content becomes
    REVOX_API_KEY unless the environment already sets it. Other names (salesforce.key)
    stay files, for variables such as SALESFORCE_PRIVATE_KEY_FILE=%d/salesforce.key.
    """
    out = dict(env)
    where = env.get("CREDENTIALS_DIRECTORY")
    if not where or not Path(where).is_dir():
        return out
    for item in sorted(Path(where).iterdir()):
        if _ENV_NAME.match(item.name) and not out.get(item.name) and item.is_file():
            try:
                out[item.name] = item.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("credential %s unreadable: %s", item.name, exc.__class__.__name__)
    return out


def socket_address(value: str) -> str | bytes:
    """The address to send to: '@name' is the abstract socket '\\0name'."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None when not asked.

    As sd_watchdog_enabled(3): WATCHDOG_PID, when set, must be our pid.
    """
    usec = env.get("WATCHDOG_USEC", "").strip()
    owner = env.get("WATCHDOG_PID", "").strip()
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 1e6 / 2


class Notifier:
    """Sends state changes to systemd; every method is a no-op without $NOTIFY_SOCKET."""

    def __init__(self, env: Mapping[str, str]) -> None:
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = socket_address(raw) if raw else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # the main thread, the supervisor and jobs all send
        self._warned = False
        self.last_status = ""
        self.interval = watchdog_interval(env)  # None: systemd does not watch us
        self._next_ping = 0.0

    @property
    def enabled(self) -> bool:
        """Whether a notify socket was given."""
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send one datagram of KEY=value lines; True when it was sent."""
        if self.address is None or not assignments:
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.setblocking(False)  # never stall a tick on a full socket
                self._sock.sendto(data, self.address)
                return True
            except OSError as exc:
                if not self._warned:
                    self._warned = True
                    log.warning("cannot notify systemd: %s", exc, extra={"event": "notify_failed"})
                return False

    def ready(self, status: str) -> bool:
        """READY=1 with the first status line."""
        return self.send("READY=1", self._status(status))

    def watchdog(self) -> bool:
        """One keep-alive ping."""
        return self.send("WATCHDOG=1")

    def watchdog_due(self, now: float) -> bool:
        """Ping if the watchdog is on and half its timeout has passed since the last ping."""
        if self.interval is None or now < self._next_ping:
            return False
        self._next_ping = now + self.interval
        return self.watchdog()

    def status(self, text: str) -> bool:
        """STATUS=text, sent only when it changed."""
        before = self.last_status
        line = self._status(text)
        return line != before and self.send(line)

    def stopping(self, status: str = "stopping") -> bool:
        """STOPPING=1: systemd now waits for the exit (up to TimeoutStopSec)."""
        return self.send("STOPPING=1", self._status(status))

    def _status(self, text: str) -> str:
        one_line = " ".join(text.split())
        if len(one_line) > _MAX_STATUS:
            one_line = one_line[: _MAX_STATUS - 3] + "..."
        self.last_status = f"STATUS={one_line}"
        return self.last_status

    def close(self) -> None:
        """Release the socket (sending again reopens it)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class Signals:
    """SIGTERM/SIGINT (stop; a second one: stop now) and SIGHUP (reload), kept as flags.

    A handler runs in the main thread between two bytecodes, maybe while that thread holds
    a lock, so it only sets flags and ``wake`` (an Event that the main thread never waits
    on, so its lock is free). The supervisor thread waits on ``wake`` and does the work.
    """

    def __init__(self) -> None:
        self.stop = self.force = self.reload = False
        self.stop_at = 0.0  # time.monotonic() of the first stop request
        self.wake = threading.Event()

    def install(self) -> None:
        """Handle SIGTERM, SIGINT and SIGHUP (call from the main thread)."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.handle)

    def handle(self, signum: int, frame: FrameType | None = None) -> None:
        """The handler itself: flags only."""
        if signum == signal.SIGHUP:
            self.reload = True
        else:
            self.force = self.stop
            self.stop_at = self.stop_at or time.monotonic()
            self.stop = True
        self.wake.set()

    def take_reload(self) -> bool:
        """Whether a reload was asked for since the last call."""
        asked, self.reload = self.reload, False
        return asked


def status_text(board: Board) -> str:
    """The one STATUS= line: teams, failing ones, the last tick and its error (redacted)."""
    teams = board.teams()
    ok = sum(1 for t in teams if t.state == "ok")
    failing = [t.team for t in teams if t.state in ("failing", "disabled")]
    text = f"{len(teams)} team(s), {ok} ok"
    if failing:
        text += f", failing: {', '.join(failing)}"
    if board.problems:
        text += f", {len(board.problems)} config problem(s)"
    last = board.last()
    if last is not None and last.last_tick_at is not None:
        at = datetime.fromtimestamp(last.last_tick_at, UTC).strftime("%H:%M:%SZ")
        text += f"; last tick {at} {last.last_summary or last.team}"
        text += f" error: {last.last_error}" if last.last_error else ""
    return board.redactor.redact(text)


def supervise(
    signals: Signals,
    notifier: Notifier,
    scheduler: Any,
    board: Board,
    reload: Callable[[], None],
    idle: Callable[[], None],
    hung: Callable[[], list[str]] = lambda: [],
) -> None:
    """The supervisor thread's loop: act on signals, ping the watchdog, keep STATUS current.

    On a stop signal: STOPPING=1, then ``scheduler.shutdown(wait=False)`` and the loop
    ends (the main thread, back from ``scheduler.start()``, drains). The watchdog is pinged
    only while the scheduler and the main thread are alive and no tick has run past its
    limit (``hung`` names such teams), so a dead or stuck daemon gets restarted by systemd.
    """
    step = min(0.5, notifier.interval / 2) if notifier.interval else 0.5
    said: list[str] = []
    while True:
        signals.wake.wait(step)
        signals.wake.clear()
        try:
            if not scheduler.running:
                continue  # not started yet
            if signals.stop:
                log.info("stopping: letting running ticks end", extra={"event": "stopping"})
                notifier.stopping("stopping: letting running ticks end")
                scheduler.shutdown(wait=False)  # start() returns in the main thread
                return
            if signals.take_reload():
                reload()
            idle()
            stuck = hung()
            if stuck and stuck != said:
                log.error(
                    "tick of %s running past its limit: watchdog pings stopped",
                    ", ".join(stuck),
                    extra={"event": "tick_hung", "teams": stuck},
                )
            said = stuck
            if not stuck and threading.main_thread().is_alive():
                notifier.watchdog_due(time.monotonic())
            notifier.status(status_text(board))
        except Exception:
            log.exception("supervisor error", extra={"event": "crash"})


def acquire_all(
    locks: Sequence[threading.Lock], deadline: float, signals: Signals, notifier: Notifier
) -> list[bool]:
    """Take each lock, waiting until ``deadline`` at most (a second stop signal: not at all).

    The watchdog keeps being pinged meanwhile: a long drain is not a hang.
    """
    taken = []
    for lock in locks:
        while not (ok := lock.acquire(timeout=0.2)):
            notifier.watchdog_due(time.monotonic())
            if signals.force or time.monotonic() >= deadline:
                break
        taken.append(ok)
    return taken
