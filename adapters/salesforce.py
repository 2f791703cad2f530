"""Salesforce as a source: records of one object, chosen by a list view or a WHERE clause.

Rows are streamed with ``query_all_iter`` from the list view's own SOQL extended
with the fields the mapping reads; the record Id is the row key. Results go back
through the sObject Collections API (200 records a request, per-record errors
kept), and finished calls can be logged as completed Tasks, once per call id.
The request policy (timeouts, one re-login, bounded backoff, the daily API
floor) lives in ``adapters.salesforce_client``.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from adapters.base import UNREAD, CallLog, Row, RowUpdate, WriteReport
from adapters.plugin import SourceConfigBase, SourceContext
from adapters.salesforce_client import (
    ApiGuard,
    GuardedSalesforce,
    HttpSession,
    SalesforceRequestError,
    connect,
    resolve_credentials,
)
from adapters.salesforce_values import (
    apply_results,
    display,
    extend_select,
    fit,
    lookup,
    soql_quote,
    task_record,
    to_salesforce,
)
from connector.errors import AmbiguousError, ConfigError, NotFoundError

log = logging.getLogger("adapters.salesforce")

CHUNK = 200  # sObject Collections limit per request
QUERY_OPTIONS = {"Sforce-Query-Options": "batchSize=2000"}
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


class SalesforceSourceConfig(SourceConfigBase):
    """``source:`` of a mapping whose rows live in Salesforce."""

    type: Literal["salesforce"]
    object: str = Field(default="Lead", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    list_view: str | None = None
    where: str | None = None
    domain: str = "login"
    api_version: str = Field(default="59.0", pattern=r"^\d{2,3}\.0$")
    min_remaining_requests: int = Field(default=500, ge=0)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        # Accept "acme.my", "acme.my.salesforce.com" or a full URL; keep the prefix only.
        bare = re.sub(r"^https?://", "", value.strip()).rstrip("/")
        bare = re.sub(r"\.salesforce\.com$", "", bare, flags=re.IGNORECASE)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]*", bare):
            raise ValueError("domain is login, test, or your My Domain (such as acme.my)")
        return bare

    @model_validator(mode="after")
    def _one_selector(self) -> SalesforceSourceConfig:
        if (self.list_view is None) == (self.where is None):
            raise ValueError("set exactly one of list_view (a list view name or id) and where")
        return self


class SalesforceSource:
    """Rows from Salesforce records; a ``SourcePlugin`` and a ``CallLogger``."""

    key_column: str | None = None  # keyed by its own record Ids
    unique_keys = True  # an Id is on one record only: classify keeps no set of keys seen
    # the outbox calls write_back with at most this many rows (200 a request), each page
    # committed before the next is read: memory holds a page, not every pending cell
    write_page = 5000
    config_model: ClassVar[type[SourceConfigBase]] = SalesforceSourceConfig

    @classmethod
    def from_config(cls, config: SalesforceSourceConfig, ctx: SourceContext) -> SalesforceSource:
        """SOQL names every field it returns: the ones the mapping reads and writes."""
        return cls(config, env=ctx.env, fields=ctx.reads, write_fields=ctx.writes)

    @classmethod
    def identity(cls, config: SalesforceSourceConfig, ctx: SourceContext) -> tuple[str, ...]:
        return (config.domain, config.object, config.list_view or "", config.where or "")

    def __init__(
        self,
        config: SalesforceSourceConfig,
        *,
        env: Mapping[str, str],
        fields: Sequence[str],
        write_fields: Sequence[str],
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.fields = list(dict.fromkeys(fields))
        self.write_fields = list(dict.fromkeys(write_fields))
        self._creds = resolve_credentials(env)
        self._guard = ApiGuard(
            min_remaining=config.min_remaining_requests,
            sleep=sleep,
            secrets=self._creds.secrets(),
        )
        self._http = HttpSession(timeout, self._creds.emulator_host)
        self._sf: GuardedSalesforce | None = None
        self._describe: dict[str, dict[str, Any]] | None = None  # lower name -> field

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """The org's daily API requests as (used, max), from the last answer."""
        return self._guard.api_usage

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, logins included."""
        return self._http.count

    def _client(self) -> GuardedSalesforce:
        if self._sf is None:
            self._sf = connect(
                self._creds,
                domain=self.config.domain,
                version=self.config.api_version,
                session=self._http,
                guard=self._guard,
            )
        return self._sf

    def _fields(self) -> dict[str, dict[str, Any]]:
        if self._describe is None:
            obj = self.config.object
            try:
                meta = self._client().restful(f"sobjects/{obj}/describe")
            except NotFoundError as exc:
                raise ConfigError(f"Salesforce has no object {obj!r} (source.object)") from exc
            described = {f["name"].lower(): f for f in (meta or {}).get("fields", [])}
            self._check(described)
            self._describe = described
        return self._describe

    def _check(self, described: Mapping[str, Mapping[str, Any]]) -> None:
        obj = self.config.object
        relations = {
            str(f["relationshipName"]).lower()
            for f in described.values()
            if f.get("relationshipName")
        }
        problems: list[str] = []

        def known(name: str) -> bool:
            head, dot, _ = name.partition(".")
            return head.lower() in relations if dot else name.lower() in described

        def hint(name: str) -> str:
            close = difflib.get_close_matches(name, [f["name"] for f in described.values()], 1)
            return f" (did you mean {close[0]}?)" if close else ""

        for name in self.fields:
            if not known(name):
                problems.append(f"{obj} has no field {name!r}{hint(name)}")
        for name in self.write_fields:
            meta = described.get(name.lower())
            if meta is None:
                problems.append(f"{obj} has no field {name!r} to write back{hint(name)}")
            elif not meta.get("updateable"):
                problems.append(f"{obj}.{meta['name']} is not updateable and cannot be written")
        if problems:
            raise ConfigError("Salesforce fields: " + "; ".join(problems), problems)

    def headers(self) -> list[str]:
        """The object's field API names, from one describe call; checks the mapping's fields."""
        return [f["name"] for f in self._fields().values()]

    def _soql(self) -> str:
        needed = ["Id", *self.fields]
        obj = self.config.object
        if self.config.where is not None:
            return extend_select(f"SELECT Id FROM {obj} WHERE {self.config.where}", needed)
        sf = self._client()
        wanted = self.config.list_view or ""
        page: Any = sf.restful(f"sobjects/{obj}/listviews")
        views: list[dict[str, Any]] = []
        while page:
            views.extend(page.get("listviews") or [])
            nxt = page.get("nextRecordsUrl")
            page = sf.query_more(nxt, identifier_is_url=True) if nxt else None
        by_id = _ID.match(wanted) is not None
        match = [
            v
            for v in views
            if (by_id and str(v.get("id", ""))[:15] == wanted[:15])
            or str(v.get("developerName", "")).lower() == wanted.lower()
        ]
        if not match:
            names = ", ".join(sorted(str(v.get("developerName")) for v in views)[:20])
            raise ConfigError(
                f"Salesforce {obj} has no list view {wanted!r} visible to the API user "
                f"(list_view takes a developer name or an id; found: {names or 'none'})"
            )
        view = match[0]
        if view.get("soqlCompatible") is False:
            raise ConfigError(
                f"Salesforce list view {wanted!r} cannot be read through SOQL; use where: instead"
            )
        described = sf.restful(f"sobjects/{obj}/listviews/{view['id']}/describe") or {}
        try:
            return extend_select(str(described["query"]), needed)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"Salesforce list view {wanted!r} has no usable query") from exc

    def read_rows(self, settled: Container[str] = ()) -> Iterator[Row]:
        """Stream every record of the list view (or WHERE clause) as a Row keyed by Id; a
        settled record's fields are not converted (``UNREAD``)."""
        self._fields()
        soql = self._soql()
        dotted = [f for f in self.fields if "." in f]
        aliases = {f.lower(): f for f in self.fields}
        # records of one query carry the same fields: what to do with each field name (skip
        # "attributes", the mapping's spelling of it) is worked out once per set of names
        plans: dict[tuple[str, ...], list[tuple[str, str | None]]] = {}
        count = 0
        try:
            for record in self._client().query_all_iter(soql, headers=QUERY_OPTIONS):
                count += 1
                if (key := str(record["Id"])) in settled:
                    yield Row(key=key, values=UNREAD, line=0)
                    continue
                names = tuple(record)
                plan = plans.get(names)
                if plan is None:
                    plan = plans[names] = [
                        (n, a if (a := aliases.get(n.lower())) != n else None)
                        for n in names
                        if n != "attributes"
                    ]
                values: dict[str, str] = {}
                for name, alias in plan:
                    value = record[name]
                    text = value if type(value) is str else display(value)
                    if text is not None:
                        values[name] = text
                        if alias is not None:
                            values[alias] = text
                for path in dotted:
                    values[path] = lookup(record, path)
                yield Row(key=key, values=values, line=0)
        except SalesforceRequestError as exc:
            if exc.code in {"INVALID_FIELD", "MALFORMED_QUERY", "INVALID_TYPE"}:
                raise ConfigError(f"{exc} (check source.where / the list view)") from exc
            raise
        log.info("salesforce %s: %d rows read; api usage %s", self.describe(), count, self._usage())

    def write_back(self, updates: Sequence[RowUpdate]) -> WriteReport:
        """Update fields by record Id, 200 records a request, keeping per-record errors."""
        report = WriteReport()
        start = self.requests
        described = self._fields()
        merged: dict[str, dict[str, Any]] = {}
        for update in updates:
            record = merged.setdefault(update.key, {})
            for name, text in update.values.items():
                meta = described.get(name.lower())
                if meta is None:
                    raise ConfigError(f"Salesforce {self.config.object} has no field {name!r}")
                record[meta["name"]] = to_salesforce(fit(text, meta), meta.get("type"))
        keys = [k for k, v in merged.items() if v]
        report.written.update(k for k, v in merged.items() if not v)
        obj = self.config.object
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            records = [{"attributes": {"type": obj}, "id": k, **merged[k]} for k in chunk]
            try:
                results = self._composite("PATCH", records)
            except SalesforceRequestError as exc:
                report.failed.update((k, str(exc)) for k in chunk)
                continue
            apply_results(report, chunk, results)
        report.requests = self.requests - start
        log.info(
            "salesforce %s: %d written, %d missing, %d failed in %d requests; api usage %s",
            self.describe(),
            len(report.written),
            len(report.missing),
            len(report.failed),
            report.requests,
            self._usage(),
        )
        return report

    def log_calls(self, calls: Sequence[CallLog]) -> WriteReport:
        """Create one completed Task per call id not logged yet (found by Task.CallObject)."""
        report = WriteReport()
        start = self.requests
        pending: dict[str, CallLog] = {}
        for call in calls:
            if not call.key:
                report.failed[call.call_id] = "no record Id to log the call on"
            else:
                pending.setdefault(call.call_id, call)
        ids = list(pending)
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            for attempt in range(3):
                found = self._logged(chunk)
                report.written.update(found)
                chunk = [c for c in chunk if c not in found]
                if not chunk:
                    break
                try:
                    results = self._composite("POST", [task_record(pending[c]) for c in chunk])
                except AmbiguousError:
                    # The create may have gone through: look again before sending the rest.
                    if attempt == 2:
                        raise
                    continue
                apply_results(report, chunk, results)
                break
        report.requests = self.requests - start
        log.info(
            "salesforce %s: %d calls logged, %d failed; api usage %s",
            self.describe(),
            len(report.written),
            len(report.failed),
            self._usage(),
        )
        return report

    def _logged(self, call_ids: Sequence[str]) -> set[str]:
        """Call ids that already have a Task (queryAll: deleted and archived ones count too)."""
        soql = (
            "SELECT Id, CallObject FROM Task WHERE CallObject IN "
            f"({', '.join(soql_quote(c) for c in call_ids)})"
        )
        rows = self._client().query_all_iter(soql, include_deleted=True, headers=QUERY_OPTIONS)
        return {str(r["CallObject"]) for r in rows} & set(call_ids)

    def _composite(self, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False, "records": records}
        results = self._client().restful("composite/sobjects", method=method, json=body)
        return list(results or [])

    def _usage(self) -> str:
        usage = self.api_usage
        return f"{usage[0]}/{usage[1]}" if usage else "unknown"

    def describe(self) -> str:
        """``salesforce:<object>/<list view or 'where'>``."""
        return f"salesforce:{self.config.object}/{self.config.list_view or 'where'}"

    def close(self) -> None:
        """Drop the session and its connections."""
        self._http.close()
        self._sf = None
