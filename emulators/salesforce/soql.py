# mypy: disable-error-code="misc"
# (mixin methods take ``self: SalesforceEmulator``, the class they are mixed into: mypy
# checks their bodies against it but calls a self-type that is a subclass an error)
"""The SOQL subset of the Salesforce emulator: the parser, and ``query``/``queryAll`` paging."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from emulators.salesforce.objects import (
    Record,
    _Answer,
    _answer,
    _err,
)

if TYPE_CHECKING:
    from emulators.salesforce.api import SalesforceEmulator


class SoqlError(Exception):
    """A query the emulator (or Salesforce) refuses: 400 with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


class QueryMixin:
    """Name resolution, SOQL compilation and execution, cursors: the query resources."""

    def _obj(self: SalesforceEmulator, name: str) -> str:
        for obj in self.meta:
            if obj.lower() == name.lower():
                return obj
        raise SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")

    def _resolve(self: SalesforceEmulator, obj: str, name: str) -> str:
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

    def _parent(
        self: SalesforceEmulator, obj: str, record: Record, rel: str
    ) -> tuple[str, Record] | None:
        for meta in self.meta[obj].values():
            if meta.get("relationshipName") == rel:
                ref = record.get(meta["name"])
                found = self.index.get(str(ref)[:15]) if ref else None
                return found if found and not found[1]["IsDeleted"] else None
        return None

    def _get(self: SalesforceEmulator, obj: str, record: Record, path: str) -> Any:
        head, dot, sub = path.partition(".")
        if not dot:
            return record.get(path)
        parent = self._parent(obj, record, head)
        return None if parent is None else parent[1].get(sub)

    def _compile(self: SalesforceEmulator, soql: str) -> Query:
        holder: dict[str, str] = {}

        def get(record: Record, path: str) -> Any:
            return self._get(holder["obj"], record, path)

        parser = _Parser(soql, self._resolve, get)
        query = parser.parse()
        holder["obj"] = query.obj
        return query

    def _run(self: SalesforceEmulator, query: Query, include_deleted: bool) -> list[Record]:
        rows = [r for r in self.data[query.obj].values() if include_deleted or not r["IsDeleted"]]
        if query.where is not None:
            rows = [r for r in rows if query.where(r)]
        if query.order:
            rows.sort(key=functools.cmp_to_key(lambda a, b: self._cmp(query, a, b)))
        end = None if query.limit is None else query.offset + query.limit
        return rows[query.offset : end]

    def _cmp(self: SalesforceEmulator, query: Query, a: Record, b: Record) -> int:
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

    def _attributes(self: SalesforceEmulator, ver: str, obj: str, record: Record) -> dict[str, str]:
        return {"type": obj, "url": f"/services/data/v{ver}/sobjects/{obj}/{record['Id']}"}

    def _project(self: SalesforceEmulator, ver: str, query: Query, record: Record) -> Record:
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

    def _page(self: SalesforceEmulator, ver: str, cursor: str, offset: int, size: int) -> _Answer:
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

    def _batch(self: SalesforceEmulator, headers: Mapping[str, str]) -> int:
        m = re.search(r"batchSize=(\d+)", headers.get("sforce-query-options", ""))
        size = min(max(int(m.group(1)), 200), 2000) if m else 2000
        return max(1, min(size, self.max_batch_size))

    def _query(
        self: SalesforceEmulator,
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
        self: SalesforceEmulator,
        ver: str,
        cursor: str,
        offset: str,
        *,
        headers: Mapping[str, str],
        **_: Any,
    ) -> _Answer:
        if cursor not in self._cursors:
            return _answer(400, _err("INVALID_QUERY_LOCATOR", "invalid query locator"))
        return self._page(ver, cursor, int(offset), self._batch(headers))
