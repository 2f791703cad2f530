"""The HTTP harness every emulator shares: a loopback server, a request log, scripted faults.

An emulator subclasses ``HttpEmulator`` and implements ``serve(exchange)``; the harness
starts a ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread (port 0 = any free port),
logs each request as a ``LoggedRequest`` before the emulator sees it, and keeps the list of
``Fault`` objects that ``add_fault`` scripts. ``take_fault`` picks the first live fault for a
request; ``Exchange.drop`` plays the ones that answer nothing (timeout, reset).

    with SheetsEmulator() as emu:        # start() ... stop()
        emu.add_fault("GET", r"/values/", "timeout", delay=1.0)
        ...
        emu.calls("GET", r"/values/")    # the request log, filtered
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import urllib.parse
from collections.abc import Container
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# faults every emulator plays the same way; an emulator may add its own kinds
DROP_KINDS = ("timeout", "reset")


@dataclass
class Fault:
    """A scripted failure for requests whose method and path match.

    kind: "status" (answer ``status``: the emulator's error shape, with ``error_code`` and
    ``message`` when given, or ``body`` verbatim as text/html), "timeout" (hold ``delay``
    seconds, then drop the connection), "reset" (drop it with a TCP reset), or a kind of one
    emulator (Salesforce: "expire_session", "record_error" with ``record_id``, ``status_code``
    and ``fields``). ``apply``: a dropped request is still carried out (the answer is lost,
    not the write). ``times`` matching requests fail (None: every one), after the first
    ``after`` went through; ``seen`` and ``hits`` count matches and failures.
    """

    method: str
    path: re.Pattern[str]
    kind: str = "status"
    times: int | None = 1
    after: int = 0
    status: int = 503
    error_code: str | None = None
    message: str | None = None
    body: str | None = None
    delay: float = 1.0
    apply: bool = False
    record_id: str | None = None
    status_code: str = "UNABLE_TO_LOCK_ROW"
    fields: list[str] = field(default_factory=list)
    seen: int = 0
    hits: int = 0

    def take(self, method: str, target: str) -> bool:
        """Whether this fault fires for the request (and count it if so)."""
        if self.method not in ("*", method) or not self.path.search(target):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        self.hits += 1
        return True


@dataclass
class LoggedRequest:
    """One request as the emulator saw it (headers with lower-case names)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # the answer's status; -1 when the connection was dropped

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.query_string, keep_blank_values=True)

    @property
    def authorization(self) -> bool:
        return bool(self.headers.get("authorization"))

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Exchange(BaseHTTPRequestHandler):
    """One request and its answer; the harness reads the request before ``serve``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms stalls
    owner: HttpEmulator
    entry: LoggedRequest

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.entry = LoggedRequest(self.command, parts.path, parts.query, headers, body)
        with self.owner.lock:
            self.owner.requests.append(self.entry)
        self.owner.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.entry.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def drop(self, fault: Fault) -> None:
        """Answer nothing: hold ``fault.delay`` s for a timeout, then reset the connection."""
        self.entry.status = -1
        self.close_connection = True
        if fault.kind == "timeout":
            self.owner.stopping.wait(fault.delay)
        linger = struct.pack("ii", 1, 0)  # close() then sends RST instead of FIN
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the emulator's ``requests`` instead."""


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped client connections are expected (faults, timeouts): stay quiet."""


class HttpEmulator:
    """Base of the emulators: lifecycle on 127.0.0.1, the request log and the faults."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("Handler", (Exchange,), {"owner": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        self.stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- serving ---------------------------------------------------------------------

    def serve(self, exchange: Exchange) -> None:
        """Answer one logged request (``exchange.reply``) or drop it (``exchange.drop``)."""
        raise NotImplementedError

    # -- faults and the request log ----------------------------------------------------

    def script_fault(self, method: str, path_regex: str, kind: str, **options: Any) -> Fault:
        fault = Fault(method.upper(), re.compile(path_regex), kind, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(
        self, method: str, target: str, kinds: Container[str] | None = None
    ) -> Fault | None:
        """The first fault (of ``kinds``, default any) that fires for this request, if any."""
        with self.lock:
            return next(
                (
                    f
                    for f in self.faults
                    if (kinds is None or f.kind in kinds) and f.take(method, target)
                ),
                None,
            )

    def calls(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests filtered by method and a regex searched in the path."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or re.search(path, r.path))
            ]

    def count(self, method: str, path_regex: str) -> int:
        """How many logged requests match (method, regex searched in the path)."""
        return len(self.calls(method, path_regex))

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()
