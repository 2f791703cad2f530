"""A local emulator of the Salesforce REST API, enough for simple-salesforce and revox-sync.

Plain HTTP on 127.0.0.1 in a thread. Clients reach it through a session that
rewrites ``https://<any host>`` to ``http://<emulator host>`` (``SALESFORCE_EMULATOR_HOST``
in adapters/salesforce_client.py), so the login endpoints and the instance share one port.

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

import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from emulators.harness import DROP_KINDS, Exchange, Fault, HttpEmulator
from emulators.salesforce.auth import AuthMixin
from emulators.salesforce.objects import (
    _B62,
    _OBJECTS,
    _SYSTEM,
    _SYSTEM_SPEC,
    ORG_ID,
    Record,
    _Answer,
    _answer,
    _checksum,
    _err,
    _f,
    _now,
    _spec,
)
from emulators.salesforce.records import RecordsMixin
from emulators.salesforce.soql import Query, QueryMixin, SoqlError

# the faults that answer a request; "record_error" fails one record inside a Collections call
REQUEST_FAULTS = ("status", "timeout", "reset", "expire_session")


class SalesforceEmulator(AuthMixin, QueryMixin, RecordsMixin, HttpEmulator):
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
        super().__init__(port)
        self.api_max, self.api_used = api_max, api_used
        self.max_batch_size = max_batch_size
        self.users = {username: password + security_token}
        self.apps: dict[str, dict[str, Any]] = {
            consumer_key: {"secret": consumer_secret, "public_key": None}
        }
        self.sessions: set[str] = set()
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
        with self.lock:
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
        with self.lock:
            sid = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(40)}"
            self.sessions.add(sid)
            return sid

    def expire_sessions(self) -> None:
        with self.lock:
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
        return self.script_fault(method, path_regex, kind, **options)

    @property
    def logins(self) -> int:
        return len(self.calls("POST", r"^/services/(Soap/u/|oauth2/token)"))

    # request handling
    def serve(self, exchange: Exchange) -> None:
        entry = exchange.entry
        answer = self.answer(exchange.command, exchange.path, entry.headers, entry.body, exchange)
        if answer is not None:
            limits = {"Sforce-Limit-Info": self.limit_header()}
            exchange.reply(answer.status, answer.body, answer.content_type, limits)

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes, exchange: Exchange
    ) -> _Answer | None:
        """Answer one request; None when a fault dropped it (timeouts, resets)."""
        fault = self.take_fault(method, target, REQUEST_FAULTS)
        if fault is not None and fault.kind in DROP_KINDS:
            if fault.apply:
                with self.lock:
                    self._route(method, target, headers, body)
            exchange.drop(fault)
            return None
        with self.lock:
            if fault is not None and fault.kind == "status":
                if fault.body is not None:
                    return _Answer(fault.status, fault.body.encode(), "text/html")
                code = fault.error_code or ("SERVER_UNAVAILABLE" if fault.status >= 500 else "")
                msg = fault.message or {
                    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded."
                }.get(code, "Service unavailable")
                return _answer(fault.status, _err(code, msg))
            if fault is not None and fault.kind == "expire_session":
                self.sessions.clear()
                return _answer(401, _err("INVALID_SESSION_ID", "Session expired or invalid"))
            return self._route(method, target, headers, body)

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
