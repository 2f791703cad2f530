"""A local simulator of the Revox API on 127.0.0.1, with scripted faults.

``revox-sync demo`` talks to it and the tests use it as Revox. It serves the
endpoints of docs/revox-api.md over plain HTTP from a background thread; calls
progress through their statuses on a simulated clock to outcomes picked by
hashing each phone number (see ``sandbox_model``). ``Fault`` scripts errors,
dropped connections and hangs. ``/_sandbox/*`` (no auth) lets another process
inspect a running sandbox or add faults to it.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

from connector.sandbox_model import (
    Conflict,
    Generation,
    RevoxModel,
    UnknownCampaign,
    ValidationFailed,
    parse_iso,
    scenario_for,
    validate_create,
)

__all__ = ["Fault", "Sandbox", "scenario_for"]

FaultKind = Literal["status", "drop_after_apply", "drop_before_apply", "hang", "slow", "malformed"]
_ASSISTANT = re.compile(r"/assistants/([^/]+)")
_ROUTE = re.compile(r"/campaigns(?:/([^/]+)(?:/(rows|launch|launch-calls|cancel))?)?")


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


@dataclass(frozen=True)
class _Answer:
    status: int
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, obj: object, headers: tuple[tuple[str, str], ...] = ()) -> _Answer:
    return _Answer(status, json.dumps(obj).encode(), headers)


def _error(status: int, code: str, message: str, **extra: object) -> _Answer:
    return _json(status, {"error": code, "message": message, **extra})


class _BadJson(Exception):
    pass


def _parse_json(raw: bytes, *, empty: object = None) -> object:
    if not raw.strip() and empty is not None:
        return empty
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadJson(f"malformed JSON body: {exc}") from exc


def _int_param(query: dict[str, list[str]], name: str, default: int, high: int) -> int:
    text = query.get(name, [str(default)])[-1]
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise ValidationFailed([(name, f"expected an integer from 1 to {high}")])
    return int(text)


class Sandbox:
    """A Revox API simulator serving on ``url`` once started; use as a context manager."""

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
    ) -> None:
        self.api_key = api_key
        self.paged_rows = paged_rows
        # the account's assistants for GET /assistants/{id}; None: every id exists
        self.assistants: set[str] | None = None
        self.url = ""
        self.requests: list[tuple[str, str, int]] = []
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
        self._to_sim: Callable[[float], float] = lambda epoch: sim0 + epoch - wall0
        self._model = RevoxModel(
            generation=generation,
            seed=seed,
            scenarios=scenarios,
            to_wall=lambda t: wall0 + t - sim0,
        )

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
        """Whether every call of every launched, non-cancelled campaign is final."""
        with self._lock:
            return self._model.all_final(self._now())

    # --- request handling (called from handler threads) ---

    def _answer(self, method: str, target: str, auth: str | None, raw: bytes) -> _Answer | None:
        """The answer to one request, or None to drop the connection unanswered."""
        path = urlsplit(target).path
        if path.startswith("/_sandbox/"):
            return self._control(method, path, raw)
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.times -= 1
        kind = fault.kind if fault else None
        answer: _Answer | None = None
        if fault is not None and kind == "status":
            headers = (("Retry-After", fault.retry_after),) if fault.retry_after else ()
            msg = f"injected fault: HTTP {fault.status}"
            answer = _json(fault.status, {"error": "sandbox_fault", "message": msg}, headers)
        else:
            if fault is not None and kind in ("hang", "slow"):
                self._stopping.wait(fault.delay)
            if kind not in ("hang", "drop_before_apply"):
                answer = self._api(method, target, auth, raw)
            if kind == "drop_after_apply":
                answer = None
            elif answer is not None and kind == "malformed":
                answer = _Answer(200, answer.payload[: len(answer.payload) // 2], answer.headers)
        with self._lock:
            self.requests.append((method, target, answer.status if answer else 0))
        return answer

    def _api(self, method: str, target: str, auth: str | None, raw: bytes) -> _Answer:
        expected = f"Bearer {self.api_key}".encode()
        if auth is None or not hmac.compare_digest(auth.encode(), expected):
            return _error(401, "unauthorized", "missing or invalid API key")
        split = urlsplit(target)
        if method == "GET" and split.path == "/auth-status":
            return _json(200, {"authenticated": True})  # a refused key got its 401 above
        assistant = _ASSISTANT.fullmatch(split.path)
        if method == "GET" and assistant is not None:
            aid = assistant.group(1)
            if self.assistants is not None and aid not in self.assistants:
                return _error(404, "not_found", f"assistant {aid} not found")
            return _json(200, {"id": aid, "name": "Sandbox assistant"})
        route = _ROUTE.fullmatch(split.path)
        if route is None:
            return _error(404, "not_found", f"no route for {split.path}")
        cid, action = route.groups()
        if cid is None:
            allowed: tuple[str, ...] = ("GET", "POST")
        else:
            allowed = ("GET",) if action in (None, "rows") else ("POST",)
        if method not in allowed:
            return _error(405, "method_not_allowed", f"{method} is not allowed on {split.path}")
        try:
            with self._lock:
                return self._route(method, cid, action, parse_qs(split.query), raw)
        except _BadJson as exc:
            return _error(400, "bad_request", str(exc))
        except ValidationFailed as exc:
            issues = [{"path": p, "message": m} for p, m in exc.issues]
            return _error(422, "validation_error", str(exc), issues=issues)
        except UnknownCampaign:
            return _error(404, "not_found", f"campaign {cid} not found")
        except Conflict as exc:
            return _error(409, "conflict", str(exc))

    def _route(
        self, method: str, cid: str | None, action: str | None, query: dict[str, list[str]],
        raw: bytes,
    ) -> _Answer:  # fmt: skip
        now, model = self._now(), self._model
        if cid is None and method == "GET":
            return _json(200, {"campaigns": model.campaigns(now)})
        if cid is None:
            body = validate_create(_parse_json(raw))
            when = parse_iso(body["scheduled_at"]) if body.get("scheduled_at") else None
            not_before = self._to_sim(when.timestamp()) if when else None
            return _json(200, {"campaign": model.create(body, now, not_before)})
        if action is None:
            return _json(200, {"campaign": model.campaign(cid, now)})
        if action == "rows":
            rows = model.rows(cid, now)
            if not self.paged_rows:
                return _json(200, {"rows": rows})
            page, size = (
                _int_param(query, "page", 1, 10**9),
                _int_param(query, "page_size", 50, 200),
            )
            chunk = rows[(page - 1) * size : page * size]
            return _json(200, {"page": page, "page_size": size, "total": len(rows), "rows": chunk})
        payload = _parse_json(raw, empty={})
        if action == "launch-calls":
            _check_launch_calls(payload)
        if action == "cancel":
            model.cancel(cid, now)
        else:
            model.launch(cid, now)
        return _json(200, {"success": True})

    def _control(self, method: str, path: str, raw: bytes) -> _Answer:
        if method == "GET" and path == "/_sandbox/contacts":
            return _json(200, {"campaigns": self.campaign_contacts()})
        if method == "GET" and path == "/_sandbox/state":
            with self._lock:
                now = self._now()
                state = {
                    "all_final": self._model.all_final(now),
                    "campaigns": len(self._model.contacts()),
                    "calls": self._model.call_count(now),
                }
            return _json(200, state)
        if method == "POST" and path == "/_sandbox/faults":
            try:
                body = _parse_json(raw)
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object of Fault fields")
                self.add_fault(Fault(**body))
            except _BadJson as exc:
                return _error(400, "bad_request", str(exc))
            except (TypeError, ValueError) as exc:
                return _error(422, "validation_error", str(exc))
            return _json(200, {"success": True})
        return _error(404, "not_found", f"no sandbox route {method} {path}")


def _check_launch_calls(body: object) -> None:
    issues = []
    if not isinstance(body, dict):
        issues.append(("body", "expected a JSON object"))
    else:
        if not isinstance(body.get("mode"), str):
            issues.append(("mode", "required string, e.g. 'ai_first'"))
        if not isinstance(body.get("selection"), dict):
            issues.append(("selection", "required object"))
    if issues:
        raise ValidationFailed(issues)


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
