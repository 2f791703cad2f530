"""A local emulator of the Google Sheets API v4, for gspread + google-auth.

In-memory spreadsheets served by a stdlib ``ThreadingHTTPServer`` on 127.0.0.1,
following the Sheets API v4 reference: routes matched on the raw path (the
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

import base64
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emulators.harness import DROP_KINDS, Exchange, Fault, HttpEmulator
from emulators.sheets.cells import (
    ENDPOINT,
    MAX_CELLS,
    ApiError,
    DateCell,
    Formula,
    Range,
    Sheet,
    Spreadsheet,
    check_grid,
    col_number,
    one,
    parse_input,
    parse_range,
    read_range,
    split_a1,
    structure_step,
    trim,
)

__all__ = ["ApiError", "DateCell", "Formula", "Sheet", "SheetsEmulator", "Spreadsheet"]

GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_R_GET = re.compile(r"^/v4/spreadsheets/([^/:]+)$")
_R_BATCH = re.compile(r"^/v4/spreadsheets/([^/:]+):batchUpdate$")
_R_VALUES_BATCH = re.compile(
    r"^/v4/spreadsheets/([^/:]+)/values:(batchGet|batchUpdate|batchClear)$"
)
_R_VALUES = re.compile(r"^/v4/spreadsheets/([^/:]+)/values/([^/]+?)(?::(append|clear))?$")
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


class SheetsEmulator(HttpEmulator):
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
        super().__init__(port)
        self.require_auth = require_auth
        self.static_tokens = set(static_tokens)
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.token_requests: list[dict[str, Any]] = []
        self.read_quota_per_minute: int | None = None
        self.write_quota_per_minute: int | None = None
        self._books: dict[str, Spreadsheet] = {}
        self._accounts: dict[str, rsa.RSAPublicKey] = {}
        self._issued: dict[str, tuple[str, float]] = {}
        self._quota_hits: dict[str, deque[float]] = {"read": deque(), "write": deque()}

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
        with self.lock:
            self._books[spreadsheet_id] = Spreadsheet(spreadsheet_id, title, tabs, shared_with)

    def sheet(self, spreadsheet_id: str, title: str | None = None) -> Sheet:
        """The live ``Sheet`` object (properties and stored cells)."""
        return self._books[spreadsheet_id].sheet(title)

    def grid(self, spreadsheet_id: str, title: str | None = None) -> list[list[Any]]:
        """Stored values as lists: "" for empty, trailing empties trimmed."""
        with self.lock:
            rows = [
                [("" if v is None else v) for v in r]
                for r in self.sheet(spreadsheet_id, title).rows
            ]
        return trim(rows)

    def cell(self, spreadsheet_id: str, title: str | None, a1: str) -> Any:
        """Stored value of one cell such as "E7" (None when empty)."""
        letters, digits = ENDPOINT.match(a1).groups()  # type: ignore[union-attr]
        with self.lock:
            return self.sheet(spreadsheet_id, title).get(int(digits), col_number(letters))

    def set_grid(self, spreadsheet_id: str, title: str | None, rows: list[list[Any]]) -> None:
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            sheet.rows = [[None if v == "" else v for v in row] for row in rows]
            sheet.row_count = max(sheet.row_count, len(rows))
            sheet.col_count = max(sheet.col_count, max((len(r) for r in rows), default=0))

    def set_cell(
        self, spreadsheet_id: str, title: str | None, row: int, col: int, value: Any
    ) -> None:
        with self.lock:
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
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            head, body = sheet.rows[:header_rows], sheet.rows[header_rows:]
            sort_key = key or (lambda row: str(row[0]) if row and row[0] is not None else "")
            sheet.rows = head + sorted(body, key=sort_key, reverse=reverse)

    def insert_rows(
        self, spreadsheet_id: str, title: str | None, before: int, rows: list[list[Any]]
    ) -> None:
        """Insert rows before 1-based row ``before``; the grid grows by len(rows)."""
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            while len(sheet.rows) < before - 1:
                sheet.rows.append([])
            new = [[None if v == "" else v for v in row] for row in rows]
            sheet.rows[before - 1 : before - 1] = new
            sheet.row_count += len(rows)

    def rename_sheet(self, spreadsheet_id: str, old: str, new: str) -> None:
        with self.lock:
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
    ) -> Fault:
        """Fail the next ``times`` matching requests: "status" (JSON error, or ``body`` as
        text/html), "timeout" (hold ``delay`` s then drop) or "reset" (TCP reset)."""
        assert kind in ("status", "timeout", "reset"), kind
        return self.script_fault(
            method, path_regex, kind, status=status, times=times, delay=delay, body=body
        )

    def set_quota(
        self, read_per_minute: int | None = None, write_per_minute: int | None = None
    ) -> None:
        """Per-minute request quotas (None = unlimited); excess requests get 429."""
        self.read_quota_per_minute = read_per_minute
        self.write_quota_per_minute = write_per_minute

    # -- request handling -------------------------------------------------------

    def serve(self, exchange: Exchange) -> None:
        entry = exchange.entry
        text = entry.body.decode("utf-8", "replace")
        try:
            body: Any = (
                json.loads(text)
                if text and "json" in entry.headers.get("content-type", "")
                else text
            )
        except ValueError:
            body = text
        fault = self.take_fault(entry.method, entry.path)
        if fault is not None and fault.kind in DROP_KINDS:
            exchange.drop(fault)
            return
        method = entry.method
        try:
            if fault is not None:
                if fault.body is not None:
                    exchange.reply(fault.status, fault.body.encode(), "text/html; charset=UTF-8")
                    return
                raise ApiError(
                    fault.status, fault.message or f"Scripted fault: HTTP {fault.status}"
                )
            if entry.path == "/token" and method == "POST":
                status, answer = self._token(parse_qs(text))
                exchange.reply(status, json.dumps(answer).encode())
                return
            with self.lock:
                subject = self._authenticate(entry.headers.get("authorization", ""))
                self._charge_quota("read" if method == "GET" else "write")
                answer = self._route(method, entry.path, entry.query, body, subject)
            exchange.reply(200, json.dumps(answer).encode())
        except ApiError as exc:
            error: dict[str, Any] = {
                "code": exc.code,
                "message": exc.message,
                "status": _STATUS_NAMES.get(exc.code, "UNKNOWN"),
            }
            if exc.details:
                error["details"] = exc.details
            exchange.reply(exc.code, json.dumps({"error": error}).encode())

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
                value_ranges = [read_range(parse_range(book, r), query) for r in ranges]
                return {"spreadsheetId": book.spreadsheet_id, "valueRanges": value_ranges}
            if verb == "batchUpdate" and method == "POST":
                return self._batch_write(book, body)
        if m := _R_VALUES.match(path):
            book = self._book(unquote(m.group(1)), subject)
            a1, verb = unquote(m.group(2)), m.group(3)
            if verb is None and method == "GET":
                return read_range(parse_range(book, a1), query)
            if verb is None and method == "PUT":
                option = one(query, "valueInputOption", "")
                rng, values = self._plan_write(book, a1, body or {}, option)
                return {"spreadsheetId": book.spreadsheet_id, **self._apply(rng, values, option)}
        # values:append, :clear and :batchClear are not emulated: the adapter never sends them.
        raise ApiError(404, f"Method not found (not emulated): {method} {path}")

    def _plan_write(
        self, book: Spreadsheet, a1: str, body: Mapping[str, Any], option: str
    ) -> tuple[Range, list[list[Any]]]:
        """Validate one write (input option, size, grid) without applying it."""
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "'valueInputOption' is required but not specified")
        values = body.get("values") or []
        if (body.get("majorDimension") or "ROWS") == "COLUMNS":
            depth = max((len(c) for c in values), default=0)
            values = [[c[i] if i < len(c) else None for c in values] for i in range(depth)]
        rng = parse_range(book, a1)
        height, width = len(values), max((len(r) for r in values), default=0)
        bounded = not rng.single and split_a1(a1)[1] is not None
        if bounded and (height > rng.r1 - rng.r0 + 1 or width > rng.c1 - rng.c0 + 1):
            raise ApiError(
                400,
                f"Requested writing within range [{a1}], but tried writing "
                f"{height} rows and {width} columns",
            )
        r1, c1 = rng.r0 + max(height, 1) - 1, rng.c0 + max(width, 1) - 1
        target = Range(rng.sheet, rng.r0, rng.c0, r1, c1, (r1, c1) == (rng.r0, rng.c0))
        check_grid(target, a1)
        for row in values:
            for value in row:
                parse_input(value, option)
        return target, values

    def _apply(self, rng: Range, values: list[list[Any]], option: str) -> dict[str, Any]:
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
                replies.append(structure_step(sheets, kind, params))
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
        if one(form, "grant_type", "") != JWT_GRANT:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Invalid grant_type",
            }
        try:
            head_b64, claims_b64, sig_b64 = one(form, "assertion", "").split(".")
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
        with self.lock:
            token = f"ya29.emu-{len(self._issued) + 1}"
            self._issued[token] = (str(claims["iss"]), now + self.token_lifetime)
            self.token_requests.append({**claims, "kid": header.get("kid")})
        return 200, {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "token_type": "Bearer",
        }


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
