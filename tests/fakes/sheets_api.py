"""A local emulator of the Google Sheets API v4, for gspread + google-auth.

In-memory spreadsheets served by a stdlib ``ThreadingHTTPServer`` on 127.0.0.1,
following docs/emulators.md §A and §E: routes matched on the raw path (the
``:verb`` is split off before percent-decoding), A1 ranges with quoted sheet
names, render and input options, trailing-empty trimming, grid limits,
Google-shaped errors, per-minute quotas, an optional bearer check, an OAuth
``POST /token`` for the service-account JWT flow, scripted faults and a
request log that tests assert on.

    with SheetsEmulator() as emu:
        emu.add_spreadsheet("sheet-id-123", {"Leads": [["Name", "Phone"], ["Ann", 33612345678]]})
        ... SHEETS_EMULATOR_HOST=emu.host ...
        emu.grid("sheet-id-123", "Leads")

Not emulated: values:append/:clear, formatting, named ranges, notes, Drive, and
formulas beyond arithmetic.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import json
import operator
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_CELLS = 10_000_000
_EPOCH = dt.date(1899, 12, 30)

_R_GET = re.compile(r"^/v4/spreadsheets/([^/:]+)$")
_R_BATCH = re.compile(r"^/v4/spreadsheets/([^/:]+):batchUpdate$")
_R_VALUES_BATCH = re.compile(
    r"^/v4/spreadsheets/([^/:]+)/values:(batchGet|batchUpdate|batchClear)$"
)
_R_VALUES = re.compile(r"^/v4/spreadsheets/([^/:]+)/values/([^/]+?)(?::(append|clear))?$")
_ENDPOINT = re.compile(r"^([A-Za-z]{0,3})(\d*)$")
_NUMBER = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)?(\.\d+)?([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class Formula:
    """A formula cell (entered with USER_ENTERED and a leading ``=``)."""

    text: str


@dataclass(frozen=True)
class DateCell:
    """A date typed with USER_ENTERED: a serial number shown as ``text``."""

    serial: int
    text: str


class ApiError(Exception):
    """An error answer: ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass
class Fault:
    """A scripted failure for requests whose method and raw path match."""

    method: str
    path_regex: str
    kind: str
    status: int
    times: int
    delay: float
    body: str | None


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    body: Any
    authorization: bool


@dataclass
class Sheet:
    sheet_id: int
    title: str
    index: int
    row_count: int
    col_count: int
    rows: list[list[Any]] = field(default_factory=list)

    def get(self, row: int, col: int) -> Any:
        """Stored value at 1-based (row, col); None when empty."""
        if row <= len(self.rows) and col <= len(self.rows[row - 1]):
            return self.rows[row - 1][col - 1]
        return None

    def put(self, row: int, col: int, value: Any) -> None:
        while len(self.rows) < row:
            self.rows.append([])
        cells = self.rows[row - 1]
        if len(cells) < col:
            if value is None:
                return
            cells.extend([None] * (col - len(cells)))
        cells[col - 1] = value

    def copy(self) -> Sheet:
        return Sheet(
            self.sheet_id,
            self.title,
            self.index,
            self.row_count,
            self.col_count,
            [list(r) for r in self.rows],
        )

    def properties(self) -> dict[str, Any]:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.col_count},
        }


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: list[Sheet]
    shared_with: set[str] | None = None

    def sheet(self, title: str | None) -> Sheet:
        if title is None:
            return min(self.sheets, key=lambda s: s.index)
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        raise KeyError(title)


@dataclass(frozen=True)
class _Range:
    sheet: Sheet
    r0: int
    c0: int
    r1: int
    c1: int
    single: bool

    def echo(self) -> str:
        start = f"{col_letters(self.c0)}{self.r0}"
        cells = start if self.single else f"{start}:{col_letters(self.c1)}{self.r1}"
        return f"{quote_title(self.sheet.title)}!{cells}"


# -- A1 notation ---------------------------------------------------------------


def col_letters(col: int) -> str:
    letters = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_number(letters: str) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - 64
    return number


def quote_title(title: str) -> str:
    if _PLAIN_TITLE.match(title) and not re.match(r"^[A-Za-z]{1,3}\d+$", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_a1(a1: str) -> tuple[str | None, str | None]:
    """``'It''s'!A1:B2`` -> ("It's", "A1:B2"); a bare name or bare cells -> one side None."""
    if a1.startswith("'"):
        name, i = [], 1
        while i < len(a1):
            if a1[i] == "'":
                if a1[i + 1 : i + 2] == "'":
                    name.append("'")
                    i += 2
                    continue
                rest = a1[i + 1 :]
                if not rest:
                    return "".join(name), None
                if rest.startswith("!") and len(rest) > 1:
                    return "".join(name), rest[1:]
                break
            name.append(a1[i])
            i += 1
        raise ApiError(400, f"Unable to parse range: {a1}")
    if "!" in a1:
        title, _, cells = a1.rpartition("!")
        return title, cells
    parts = a1.split(":")
    cell_like = len(parts) <= 2 and all(_ENDPOINT.match(p) and p for p in parts)
    if cell_like and (len(parts) == 2 or (re.search(r"[A-Za-z]", a1) and re.search(r"\d", a1))):
        return None, a1
    return a1, None


def _parse_range(book: Spreadsheet, a1: str) -> _Range:
    title, cells = split_a1(a1)
    try:
        sheet = book.sheet(title)
    except KeyError:
        raise ApiError(400, f"Unable to parse range: {a1}") from None
    if cells is None:
        return _Range(sheet, 1, 1, sheet.row_count, sheet.col_count, False)
    parts = cells.split(":")
    matches = [_ENDPOINT.match(p) for p in parts]
    if len(parts) > 2 or not all(m and p for m, p in zip(matches, parts, strict=True)):
        raise ApiError(400, f"Unable to parse range: {a1}")
    (c0s, r0s) = matches[0].groups()  # type: ignore[union-attr]
    if len(parts) == 1:
        if not (c0s and r0s):
            raise ApiError(400, f"Unable to parse range: {a1}")
        r, c = int(r0s), col_number(c0s)
        return _check_grid(_Range(sheet, r, c, r, c, True), a1)
    (c1s, r1s) = matches[1].groups()  # type: ignore[union-attr]
    r0 = int(r0s) if r0s else 1
    c0 = col_number(c0s) if c0s else 1
    r1 = int(r1s) if r1s else sheet.row_count
    c1 = col_number(c1s) if c1s else sheet.col_count
    r0, r1 = min(r0, r1), max(r0, r1)
    c0, c1 = min(c0, c1), max(c0, c1)
    return _check_grid(_Range(sheet, r0, c0, r1, c1, False), a1)


def _check_grid(rng: _Range, a1: str) -> _Range:
    sheet = rng.sheet
    if rng.r1 > sheet.row_count or rng.c1 > sheet.col_count or rng.r0 < 1 or rng.c0 < 1:
        raise ApiError(
            400,
            f"Range ({a1}) exceeds grid limits. Max rows: {sheet.row_count}, "
            f"max columns: {sheet.col_count}",
        )
    return rng


# -- values ----------------------------------------------------------------------


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g").upper()


_OPS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(text: str) -> Any:
    """Arithmetic formulas only (``=4/2``); anything else shows ``#ERROR!``."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))  # type: ignore[no-any-return]
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))  # type: ignore[no-any-return]
        raise ValueError(text)

    try:
        result = walk(ast.parse(text.lstrip("=+"), mode="eval").body)
    except ZeroDivisionError:
        return "#DIV/0!"
    except (ValueError, SyntaxError):
        return "#ERROR!"
    return int(result) if float(result).is_integer() else result


def render(value: Any, value_option: str, date_option: str) -> Any:
    """A stored value as values.get returns it."""
    if value is None:
        return ""
    if isinstance(value, Formula):
        if value_option == "FORMULA":
            return value.text
        value = _evaluate(value.text)
    if isinstance(value, DateCell):
        if value_option == "FORMATTED_VALUE" or date_option == "FORMATTED_STRING":
            return value.text
        return value.serial
    if value_option == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return _format_number(value)
    return value


def parse_input(value: Any, option: str) -> Any:
    """A written value as stored: RAW keeps text verbatim, USER_ENTERED parses like the UI."""
    if isinstance(value, dict | list):
        raise ApiError(400, "Invalid values: struct_value / list_value is not a cell value")
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    if option == "RAW":
        return value
    if value.startswith("'"):
        return value[1:]
    if value.startswith("="):
        return Formula(value)
    upper = value.upper()
    if upper in ("TRUE", "FALSE"):
        return upper == "TRUE"
    if _NUMBER.match(value) and any(ch.isdigit() for ch in value):
        number = float(value.replace(",", ""))
        plain = re.fullmatch(r"[+-]?[\d,]+", value) and abs(number) < 1e15
        return int(number) if plain else number
    if value.startswith("+"):
        return Formula("=" + value[1:])
    date = _ISO_DATE.match(value)
    if date:
        try:
            day = dt.date(*(int(g) for g in date.groups()))
        except ValueError:
            return value
        return DateCell((day - _EPOCH).days, value)
    return value


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        end = len(row)
        while end and row[end - 1] == "":
            end -= 1
        out.append(row[:end])
    while out and not out[-1]:
        out.pop()
    return out


def _read(rng: _Range, query: Mapping[str, list[str]]) -> dict[str, Any]:
    value_option = _one(query, "valueRenderOption", "FORMATTED_VALUE")
    date_option = _one(query, "dateTimeRenderOption", "SERIAL_NUMBER")
    major = _one(query, "majorDimension", "ROWS")
    sheet = rng.sheet
    last_row = min(rng.r1, len(sheet.rows))
    rows = [
        [render(sheet.get(r, c), value_option, date_option) for c in range(rng.c0, rng.c1 + 1)]
        for r in range(rng.r0, last_row + 1)
    ]
    if major == "COLUMNS":
        rows = [list(col) for col in zip(*rows, strict=True)] if rows else []
    body: dict[str, Any] = {"range": rng.echo(), "majorDimension": major}
    values = _trim(rows)
    if values:
        body["values"] = values
    return body


def _one(query: Mapping[str, list[str]], name: str, default: str) -> str:
    values = query.get(name)
    return values[-1] if values else default


class SheetsEmulator:
    """Sheets API v4 on ``127.0.0.1:<port>`` (port 0 = any free port)."""

    def __init__(
        self,
        port: int = 0,
        *,
        require_auth: bool = False,
        static_tokens: tuple[str, ...] = ("emulator",),
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.port = port
        self.require_auth = require_auth
        self.static_tokens = set(static_tokens)
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.requests: list[tuple[str, str, str]] = []
        self.records: list[RequestRecord] = []
        self.token_requests: list[dict[str, Any]] = []
        self.read_quota_per_minute: int | None = None
        self.write_quota_per_minute: int | None = None
        self._books: dict[str, Spreadsheet] = {}
        self._faults: list[Fault] = []
        self._accounts: dict[str, rsa.RSAPublicKey] = {}
        self._issued: dict[str, tuple[str, float]] = {}
        self._quota_hits: dict[str, deque[float]] = {"read": deque(), "write": deque()}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> SheetsEmulator:
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SheetsEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- test helpers ----------------------------------------------------------

    def add_spreadsheet(
        self,
        spreadsheet_id: str,
        sheets: Mapping[str, list[list[Any]]],
        *,
        title: str = "Untitled spreadsheet",
        row_count: int | None = None,
        col_count: int | None = None,
        shared_with: set[str] | None = None,
    ) -> None:
        """Add a spreadsheet; grids default to max(1000, rows) x max(26, widest row)."""
        tabs = []
        for index, (name, rows) in enumerate(sheets.items()):
            width = max((len(r) for r in rows), default=0)
            tab = Sheet(
                index,
                name,
                index,
                row_count or max(1000, len(rows)),
                col_count or max(26, width),
            )
            tab.rows = [[None if v == "" else v for v in row] for row in rows]
            tabs.append(tab)
        with self._lock:
            self._books[spreadsheet_id] = Spreadsheet(spreadsheet_id, title, tabs, shared_with)

    def sheet(self, spreadsheet_id: str, title: str | None = None) -> Sheet:
        """The live ``Sheet`` object (properties and stored cells)."""
        return self._books[spreadsheet_id].sheet(title)

    def grid(self, spreadsheet_id: str, title: str | None = None) -> list[list[Any]]:
        """Stored values as lists: "" for empty, trailing empties trimmed."""
        with self._lock:
            rows = [
                [("" if v is None else v) for v in r]
                for r in self.sheet(spreadsheet_id, title).rows
            ]
        return _trim(rows)

    def cell(self, spreadsheet_id: str, title: str | None, a1: str) -> Any:
        """Stored value of one cell such as "E7" (None when empty)."""
        letters, digits = _ENDPOINT.match(a1).groups()  # type: ignore[union-attr]
        with self._lock:
            return self.sheet(spreadsheet_id, title).get(int(digits), col_number(letters))

    def set_grid(self, spreadsheet_id: str, title: str | None, rows: list[list[Any]]) -> None:
        with self._lock:
            sheet = self.sheet(spreadsheet_id, title)
            sheet.rows = [[None if v == "" else v for v in row] for row in rows]
            sheet.row_count = max(sheet.row_count, len(rows))
            sheet.col_count = max(sheet.col_count, max((len(r) for r in rows), default=0))

    def set_cell(
        self, spreadsheet_id: str, title: str | None, row: int, col: int, value: Any
    ) -> None:
        with self._lock:
            self.sheet(spreadsheet_id, title).put(row, col, None if value == "" else value)

    def sort_rows(
        self,
        spreadsheet_id: str,
        title: str | None = None,
        *,
        key: Callable[[list[Any]], Any] | None = None,
        header_rows: int = 1,
        reverse: bool = False,
    ) -> None:
        """Sort the rows below the header, like Data > Sort range (default: by column A text)."""
        with self._lock:
            sheet = self.sheet(spreadsheet_id, title)
            head, body = sheet.rows[:header_rows], sheet.rows[header_rows:]
            sort_key = key or (lambda row: str(row[0]) if row and row[0] is not None else "")
            sheet.rows = head + sorted(body, key=sort_key, reverse=reverse)

    def insert_rows(
        self, spreadsheet_id: str, title: str | None, before: int, rows: list[list[Any]]
    ) -> None:
        """Insert rows before 1-based row ``before``; the grid grows by len(rows)."""
        with self._lock:
            sheet = self.sheet(spreadsheet_id, title)
            while len(sheet.rows) < before - 1:
                sheet.rows.append([])
            new = [[None if v == "" else v for v in row] for row in rows]
            sheet.rows[before - 1 : before - 1] = new
            sheet.row_count += len(rows)

    def rename_sheet(self, spreadsheet_id: str, old: str, new: str) -> None:
        with self._lock:
            self.sheet(spreadsheet_id, old).title = new

    def register_service_account(
        self, client_email: str, public_key: rsa.RSAPublicKey | bytes
    ) -> None:
        """Accept JWT assertions from ``client_email`` signed by this key (object or PEM)."""
        if isinstance(public_key, bytes):
            loaded = serialization.load_pem_public_key(public_key)
            assert isinstance(loaded, rsa.RSAPublicKey)
            public_key = loaded
        self._accounts[client_email] = public_key

    def add_fault(
        self,
        method: str,
        path_regex: str,
        kind: str = "status",
        *,
        status: int = 429,
        times: int = 1,
        delay: float = 2.0,
        body: str | None = None,
    ) -> None:
        """Fail the next ``times`` matching requests: "status" (JSON error, or ``body`` as
        text/html), "timeout" (hold ``delay`` s then drop) or "reset" (TCP reset)."""
        assert kind in ("status", "timeout", "reset"), kind
        with self._lock:
            self._faults.append(Fault(method.upper(), path_regex, kind, status, times, delay, body))

    def set_quota(
        self, read_per_minute: int | None = None, write_per_minute: int | None = None
    ) -> None:
        """Per-minute request quotas (None = unlimited); excess requests get 429."""
        self.read_quota_per_minute = read_per_minute
        self.write_quota_per_minute = write_per_minute

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.records.clear()

    def count(self, method: str, path_regex: str) -> int:
        """How many logged requests match (method, regex on the raw path)."""
        return sum(
            1 for m, p, _ in self.requests if m == method.upper() and re.search(path_regex, p)
        )

    # -- request handling -------------------------------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        split = urlsplit(handler.path)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = (
                json.loads(text)
                if text and "json" in (handler.headers.get("Content-Type") or "")
                else text
            )
        except ValueError:
            body = text
        auth = handler.headers.get("Authorization") or ""
        with self._lock:
            self.requests.append((method, split.path, split.query))
            self.records.append(RequestRecord(method, split.path, split.query, body, bool(auth)))
            fault = self._take_fault(method, split.path)
        if fault is not None and fault.kind != "status":
            self._misbehave(handler, fault)
            return
        try:
            if fault is not None:
                if fault.body is not None:
                    handler.reply(fault.status, fault.body.encode(), "text/html; charset=UTF-8")
                    return
                raise ApiError(fault.status, f"Scripted fault: HTTP {fault.status}")
            if split.path == "/token" and method == "POST":
                status, answer = self._token(parse_qs(text))
                handler.reply(status, json.dumps(answer).encode())
                return
            with self._lock:
                subject = self._authenticate(auth)
                self._charge_quota("read" if method == "GET" else "write")
                answer = self._route(
                    method, split.path, parse_qs(split.query, keep_blank_values=True), body, subject
                )
            handler.reply(200, json.dumps(answer).encode())
        except ApiError as exc:
            error: dict[str, Any] = {
                "code": exc.code,
                "message": exc.message,
                "status": _STATUS_NAMES.get(exc.code, "UNKNOWN"),
            }
            if exc.details:
                error["details"] = exc.details
            handler.reply(exc.code, json.dumps({"error": error}).encode())

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if (
                fault.times > 0
                and fault.method in (method, "*")
                and re.search(fault.path_regex, path)
            ):
                fault.times -= 1
                return fault
        return None

    def _misbehave(self, handler: _Handler, fault: Fault) -> None:
        """Answer nothing: hold then drop ("timeout"), or reset the TCP connection."""
        handler.close_connection = True
        if fault.kind == "timeout":
            self._stopping.wait(fault.delay)
        else:
            linger = struct.pack("ii", 1, 0)  # close() then sends RST instead of FIN
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        handler.connection.close()

    def _authenticate(self, header: str) -> str | None:
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if token in self._issued and self._issued[token][1] > self.clock():
            return self._issued[token][0]
        if token in self.static_tokens:
            return None
        if self.require_auth:
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        return None

    def _charge_quota(self, kind: str) -> None:
        limit = self.read_quota_per_minute if kind == "read" else self.write_quota_per_minute
        if limit is None:
            return
        hits, now = self._quota_hits[kind], self.clock()
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= limit:
            label = "Read" if kind == "read" else "Write"
            raise ApiError(
                429,
                f"Quota exceeded for quota metric '{label} requests' and limit '{label} requests "
                "per minute per user' of service 'sheets.googleapis.com' for consumer "
                "'project_number:123'.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "quota_limit": f"{label}RequestsPerMinutePerUser",
                            "quota_limit_value": str(limit),
                            "quota_metric": f"sheets.googleapis.com/{kind}_requests",
                            "service": "sheets.googleapis.com",
                        },
                    }
                ],
            )
        hits.append(now)

    def _book(self, spreadsheet_id: str, subject: str | None) -> Spreadsheet:
        book = self._books.get(spreadsheet_id)
        if book is None:
            raise ApiError(404, "Requested entity was not found.")
        if book.shared_with is not None and subject not in book.shared_with:
            raise ApiError(403, "The caller does not have permission")
        return book

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, subject: str | None
    ) -> dict[str, Any]:
        if (m := _R_GET.match(path)) and method == "GET":
            book = self._book(unquote(m.group(1)), subject)
            return {
                "spreadsheetId": book.spreadsheet_id,
                "properties": {"title": book.title, "locale": "en_US", "timeZone": "Etc/GMT"},
                "sheets": [
                    {"properties": s.properties()}
                    for s in sorted(book.sheets, key=lambda s: s.index)
                ],
                "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit",
            }
        if (m := _R_BATCH.match(path)) and method == "POST":
            return self._structure(self._book(unquote(m.group(1)), subject), body)
        if m := _R_VALUES_BATCH.match(path):
            book = self._book(unquote(m.group(1)), subject)
            verb = m.group(2)
            if verb == "batchGet" and method == "GET":
                ranges = query.get("ranges") or []
                if not ranges:
                    raise ApiError(400, "Missing required parameter: ranges")
                value_ranges = [_read(_parse_range(book, r), query) for r in ranges]
                return {"spreadsheetId": book.spreadsheet_id, "valueRanges": value_ranges}
            if verb == "batchUpdate" and method == "POST":
                return self._batch_write(book, body)
        if m := _R_VALUES.match(path):
            book = self._book(unquote(m.group(1)), subject)
            a1, verb = unquote(m.group(2)), m.group(3)
            if verb is None and method == "GET":
                return _read(_parse_range(book, a1), query)
            if verb is None and method == "PUT":
                option = _one(query, "valueInputOption", "")
                rng, values = self._plan_write(book, a1, body or {}, option)
                return {"spreadsheetId": book.spreadsheet_id, **self._apply(rng, values, option)}
        # values:append, :clear and :batchClear are not emulated: the adapter never sends them.
        raise ApiError(404, f"Method not found (not emulated): {method} {path}")

    def _plan_write(
        self, book: Spreadsheet, a1: str, body: Mapping[str, Any], option: str
    ) -> tuple[_Range, list[list[Any]]]:
        """Validate one write (input option, size, grid) without applying it."""
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "'valueInputOption' is required but not specified")
        values = body.get("values") or []
        if (body.get("majorDimension") or "ROWS") == "COLUMNS":
            depth = max((len(c) for c in values), default=0)
            values = [[c[i] if i < len(c) else None for c in values] for i in range(depth)]
        rng = _parse_range(book, a1)
        height, width = len(values), max((len(r) for r in values), default=0)
        bounded = not rng.single and split_a1(a1)[1] is not None
        if bounded and (height > rng.r1 - rng.r0 + 1 or width > rng.c1 - rng.c0 + 1):
            raise ApiError(
                400,
                f"Requested writing within range [{a1}], but tried writing "
                f"{height} rows and {width} columns",
            )
        r1, c1 = rng.r0 + max(height, 1) - 1, rng.c0 + max(width, 1) - 1
        target = _Range(rng.sheet, rng.r0, rng.c0, r1, c1, (r1, c1) == (rng.r0, rng.c0))
        _check_grid(target, a1)
        for row in values:
            for value in row:
                parse_input(value, option)
        return target, values

    def _apply(self, rng: _Range, values: list[list[Any]], option: str) -> dict[str, Any]:
        cells = 0
        for dr, row in enumerate(values):
            for dc, value in enumerate(row):
                if value is None:
                    continue
                rng.sheet.put(rng.r0 + dr, rng.c0 + dc, parse_input(value, option))
                cells += 1
        rows = len(values)
        cols = max((len(r) for r in values), default=0)
        return {
            "updatedRange": rng.echo(),
            "updatedRows": rows,
            "updatedColumns": cols,
            "updatedCells": cells,
        }

    def _batch_write(self, book: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        option = body.get("valueInputOption") or ""
        plans = [
            self._plan_write(book, d.get("range", ""), d, option) for d in body.get("data") or []
        ]
        responses = [self._apply(rng, values, option) for rng, values in plans]
        return {
            "spreadsheetId": book.spreadsheet_id,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({rng.sheet.sheet_id for rng, _ in plans}),
            "responses": [{"spreadsheetId": book.spreadsheet_id, **r} for r in responses],
        }

    def _structure(self, book: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        """spreadsheets:batchUpdate, atomic: applied to copies, swapped in only if all succeed."""
        sheets = [s.copy() for s in book.sheets]
        replies: list[dict[str, Any]] = []
        for i, request in enumerate((body or {}).get("requests") or []):
            ((kind, params),) = request.items()
            try:
                replies.append(_structure_step(sheets, kind, params))
            except (KeyError, TypeError, ValueError) as exc:
                raise ApiError(400, f"Invalid requests[{i}].{kind}: {exc}") from None
        if sum(s.row_count * s.col_count for s in sheets) > MAX_CELLS:
            raise ApiError(
                400,
                "This action would increase the number of cells in the workbook above the "
                f"limit of {MAX_CELLS} cells.",
            )
        book.sheets = sheets
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}

    def _token(self, form: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if _one(form, "grant_type", "") != JWT_GRANT:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Invalid grant_type",
            }
        try:
            head_b64, claims_b64, sig_b64 = _one(form, "assertion", "").split(".")
            header = json.loads(_b64decode(head_b64))
            claims = json.loads(_b64decode(claims_b64))
            signature = _b64decode(sig_b64)
        except ValueError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT."}
        key = self._accounts.get(str(claims.get("iss")))
        if key is None or header.get("alg") != "RS256":
            return 400, {
                "error": "invalid_grant",
                "error_description": "Invalid grant: account not found",
            }
        try:
            key.verify(
                signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        now = self.clock()
        iat, exp = float(claims.get("iat", 0)), float(claims.get("exp", 0))
        if claims.get("aud") not in (GOOGLE_TOKEN_AUD, f"{self.url}/token") or not (
            iat - 300 <= now < exp and exp - iat <= 3600
        ):
            return 400, {
                "error": "invalid_grant",
                "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) "
                "and in a reasonable timeframe.",
            }
        if not str(claims.get("scope", "")).strip():
            return 400, {"error": "invalid_scope", "error_description": "Empty or missing scope."}
        with self._lock:
            token = f"ya29.emu-{len(self._issued) + 1}"
            self._issued[token] = (str(claims["iss"]), now + self.token_lifetime)
            self.token_requests.append({**claims, "kid": header.get("kid")})
        return 200, {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "token_type": "Bearer",
        }


def _structure_step(sheets: list[Sheet], kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    def by_id(sheet_id: Any) -> Sheet:
        for sheet in sheets:
            if sheet.sheet_id == int(sheet_id or 0):
                return sheet
        raise ValueError(f"No grid with id: {sheet_id}")

    if kind == "updateSheetProperties":
        props = params["properties"]
        sheet = by_id(props.get("sheetId"))
        grid = props.get("gridProperties") or {}
        for mask in str(params.get("fields", "")).replace("/", ".").split(","):
            mask = mask.strip()
            if mask in ("title", "*") and "title" in props:
                sheet.title = props["title"]
            if mask in ("gridProperties.rowCount", "gridProperties", "*") and "rowCount" in grid:
                sheet.row_count = int(grid["rowCount"])
                sheet.rows = sheet.rows[: sheet.row_count]
            if (
                mask in ("gridProperties.columnCount", "gridProperties", "*")
                and "columnCount" in grid
            ):
                sheet.col_count = int(grid["columnCount"])
                sheet.rows = [r[: sheet.col_count] for r in sheet.rows]
        if sheet.row_count < 1 or sheet.col_count < 1:
            raise ValueError("grid must keep at least one row and one column")
        return {}
    if kind == "appendDimension":
        sheet = by_id(params.get("sheetId"))
        length = int(params["length"])
        if length < 1:
            raise ValueError("length must be positive")
        if params.get("dimension") == "COLUMNS":
            sheet.col_count += length
        elif params.get("dimension") == "ROWS":
            sheet.row_count += length
        else:
            raise ValueError("dimension must be ROWS or COLUMNS")
        return {}
    raise ValueError(f"unsupported request kind {kind}")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped client connections are expected (faults, timeouts): stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    owner: SheetsEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms stalls

    def do_GET(self) -> None:
        self.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.owner._handle(self, "POST")

    def do_PUT(self) -> None:
        self.owner._handle(self, "PUT")

    def reply(
        self, status: int, body: bytes, content_type: str = "application/json; charset=UTF-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``SheetsEmulator.requests`` instead."""
