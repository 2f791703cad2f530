"""A local simulator of the Revox API on 127.0.0.1, with scripted faults.

``revox-sync demo`` talks to it and the tests use it as Revox. It serves the
endpoints connector/revox.py calls over plain HTTP from a background thread; calls
progress through their statuses on a simulated clock to outcomes picked by
hashing each phone number (see ``model``). ``Fault`` scripts errors,
dropped connections and hangs. ``/_sandbox/*`` (no auth) lets another process
inspect a running sandbox or add faults to it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from connector.revox_models import GENERATIONS, Generation
from connector.sandbox.model import RevoxModel
from connector.sandbox.routes import Answer, Api, BadJson, error, json_answer, parse_json
from connector.sandbox.shapes import scenario_for

__all__ = ["Fault", "Sandbox", "scenario_for"]

FaultKind = Literal["status", "drop_after_apply", "drop_before_apply", "hang", "slow", "malformed"]


@dataclass
class Fault:
    """A scripted fault for the next ``times`` requests whose method and path match."""

    method: str  # "POST", "GET", or "*"
    path: str  # regex, re.fullmatch against the path without query
    kind: FaultKind
    status: int = 503  # kind="status"
    retry_after: str | None = None  # Retry-After header, kind="status"
    delay: float = 0.0  # seconds, kinds "hang" and "slow"
    times: int = 1

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"kind must be one of {get_args(FaultKind)}, not {self.kind!r}")
        if not isinstance(self.method, str) or not isinstance(self.path, str):
            raise ValueError("method and path must be strings")
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if not isinstance(self.delay, int | float) or not isinstance(self.times, int):
            raise ValueError("delay must be a number and times an integer")
        if self.retry_after is not None and not isinstance(self.retry_after, str):
            raise ValueError("retry_after must be a string or null")
        try:
            re.compile(self.path)
        except re.error as exc:
            raise ValueError(f"path is not a valid regex: {exc}") from exc
        self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault is still armed for a request."""
        return (
            self.times > 0
            and self.method in ("*", method)
            and re.fullmatch(self.path, path) is not None
        )


class Sandbox:
    """A Revox API simulator serving on ``url`` once started; use as a context manager.

    ``generation`` picks the API it speaks ("seed": the seed page; "current": the
    official 0.5.0 client). ``assistants`` (None: every UUID exists), ``refused_numbers``,
    ``name_paths_in_errors``, ``max_name_length`` and ``campaigns_page_size`` make it
    behave like the less convenient servers a client must survive (see the README).
    """

    def __init__(
        self,
        api_key: str = "sandbox-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        clock: Callable[[], float] | None = None,
        generation: Generation = "seed",
        paged_rows: bool = True,
        seed: int = 0,
        scenarios: Mapping[str, str] | None = None,
        assistants: Collection[str] | None = None,
        refused_numbers: Collection[str] = (),
        name_paths_in_errors: bool = True,
        max_name_length: int | None = None,
        campaigns_page_size: int | None = None,
    ) -> None:
        if generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {GENERATIONS}, not {generation!r}")
        self.api_key = api_key
        self.url = ""
        # (method, path with query, HTTP status; 0 when the connection was dropped)
        self.requests: list[tuple[str, str, int]] = []
        # (method, path with query, parsed JSON body or None) of every POST, in order
        self.posted: list[tuple[str, str, object]] = []
        self._address = (host, port)
        self._speed = speed
        self._clock = clock or time.monotonic
        self._offset = 0.0
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        sim0, wall0 = self._now(), time.time()
        self._model = RevoxModel(
            generation=generation,
            seed=seed,
            scenarios=scenarios,
            to_wall=lambda t: wall0 + t - sim0,
            max_name_length=max_name_length,
        )
        self._api = Api(
            self._model,
            api_key,
            to_sim=lambda epoch: sim0 + epoch - wall0,
            assistants=assistants,
            refused_numbers=refused_numbers,
            name_paths_in_errors=name_paths_in_errors,
            campaigns_page_size=campaigns_page_size,
            paged_rows=paged_rows,
        )

    @property
    def generation(self) -> Generation:
        """The API generation this sandbox speaks."""
        return self._model.generation

    @property
    def paged_rows(self) -> bool:
        """Whether ``GET /campaigns/{id}/rows`` pages (seed: always; current: when asked)."""
        return self._api.paged_rows

    @paged_rows.setter
    def paged_rows(self, value: bool) -> None:
        self._api.paged_rows = value

    @property
    def assistants(self) -> frozenset[str] | None:
        """The assistant ids this account has (None: every well-formed UUID)."""
        return self._api.assistants

    @assistants.setter
    def assistants(self, value: Collection[str] | None) -> None:
        with self._lock:
            self._api.assistants = None if value is None else frozenset(value)

    @property
    def _model(self) -> RevoxModel:
        return self._api_model

    @_model.setter
    def _model(self, model: RevoxModel) -> None:
        """Swap the model (bench/workload.py memoises it); the routes follow."""
        self._api_model = model
        if hasattr(self, "_api"):
            self._api.model = model

    def _now(self) -> float:
        return self._clock() * self._speed + self._offset

    def start(self) -> str:
        """Serve from a daemon thread; return the base URL (no trailing slash)."""
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self._address, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
            self.url = f"http://{self._address[0]}:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        """Stop serving; hanging requests are released at once."""
        if self._server is not None:
            self._stopping.set()
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()

    def add_fault(self, fault: Fault) -> None:
        """Arm a fault; the first armed match is consumed before a request is handled."""
        with self._lock:
            self._faults.append(replace(fault))  # a copy: consuming it leaves the caller's alone

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def campaign_contacts(self) -> dict[str, list[str]]:
        """Campaign id -> its contacts' E.164 numbers, in order."""
        with self._lock:
            return self._model.contacts()

    def all_final(self) -> bool:
        """Whether every launched call of every non-cancelled campaign is final.

        In the current generation a campaign with no call launched counts as not
        final, so a client that never sends launch-calls waits instead of passing.
        """
        with self._lock:
            return self._model.all_final(self._now())

    # --- request handling (called from handler threads) ---

    def _answer(self, method: str, target: str, auth: str | None, raw: bytes) -> Answer | None:
        """The answer to one request, or None to drop the connection unanswered."""
        path = urlsplit(target).path
        if path.startswith("/_sandbox/"):
            return self._control(method, path, raw)
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.times -= 1
        kind = fault.kind if fault else None
        answer: Answer | None = None
        if fault is not None and kind == "status":
            headers = (("Retry-After", fault.retry_after),) if fault.retry_after else ()
            msg = f"injected fault: HTTP {fault.status}"
            answer = json_answer(fault.status, {"error": "sandbox_fault", "message": msg}, headers)
        else:
            if fault is not None and kind in ("hang", "slow"):
                self._stopping.wait(fault.delay)
            if kind not in ("hang", "drop_before_apply"):
                answer = self._api_answer(method, target, auth, raw)
            if kind == "drop_after_apply":
                answer = None
            elif answer is not None and kind == "malformed":
                answer = Answer(200, answer.payload[: len(answer.payload) // 2], answer.headers)
        with self._lock:
            self.requests.append((method, target, answer.status if answer else 0))
            if method == "POST":
                try:
                    body: object = json.loads(raw) if raw.strip() else None
                except (ValueError, UnicodeDecodeError):
                    body = raw.decode("utf-8", "replace")
                self.posted.append((method, target, body))
        return answer

    def _api_answer(self, method: str, target: str, auth: str | None, raw: bytes) -> Answer:
        if not self._api.authorised(auth):
            return error(401, "unauthorized", "missing or invalid API key")
        with self._lock:
            return self._api.handle(method, target, raw, self._now())

    def _control(self, method: str, path: str, raw: bytes) -> Answer:
        if method == "GET" and path == "/_sandbox/contacts":
            return json_answer(200, {"campaigns": self.campaign_contacts()})
        if method == "GET" and path == "/_sandbox/state":
            with self._lock:
                now = self._now()
                state = {
                    "all_final": self._model.all_final(now),
                    "campaigns": len(self._model.contacts()),
                    "calls": self._model.call_count(now),
                }
            return json_answer(200, state)
        if method == "POST" and path == "/_sandbox/faults":
            try:
                body = parse_json(raw)
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object of Fault fields")
                self.add_fault(Fault(**body))
            except BadJson as exc:
                return error(400, "bad_request", str(exc))
            except (TypeError, ValueError) as exc:
                return error(422, "validation_error", str(exc))
            return json_answer(200, {"success": True})
        return error(404, "not_found", f"no sandbox route {method} {path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed, timed out) is normal here: stay quiet."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and the demo own stderr."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = self.headers.get("Content-Length", "0")
        raw = self.rfile.read(int(length)) if length.isdigit() else b""
        answer = self.server.sandbox._answer(method, self.path, self.headers["Authorization"], raw)
        if answer is None:
            self.close_connection = True  # nothing written: the client sees a disconnect
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.payload)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away: the request still applied
