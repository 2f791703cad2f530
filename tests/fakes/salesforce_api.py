"""A local emulator of the Salesforce REST API, enough for simple-salesforce and revox-sync.

Plain HTTP on 127.0.0.1 in a thread. Clients reach it through a session that
rewrites ``https://<any host>`` to ``http://<emulator host>`` (see
docs/emulators.md C.2), so the login endpoints and the instance share one port.

What it does: SOAP and OAuth (password, JWT bearer) logins issuing session ids;
``query``/``queryAll`` with a SOQL subset and ``nextRecordsUrl`` paging that
honours ``Sforce-Query-Options: batchSize``; describe, list views (list,
describe, results); sObject rows (GET/PATCH/DELETE/POST); sObject Collections
update and create (allOrNone, <=200); ``limits/``; a daily API counter reported
in ``Sforce-Limit-Info`` on every answer; error lists shaped like Salesforce's.
Scripted faults (``add_fault``) and a request log (``requests``, ``calls``)
serve the tests.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import secrets
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.dom import minidom

import jwt

Record = dict[str, Any]
ORG_ID = "00D5g00000EMUL8EAA"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_SYSTEM = ("CreatedDate", "LastModifiedDate", "SystemModstamp")


def _checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitive (real algorithm)."""
    out = ""
    for i in range(3):
        bits = sum(1 << j for j, c in enumerate(id15[i * 5 : i * 5 + 5]) if "A" <= c <= "Z")
        out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _err(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": fields or []}]


def _rec_err(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields or []}],
    }


class SoqlError(Exception):
    """A query the emulator (or Salesforce) refuses: 400 with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Fault:
    """A scripted fault. kind: status | timeout | reset | expire_session | record_error."""

    method: str
    path: re.Pattern[str]
    kind: str
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
    """One request as the emulator saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"


def _answer(status: int, payload: Any) -> _Answer:
    return _Answer(status, b"" if payload is None else json.dumps(payload).encode())


# --- objects ------------------------------------------------------------------------------------


def _f(
    name: str,
    type_: str = "string",
    *,
    upd: bool = True,
    create: bool | None = None,
    ref: list[str] | None = None,
    rel: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.removesuffix("__c")),
        "type": type_,
        "updateable": upd,
        "createable": upd if create is None else create,
        "nillable": type_ not in ("id", "boolean"),
        "custom": name.endswith("__c"),
        "length": 255 if type_ in ("string", "phone", "email", "picklist") else 0,
        "referenceTo": ref or [],
        "relationshipName": rel,
    }


# Field specs: Name[:type][:ro (read-only) | :co (create-only)][>Relationship=Target|Target]
_SYSTEM_SPEC = "Id:id:ro IsDeleted:boolean:ro CreatedDate:datetime:ro "
_SYSTEM_SPEC += "LastModifiedDate:datetime:ro SystemModstamp:datetime:ro"
_OWNER = "OwnerId:reference>Owner=User"
_PERSON = "FirstName LastName Name:string:ro Title Phone:phone MobilePhone:phone Email:email "
_PERSON += f"DoNotCall:boolean Description:textarea {_OWNER}"
_OBJECTS = {  # object: (key prefix, required on create, fields)
    "Lead": (
        "00Q",
        "LastName Company",
        f"{_PERSON} Company Status:picklist LeadSource:picklist Country City "
        "NumberOfEmployees:int AnnualRevenue:currency IsConverted:boolean:ro",
    ),
    "Contact": (
        "003",
        "LastName",
        f"{_PERSON} AccountId:reference>Account=Account MailingCountry MailingCity",
    ),
    "Account": ("001", "Name", f"Name Phone:phone BillingCountry {_OWNER}"),
    "Task": (
        "00T",
        "",
        "WhoId:reference>Who=Lead|Contact WhatId:reference>What=Account Subject:combobox "
        "Status:picklist Priority:picklist TaskSubtype:picklist:co CallType:picklist "
        "CallDisposition CallObject CallDurationInSeconds:int Description:textarea "
        f"ActivityDate:date IsClosed:boolean:ro {_OWNER}",
    ),
    "User": ("005", "", "Name:string:ro Alias Username Email:email"),
}


def _spec(token: str) -> dict[str, Any]:
    head, _, rel = token.partition(">")
    name, type_, flag = ([*head.split(":"), "", ""])[:3]
    relationship, _, targets = rel.partition("=")
    return _f(
        name,
        type_ or "string",
        upd=flag == "",
        create=flag in ("", "co"),
        ref=targets.split("|") if targets else None,
        rel=relationship or None,
    )


# --- SOQL subset ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:\\.|[^'\\])*')
    |(?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))?)
    |(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])
    |(?P<word>[A-Za-z_][\w.]*(?::\d+)?))""",
    re.X,
)
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t"}


@dataclass
class Query:
    obj: str
    items: list[str]
    where: Callable[[Record], bool] | None
    order: list[tuple[str, bool, bool]]
    limit: int | None
    offset: int


class _Parser:
    def __init__(
        self, text: str, resolve: Callable[[str, str], str], get: Callable[[Record, str], Any]
    ) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip():
                    raise SoqlError(
                        "MALFORMED_QUERY", f"unexpected token: {text[pos : pos + 20]!r}"
                    )
                break
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.resolve, self.get = resolve, get
        self.obj = ""

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def kw(self, *words: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.upper() in words:
            self.i += 1
            return True
        return False

    def need(self, kind: str, text: str | None = None) -> str:
        k, t = self.peek()
        if k != kind or (text is not None and t.upper() != text):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{t or 'end of query'}'")
        self.i += 1
        return t

    def parse(self) -> Query:
        self.need("word", "SELECT")
        raw: list[tuple[str, bool]] = []
        while True:
            name = self.need("word")
            if self.peek() == ("punct", "("):
                self.i += 1
                raw.append((self.need("word"), True))
                self.need("punct", ")")
            else:
                raw.append((name, False))
            if self.peek() != ("punct", ","):
                break
            self.i += 1
        self.need("word", "FROM")
        self.obj = self.resolve("", self.need("word"))
        if self.kw("USING"):
            self.need("word", "SCOPE")
            self.need("word")
        items: list[str] = []
        for name, _wrapped in raw:
            path = self.resolve(self.obj, name)
            if path.lower() in (p.lower() for p in items):
                raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {path}")
            items.append(path)
        where = self.cond() if self.kw("WHERE") else None
        order: list[tuple[str, bool, bool]] = []
        if self.kw("ORDER"):
            self.need("word", "BY")
            while True:
                path = self.resolve(self.obj, self.need("word"))
                desc = self.kw("DESC") or (self.kw("ASC") and False)
                nulls_first = not desc
                if self.kw("NULLS"):
                    nulls_first = self.kw("FIRST") or not self.need("word", "LAST")
                order.append((path, desc, nulls_first))
                if self.peek() != ("punct", ","):
                    break
                self.i += 1
        limit = int(self.need("num")) if self.kw("LIMIT") else None
        offset = int(self.need("num")) if self.kw("OFFSET") else 0
        if self.peek()[0] != "end":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}'")
        return Query(self.obj, items, where, order, limit, offset)

    def cond(self) -> Callable[[Record], bool]:
        terms = [self.conj()]
        while self.kw("OR"):
            terms.append(self.conj())
        return terms[0] if len(terms) == 1 else lambda r: any(t(r) for t in terms)

    def conj(self) -> Callable[[Record], bool]:
        terms = [self.unary()]
        while self.kw("AND"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else lambda r: all(t(r) for t in terms)

    def unary(self) -> Callable[[Record], bool]:
        if self.kw("NOT"):
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek() == ("punct", "("):
            self.i += 1
            inner = self.cond()
            self.need("punct", ")")
            return inner
        path = self.resolve(self.obj, self.need("word"))
        negate = self.kw("NOT")
        if self.kw("IN"):
            self.need("punct", "(")
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.i += 1
                values.append(self.value())
            self.need("punct", ")")
            keys = {_norm(v) for v in values}
            return lambda r: (_norm(self.get(r, path)) in keys) != negate
        if negate:
            raise SoqlError("MALFORMED_QUERY", "unexpected token: 'NOT'")
        if self.kw("LIKE"):
            pattern = str(self.value())
            rx = re.compile(
                "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern),
                re.IGNORECASE | re.DOTALL,
            )
            return lambda r: isinstance(v := self.get(r, path), str) and bool(rx.fullmatch(v))
        op = self.need("op")
        lit = self.value()
        return lambda r: _compare(self.get(r, path), op, lit)

    def value(self) -> Any:
        kind, text = self.peek()
        self.i += 1
        if kind == "str":
            return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), text[1:-1])
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "date":
            return text
        if kind == "word" and text.upper() in ("TRUE", "FALSE"):
            return text.upper() == "TRUE"
        if kind == "word" and text.upper() == "NULL":
            return None
        if kind == "word" and text.upper() == "TODAY":
            return date.today().isoformat()
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")


def _same_id(a: str, b: str) -> bool:
    """Equal, or the same record id in its 15- and 18-character forms."""
    return a == b or (bool(_ID_RE.match(a)) and bool(_ID_RE.match(b)) and a[:15] == b[:15])


def _mentions(record: Mapping[str, Any], value: str) -> bool:
    return any(isinstance(v, str) and _same_id(v, value) for v in record.values())


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _compare(value: Any, op: str, lit: Any) -> bool:
    if op in ("=", "!=", "<>"):
        equal = value is None if lit is None else value is not None and _norm(value) == _norm(lit)
        return equal if op == "=" else not equal
    if value is None or lit is None:
        return False
    a, b = _norm(value), _norm(lit)
    if type(a) is not type(b):
        a, b = str(a), str(b)
    return bool({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op])


# --- the emulator -------------------------------------------------------------------------


class SalesforceEmulator:
    """An in-memory Salesforce org behind a local HTTP server."""

    def __init__(
        self,
        *,
        port: int = 0,
        api_max: int = 15000,
        api_used: int = 0,
        max_batch_size: int = 2000,
        username: str = "revox@example.com",
        password: str = "pass-word-1",
        security_token: str = "TOKEN123",
        consumer_key: str = "3MVG9-emulator-key",
        consumer_secret: str = "emulator-secret",
    ) -> None:
        self.port = port
        self.api_max, self.api_used = api_max, api_used
        self.max_batch_size = max_batch_size
        self.users = {username: password + security_token}
        self.apps: dict[str, dict[str, Any]] = {
            consumer_key: {"secret": consumer_secret, "public_key": None}
        }
        self.sessions: set[str] = set()
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.RLock()
        self._seq = 0
        self._cursors: dict[str, tuple[list[Record], Query]] = {}
        self.meta: dict[str, dict[str, dict[str, Any]]] = {}  # obj -> lower name -> field
        self.prefix: dict[str, str] = {}
        self.required: dict[str, list[str]] = {}
        self.data: dict[str, dict[str, Record]] = {}
        self.index: dict[str, tuple[str, Record]] = {}  # id15 -> (obj, record)
        self.list_views: dict[str, dict[str, Any]] = {}
        for obj, (prefix, required, specs) in _OBJECTS.items():
            fields = [_spec(t) for t in f"{_SYSTEM_SPEC} {specs}".split()]
            self.add_object(obj, prefix, fields, required.split())
        self.user_id = self.add_records("User", [{"Alias": "emu", "Username": username}])[0]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> SalesforceEmulator:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SalesforceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def instance_url(self) -> str:
        """What logins return; the client's rewriting session turns https into http."""
        return f"https://{self.host}"

    # data set-up
    def add_object(
        self,
        obj: str,
        prefix: str,
        fields: Iterable[Mapping[str, Any]],
        required: Iterable[str] = (),
    ) -> None:
        self.meta[obj] = {f["name"].lower(): dict(f) for f in fields}
        self.prefix[obj], self.required[obj] = prefix, list(required)
        self.data.setdefault(obj, {})

    def add_field(
        self,
        obj: str,
        name: str,
        type: str = "string",
        *,
        updateable: bool = True,
        createable: bool | None = None,
    ) -> None:
        self.meta[obj][name.lower()] = _f(name, type, upd=updateable, create=createable)
        for record in self.data[obj].values():
            record.setdefault(name, None)

    def _field(self, obj: str, name: str) -> dict[str, Any] | None:
        return self.meta[obj].get(name.lower())

    def _new_id(self, obj: str) -> str:
        self._seq += 1
        n, body = self._seq, ""
        while n:
            n, r = divmod(n, 62)
            body = _B62[r] + body
        return _checksum(f"{self.prefix[obj]}5g{body:0>10}")

    def _insert(self, obj: str, values: Mapping[str, Any]) -> Record:
        record: Record = {f["name"]: None for f in self.meta[obj].values()}
        record.update(values)
        record["Id"] = self._new_id(obj)
        record["IsDeleted"] = False
        for name in _SYSTEM:
            record[name] = _now()
        if "OwnerId" in record and record["OwnerId"] is None and obj != "User":
            record["OwnerId"] = getattr(self, "user_id", None)
        defaults: dict[str, dict[str, Any]] = {
            "Lead": {"Status": "Open - Not Contacted", "IsConverted": False},
            "Task": {"Status": "Not Started", "Priority": "Normal"},
        }
        for k, v in defaults.get(obj, {}).items():
            if record.get(k) is None:
                record[k] = v
        self._derive(obj, record)
        self.data[obj][record["Id"]] = record
        self.index[record["Id"][:15]] = (obj, record)
        return record

    @staticmethod
    def _derive(obj: str, record: Record) -> None:
        if obj in ("Lead", "Contact"):
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p) or None
        if obj == "User" and not record.get("Name"):
            record["Name"] = record.get("Username")
        if obj == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"

    def add_records(self, obj: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Insert records (field names case-insensitive); return their 18-character Ids."""
        ids = []
        with self._lock:
            for row in rows:
                values = {}
                for k, v in row.items():
                    meta = self._field(obj, k)
                    if meta is None:
                        raise KeyError(f"{obj} has no field {k}; add_field() it first")
                    values[meta["name"]] = v
                ids.append(self._insert(obj, values)["Id"])
        return ids

    def get_record(self, record_id: str) -> Record | None:
        found = self.index.get(record_id[:15])
        return found[1] if found else None

    def records(self, obj: str, include_deleted: bool = False) -> list[Record]:
        return [r for r in self.data[obj].values() if include_deleted or not r["IsDeleted"]]

    def delete_record(self, record_id: str) -> None:
        record = self.get_record(record_id)
        if record is None:
            raise KeyError(record_id)
        record["IsDeleted"] = True

    def add_list_view(
        self,
        obj: str,
        developer_name: str,
        where: str | None = None,
        order_by: str | None = None,
        columns: list[str] | None = None,
        label: str | None = None,
        soql_compatible: bool = True,
    ) -> str:
        """A list view whose describe query is SELECT columns FROM obj [WHERE] ORDER BY ..."""
        if columns is None:
            wanted = [
                "Name",
                "Company",
                "Phone",
                "toLabel(Status)",
                "Owner.Alias",
                "Id",
                *_SYSTEM,
                "Owner.Id",
                "OwnerId",
            ]
            columns = [c for c in wanted if self._known(obj, c)]
        lv_id = _checksum(f"00B5g{len(self.list_views) + 1:0>10}")
        order = f"{order_by or 'Name ASC NULLS FIRST'}, Id ASC NULLS FIRST"
        query = f"SELECT {', '.join(columns)} FROM {obj}"
        query += f" WHERE {where}" if where else ""
        self.list_views[lv_id] = {
            "obj": obj,
            "developerName": developer_name,
            "label": label or developer_name,
            "columns": columns,
            "query": f"{query} ORDER BY {order}",
            "where": where,
            "soqlCompatible": soql_compatible,
        }
        return lv_id

    def _known(self, obj: str, column: str) -> bool:
        name = re.sub(r"^\w+\((.*)\)$", r"\1", column)
        try:
            self._resolve(obj, name)
        except SoqlError:
            return False
        return True

    # auth and faults
    def register_public_key(self, consumer_key: str, pem: bytes | str) -> None:
        """JWT assertions for this connected app are then signature-checked."""
        self.apps.setdefault(consumer_key, {"secret": None})["public_key"] = pem

    def new_session(self) -> str:
        with self._lock:
            sid = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(40)}"
            self.sessions.add(sid)
            return sid

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def add_fault(self, method: str, path_regex: str, kind: str, **options: Any) -> Fault:
        """Script a fault for requests whose method and path (with query) match.

        kind: "status" (status=, error_code=, message= or body=), "timeout" (delay=, apply=),
        "reset" (apply=), "expire_session" (401 and every session dropped), "record_error"
        (record_id=, status_code=, message=: that record fails in sObject Collections).
        times= (None: forever) and after= (let the first N matches through) apply to all.
        """
        if kind not in {"status", "timeout", "reset", "expire_session", "record_error"}:
            raise ValueError(kind)
        fault = Fault(method.upper(), re.compile(path_regex), kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def calls(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests filtered by method and a regex searched in the path."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
        ]

    @property
    def logins(self) -> int:
        return len(self.calls("POST", r"^/services/(Soap/u/|oauth2/token)"))

    # request handling
    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, entry: LoggedRequest
    ) -> tuple[_Answer | None, Fault | None]:
        """Answer one request; None means: send nothing (timeouts, resets)."""
        with self._lock:
            fault = next(
                (f for f in self.faults if f.kind != "record_error" and f.take(method, target)),
                None,
            )
        if fault is not None and fault.kind in ("timeout", "reset"):
            if fault.apply:
                with self._lock:
                    self._route(method, target, headers, body)
            return None, fault
        with self._lock:
            if fault is not None and fault.kind == "status":
                if fault.body is not None:
                    return _Answer(fault.status, fault.body.encode(), "text/html"), fault
                code = fault.error_code or ("SERVER_UNAVAILABLE" if fault.status >= 500 else "")
                msg = fault.message or {
                    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded."
                }.get(code, "Service unavailable")
                return _answer(fault.status, _err(code, msg)), fault
            if fault is not None and fault.kind == "expire_session":
                self.sessions.clear()
                return _answer(401, _err("INVALID_SESSION_ID", "Session expired or invalid")), fault
            return self._route(method, target, headers, body), None

    def limit_header(self) -> str:
        return f"api-usage={self.api_used}/{self.api_max}"

    def _route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        parts = urllib.parse.urlsplit(target)
        path, query = parts.path, urllib.parse.parse_qs(parts.query)
        if method == "POST" and re.match(r"^/services/Soap/u/\d+\.\d", path):
            return self._soap_login(body)
        if method == "POST" and path.rstrip("/") == "/services/oauth2/token":
            return self._token(urllib.parse.parse_qs(body.decode()))
        m = re.match(r"^/services/data/v(\d+\.\d)/(.*)$", path)
        if m is None:
            return _answer(404, _err("NOT_FOUND", "The requested resource does not exist"))
        token = re.sub(r"^(Bearer|OAuth)\s+", "", headers.get("authorization", ""))
        if token not in self.sessions:
            return _answer(401, _err("INVALID_SESSION_ID", "Session expired or invalid"))
        if self.api_used >= self.api_max:
            return _answer(403, _err("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
        self.api_used += 1
        ver, rest = m.group(1), m.group(2).rstrip("/")
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return _answer(400, _err("JSON_PARSER_ERROR", "Unexpected character"))
        for verb, pattern, fn in self._routes():
            hit = re.fullmatch(pattern, rest)
            if hit and verb == method:
                return fn(ver, *hit.groups(), query=query, headers=headers, payload=payload)
        return _answer(404, _err("NOT_FOUND", "The requested resource does not exist"))

    def _routes(self) -> list[tuple[str, str, Callable[..., _Answer]]]:
        return [
            ("GET", r"limits", self._limits),
            ("GET", r"(query|queryAll)", self._query),
            ("GET", r"(?:query|queryAll)/([\w]+)-(\d+)", self._query_more),
            ("GET", r"sobjects", self._global),
            ("GET", r"sobjects/(\w+)/describe", self._describe),
            ("GET", r"sobjects/(\w+)/listviews", self._listviews),
            ("GET", r"sobjects/(\w+)/listviews/(\w+)/describe", self._lv_describe),
            ("GET", r"sobjects/(\w+)/listviews/(\w+)/results", self._lv_results),
            ("POST", r"sobjects/(\w+)", self._create_one),
            ("GET", r"sobjects/(\w+)/(\w+)", self._get_one),
            ("PATCH", r"sobjects/(\w+)/(\w+)", self._update_one),
            ("DELETE", r"sobjects/(\w+)/(\w+)", self._delete_one),
            ("PATCH", r"composite/sobjects", self._collection),
            ("POST", r"composite/sobjects", self._collection),
        ]

    # logins
    def _soap_login(self, body: bytes) -> _Answer:
        try:
            dom = minidom.parseString(body)
            user = dom.getElementsByTagNameNS("*", "username")[0].firstChild
            pwd = dom.getElementsByTagNameNS("*", "password")[0].firstChild
            username = user.nodeValue if user is not None else ""
            password = pwd.nodeValue if pwd is not None else ""
        except Exception:  # any unreadable envelope is a failed login, as on Salesforce
            username, password = "", None
        if password is None or self.users.get(username or "") != password:
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
                '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.'
                'sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
                "<soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN:"
                " Invalid username, password, security token; or user locked out.</faultstring>"
                '<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN'
                "</sf:exceptionCode><sf:exceptionMessage>Invalid username, password, security "
                "token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>"
                "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
            )
            return _Answer(500, fault.encode(), "text/xml;charset=UTF-8")
        sid = self.new_session()
        server = f"{self.instance_url}/services/Soap/u/59.0/{ORG_ID[:15]}"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            "<soapenv:Body><loginResponse><result><metadataServerUrl>"
            f"{self.instance_url}/services/Soap/m/59.0/{ORG_ID[:15]}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{server}</serverUrl><sessionId>{sid}</sessionId>"
            f"<userId>{self.user_id}</userId></result></loginResponse></soapenv:Body>"
            "</soapenv:Envelope>"
        )
        return _Answer(200, xml.encode(), "text/xml;charset=UTF-8")

    def _token(self, form: dict[str, list[str]]) -> _Answer:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        def refuse(error: str, description: str) -> _Answer:
            return _answer(400, {"error": error, "error_description": description})

        grant = one("grant_type")
        if grant == "password":
            app = self.apps.get(one("client_id"))
            if app is None or app["secret"] != one("client_secret"):
                return refuse("invalid_client_id", "client identifier invalid")
            if self.users.get(one("username")) != one("password"):
                return refuse("invalid_grant", "authentication failure")
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = one("assertion")
            try:
                claims = jwt.decode(assertion, options={"verify_signature": False})
            except jwt.PyJWTError:
                return refuse("invalid_grant", "invalid assertion")
            app = self.apps.get(str(claims.get("iss")))
            if app is None:
                return refuse("invalid_client_id", "client identifier invalid")
            if app.get("public_key") is not None:
                try:
                    jwt.decode(
                        assertion,
                        app["public_key"],
                        algorithms=["RS256"],
                        options={"verify_exp": False, "verify_aud": False},
                    )
                except jwt.PyJWTError:
                    return refuse("invalid_grant", "invalid signature")
            if str(claims.get("sub")) not in self.users:
                return refuse("invalid_grant", "user hasn't approved this consumer")
            aud = str(claims.get("aud", ""))
            if not re.fullmatch(r"https://[\w.\-]+\.salesforce\.com", aud):
                return refuse("invalid_grant", "audience is invalid")
            try:
                exp = int(claims.get("exp", 0))
            except (TypeError, ValueError):
                return refuse("invalid_grant", "invalid assertion")
            if not time.time() < exp <= time.time() + 600:
                return refuse("invalid_grant", "expired authorization code")
        else:
            return refuse("unsupported_grant_type", "grant type not supported")
        return _answer(
            200,
            {
                "access_token": self.new_session(),
                "instance_url": self.instance_url,
                "id": f"https://login.salesforce.com/id/{ORG_ID}/{self.user_id}",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "scope": "api",
            },
        )

    # REST resources
    def _limits(self, ver: str, **_: Any) -> _Answer:
        left = max(self.api_max - self.api_used, 0)
        return _answer(
            200,
            {
                "DailyApiRequests": {"Max": self.api_max, "Remaining": left},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            },
        )

    def _obj(self, name: str) -> str:
        for obj in self.meta:
            if obj.lower() == name.lower():
                return obj
        raise SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")

    def _resolve(self, obj: str, name: str) -> str:
        """Canonical field path (``owner.alias`` -> ``Owner.Alias``) or INVALID_FIELD."""
        if not obj:
            return self._obj(name)
        head, dot, sub = name.partition(".")
        if not dot:
            meta = self._field(obj, name)
            if meta is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{obj}'. If "
                    "you are attempting to use a custom field, be sure to append the "
                    "'__c' after the custom field name.",
                )
            return str(meta["name"])
        for meta in self.meta[obj].values():
            if (meta.get("relationshipName") or "").lower() == head.lower():
                target = meta["referenceTo"][0]
                return f"{meta['relationshipName']}.{self._resolve(target, sub)}"
        raise SoqlError(
            "INVALID_FIELD",
            f"Didn't understand relationship '{head}' in field "
            f"path. No such column '{name}' on entity '{obj}'.",
        )

    def _parent(self, obj: str, record: Record, rel: str) -> tuple[str, Record] | None:
        for meta in self.meta[obj].values():
            if meta.get("relationshipName") == rel:
                ref = record.get(meta["name"])
                found = self.index.get(str(ref)[:15]) if ref else None
                return found if found and not found[1]["IsDeleted"] else None
        return None

    def _get(self, obj: str, record: Record, path: str) -> Any:
        head, dot, sub = path.partition(".")
        if not dot:
            return record.get(path)
        parent = self._parent(obj, record, head)
        return None if parent is None else parent[1].get(sub)

    def _compile(self, soql: str) -> Query:
        holder: dict[str, str] = {}

        def get(record: Record, path: str) -> Any:
            return self._get(holder["obj"], record, path)

        parser = _Parser(soql, self._resolve, get)
        query = parser.parse()
        holder["obj"] = query.obj
        return query

    def _run(self, query: Query, include_deleted: bool) -> list[Record]:
        rows = [r for r in self.data[query.obj].values() if include_deleted or not r["IsDeleted"]]
        if query.where is not None:
            rows = [r for r in rows if query.where(r)]
        if query.order:
            rows.sort(key=functools.cmp_to_key(lambda a, b: self._cmp(query, a, b)))
        end = None if query.limit is None else query.offset + query.limit
        return rows[query.offset : end]

    def _cmp(self, query: Query, a: Record, b: Record) -> int:
        for path, desc, nulls_first in query.order:
            va, vb = self._get(query.obj, a, path), self._get(query.obj, b, path)
            if va is None or vb is None:
                if va is None and vb is None:
                    continue
                return (-1 if nulls_first else 1) * (1 if va is None else -1)
            na, nb = _norm(va), _norm(vb)
            if type(na) is not type(nb):
                na, nb = str(na), str(nb)
            if na != nb:
                return (1 if na > nb else -1) * (-1 if desc else 1)
        return 0

    def _attributes(self, ver: str, obj: str, record: Record) -> dict[str, str]:
        return {"type": obj, "url": f"/services/data/v{ver}/sobjects/{obj}/{record['Id']}"}

    def _project(self, ver: str, query: Query, record: Record) -> Record:
        out: Record = {"attributes": self._attributes(ver, query.obj, record)}
        for path in query.items:
            head, dot, sub = path.partition(".")
            if not dot:
                out[path] = record.get(path)
                continue
            parent = self._parent(query.obj, record, head)
            if parent is None:
                out[head] = None
                continue
            nested = out.get(head) or {"attributes": self._attributes(ver, *parent)}
            nested[sub] = parent[1].get(sub)
            out[head] = nested
        return out

    def _page(self, ver: str, cursor: str, offset: int, size: int) -> _Answer:
        rows, query = self._cursors[cursor]
        chunk = rows[offset : offset + size]
        done = offset + size >= len(rows)
        body: Record = {
            "totalSize": len(rows),
            "done": done,
            "records": [self._project(ver, query, r) for r in chunk],
        }
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{ver}/query/{cursor}-{offset + size}"
        else:
            self._cursors.pop(cursor, None)
        return _answer(200, body)

    def _batch(self, headers: Mapping[str, str]) -> int:
        m = re.search(r"batchSize=(\d+)", headers.get("sforce-query-options", ""))
        size = min(max(int(m.group(1)), 200), 2000) if m else 2000
        return max(1, min(size, self.max_batch_size))

    def _query(
        self,
        ver: str,
        kind: str,
        *,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        **_: Any,
    ) -> _Answer:
        try:
            compiled = self._compile((query.get("q") or [""])[0])
            rows = self._run(compiled, include_deleted=kind == "queryAll")
        except SoqlError as exc:
            return _answer(400, _err(exc.code, str(exc)))
        cursor = f"01g5g{len(self._cursors) + self._seq:0>10}"
        self._seq += 1
        self._cursors[cursor] = (rows, compiled)
        return self._page(ver, cursor, 0, self._batch(headers))

    def _query_more(
        self, ver: str, cursor: str, offset: str, *, headers: Mapping[str, str], **_: Any
    ) -> _Answer:
        if cursor not in self._cursors:
            return _answer(400, _err("INVALID_QUERY_LOCATOR", "invalid query locator"))
        return self._page(ver, cursor, int(offset), self._batch(headers))

    def _global(self, ver: str, **_: Any) -> _Answer:
        return _answer(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {"name": o, "keyPrefix": self.prefix[o], "queryable": True} for o in self.meta
                ],
            },
        )

    def _describe(self, ver: str, name: str, **_: Any) -> _Answer:
        try:
            obj = self._obj(name)
        except SoqlError:
            return _answer(404, _err("NOT_FOUND", "The requested resource does not exist"))
        return _answer(
            200,
            {
                "name": obj,
                "label": obj,
                "keyPrefix": self.prefix[obj],
                "custom": obj.endswith("__c"),
                "queryable": True,
                "createable": True,
                "updateable": True,
                "fields": list(self.meta[obj].values()),
                "urls": {"describe": f"/services/data/v{ver}/sobjects/{obj}/describe"},
            },
        )

    def _listviews(self, ver: str, name: str, **_: Any) -> _Answer:
        views = []
        for lv_id, lv in self.list_views.items():
            if lv["obj"].lower() == name.lower():
                base = f"/services/data/v{ver}/sobjects/{lv['obj']}/listviews/{lv_id}"
                views.append(
                    {
                        "describeUrl": f"{base}/describe",
                        "developerName": lv["developerName"],
                        "id": lv_id,
                        "label": lv["label"],
                        "resultsUrl": f"{base}/results",
                        "soqlCompatible": lv["soqlCompatible"],
                        "url": base,
                    }
                )
        return _answer(
            200,
            {
                "done": True,
                "listviews": views,
                "nextRecordsUrl": None,
                "size": len(views),
                "sobjectType": name,
            },
        )

    def _lv(self, lv_id: str) -> dict[str, Any] | None:
        return next((lv for k, lv in self.list_views.items() if k[:15] == lv_id[:15]), None)

    def _lv_describe(self, ver: str, name: str, lv_id: str, **_: Any) -> _Answer:
        lv = self._lv(lv_id)
        if lv is None:
            return _answer(404, _err("NOT_FOUND", "The requested resource does not exist"))
        columns = [
            {
                "fieldNameOrPath": re.sub(r"^\w+\((.*)\)$", r"\1", c),
                "selectListItem": c,
                "label": c,
                "sortable": True,
                "hidden": c in ("Id", *_SYSTEM, "OwnerId"),
            }
            for c in lv["columns"]
        ]
        return _answer(
            200,
            {
                "columns": columns,
                "id": lv_id,
                "orderBy": [],
                "query": lv["query"],
                "scope": "everything",
                "sobjectType": lv["obj"],
                "whereCondition": {"conditions": [], "conjunction": "and"},
            },
        )

    def _lv_results(
        self, ver: str, name: str, lv_id: str, *, query: dict[str, list[str]], **_: Any
    ) -> _Answer:
        lv = self._lv(lv_id)
        if lv is None:
            return _answer(404, _err("NOT_FOUND", "The requested resource does not exist"))
        limit = min(int((query.get("limit") or ["25"])[0]), 2000)
        offset = int((query.get("offset") or ["0"])[0])
        compiled = self._compile(lv["query"])
        rows = self._run(compiled, include_deleted=False)
        page = rows[offset : offset + limit]

        def text(v: Any) -> str | None:
            return None if v is None else str(v).lower() if isinstance(v, bool) else str(v)

        records = [
            {
                "columns": [
                    {"fieldNameOrPath": p, "value": text(self._get(lv["obj"], r, p))}
                    for p in compiled.items
                ]
            }
            for r in page
        ]
        return _answer(
            200,
            {
                "columns": [{"fieldNameOrPath": p} for p in compiled.items],
                "developerName": lv["developerName"],
                "done": offset + limit >= len(rows),
                "id": lv_id,
                "label": lv["label"],
                "records": records,
                "size": len(rows),
            },
        )

    def _get_one(self, ver: str, name: str, rid: str, **_: Any) -> _Answer:
        obj, record, error = self._lookup(name, rid)
        if error is not None:
            return _answer(404, _err(error["statusCode"], error["message"]))
        return _answer(200, {"attributes": self._attributes(ver, obj, record), **record})

    def _update_one(self, ver: str, name: str, rid: str, *, payload: Any, **_: Any) -> _Answer:
        result = self._apply_update(self._obj_or(name), {**(payload or {}), "id": rid})
        if not result["success"]:
            e = result["errors"][0]
            status = 404 if e["statusCode"] in ("NOT_FOUND", "ENTITY_IS_DELETED") else 400
            return _answer(status, _err(e["statusCode"], e["message"], e["fields"]))
        return _Answer(204)

    def _delete_one(self, ver: str, name: str, rid: str, **_: Any) -> _Answer:
        _obj, target, error = self._lookup(name, rid)
        if error is not None:
            return _answer(404, _err(error["statusCode"], error["message"]))
        target["IsDeleted"] = True
        return _Answer(204)

    def _create_one(self, ver: str, name: str, *, payload: Any, **_: Any) -> _Answer:
        result = self._apply_create(self._obj_or(name), dict(payload or {}))
        if not result["success"]:
            e = result["errors"][0]
            return _answer(400, _err(e["statusCode"], e["message"], e["fields"]))
        return _answer(201, result)

    def _obj_or(self, name: str) -> str:
        try:
            return self._obj(name)
        except SoqlError:
            return name

    def _lookup(self, obj: str, rid: str) -> tuple[str, Record, dict[str, Any] | None]:
        """(obj, record, None) or ("", {}, error) for an id that must be of type obj."""
        if not _ID_RE.match(rid or ""):
            return "", {}, _rec_err("MALFORMED_ID", f"malformed id {rid}", ["Id"])["errors"][0]
        found = self.index.get(rid[:15])
        if obj in self.prefix and rid[:3] != self.prefix[obj]:
            msg = f"{obj} ID: id value of incorrect type: {rid}"
            return "", {}, _rec_err("MALFORMED_ID", msg, ["Id"])["errors"][0]
        if found is None:
            msg = "invalid cross reference id"
            return "", {}, _rec_err("INVALID_CROSS_REFERENCE_KEY", msg, ["Id"])["errors"][0]
        if found[1]["IsDeleted"]:
            return "", {}, _rec_err("ENTITY_IS_DELETED", "entity is deleted", ["Id"])["errors"][0]
        return found[0], found[1], None

    def _scripted(self, record: Mapping[str, Any], method: str) -> dict[str, Any] | None:
        for fault in self.faults:
            if fault.kind != "record_error" or fault.record_id is None:
                continue
            if _mentions(record, fault.record_id) and fault.take(method, "/composite/sobjects"):
                msg = fault.message or {
                    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive "
                    "access to this record or 1 records"
                }.get(fault.status_code, "scripted failure")
                return _rec_err(fault.status_code, msg, fault.fields)
        return None

    def _values(self, obj: str, record: Mapping[str, Any], mode: str) -> tuple[Record, Any]:
        """Field values of a write, or a per-record error (``mode``: updateable/createable)."""
        values: Record = {}
        for key, value in record.items():
            if key in ("attributes", "id", "Id"):
                continue
            meta = self._field(obj, key)
            if meta is None:
                raise SoqlError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}")
            if not meta[mode]:
                msg = (
                    f"Unable to create/update fields: {meta['name']}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile."
                )
                return {}, _rec_err("INVALID_FIELD_FOR_INSERT_UPDATE", msg, [meta["name"]])
            if meta["type"] == "boolean" and isinstance(value, str):
                value = value.lower() == "true"
            if meta.get("length") and isinstance(value, str) and len(value) > meta["length"]:
                # what Salesforce answers for a Text(255) field given 256+ characters
                limit = meta["length"]
                msg = f"{meta['label']}: data value too large: {value[:20]}... (max length={limit})"
                return {}, _rec_err("STRING_TOO_LONG", msg, [meta["name"]])
            if meta["type"] == "reference" and value:
                target = self.index.get(str(value)[:15])
                if target is None:
                    return {}, _rec_err(
                        "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [meta["name"]]
                    )
                if target[0] not in meta["referenceTo"]:
                    return {}, _rec_err(
                        "FIELD_INTEGRITY_EXCEPTION",
                        f"{meta['label']} ID: id value of incorrect type: {value}",
                        [meta["name"]],
                    )
                if target[1]["IsDeleted"]:
                    return {}, _rec_err("ENTITY_IS_DELETED", "entity is deleted", [meta["name"]])
            values[meta["name"]] = value
        return values, None

    def _apply_update(self, obj: str, record: Mapping[str, Any], commit: bool = True) -> Record:
        if obj not in self.meta:
            return _rec_err("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        scripted = self._scripted(record, "PATCH")
        if scripted is not None:
            return scripted
        rid = str(record.get("id") or record.get("Id") or "")
        _, target, error = self._lookup(obj, rid)
        if error is not None:
            return {"success": False, "errors": [error]}
        values, failure = self._values(obj, record, "updateable")
        if failure is not None:
            return dict(failure)
        if commit:
            target.update(values)
            target["LastModifiedDate"] = target["SystemModstamp"] = _now()
            self._derive(obj, target)
        return {"id": target["Id"], "success": True, "errors": []}

    def _apply_create(self, obj: str, record: Mapping[str, Any], commit: bool = True) -> Record:
        if obj not in self.meta:
            return _rec_err("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        if record.get("id") or record.get("Id"):
            return _rec_err("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        scripted = self._scripted(record, "POST")
        if scripted is not None:
            return scripted
        values, failure = self._values(obj, record, "createable")
        if failure is not None:
            return dict(failure)
        missing = [f for f in self.required[obj] if values.get(f) in (None, "")]
        if missing:
            return _rec_err(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        if not commit:
            return {"id": None, "success": True, "errors": []}
        return {"id": self._insert(obj, values)["Id"], "success": True, "errors": []}

    def _collection(
        self, ver: str, *, payload: Any, headers: Mapping[str, str], **_: Any
    ) -> _Answer:
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list):
            return _answer(400, _err("JSON_PARSER_ERROR", "records is required"))
        if len(records) > 200:
            return _answer(
                400,
                _err(
                    "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot submit more than 200 records into this call",
                ),
            )
        all_or_none = bool(payload.get("allOrNone"))
        create = "id" not in records[0] if records else False
        apply = self._apply_create if create else self._apply_update
        try:
            results = [
                apply(
                    self._obj_or(str((r.get("attributes") or {}).get("type"))), r, not all_or_none
                )
                for r in records
            ]
        except SoqlError as exc:
            return _answer(400, _err(exc.code, str(exc)))
        if all_or_none:
            if all(r["success"] for r in results):
                results = [
                    apply(self._obj_or(str(r["attributes"]["type"])), r, True) for r in records
                ]
            else:
                rolled = _rec_err(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back "
                    "because not all records were valid and the request was using "
                    "AllOrNone header",
                )
                results = [r if not r["success"] else dict(rolled) for r in results]
        return _answer(200, results)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        emu: SalesforceEmulator = self.server.emulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        parts = urllib.parse.urlsplit(self.path)
        entry = LoggedRequest(
            self.command, parts.path, urllib.parse.parse_qs(parts.query), headers, body
        )
        with emu._lock:
            emu.requests.append(entry)
        answer, fault = emu.handle(self.command, self.path, headers, body, entry)
        if answer is None:
            assert fault is not None
            if fault.kind == "timeout":
                time.sleep(fault.delay)
            self.close_connection = True
            # SO_LINGER 0: close with a TCP reset, the way a dropped connection looks.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            entry.status = -1
            return
        entry.status = answer.status
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Sforce-Limit-Info", emu.limit_header())
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve
