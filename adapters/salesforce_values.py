"""Salesforce values and SOQL text: quoting, extending a list view's SELECT, a field's
value as the text a row shows, and a written text as a field's JSON value.

Also the shapes of records: a dotted path read from a record, per-record results sorted
into a WriteReport, a call's Task. Split from ``salesforce_client.py`` (sessions, retries,
the API-usage floor): no request here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from adapters.base import CallLog, WriteReport

log = logging.getLogger("adapters.salesforce")
# a record that is gone: its key is reported missing (dropped from the outbox), not failed
MISSING_CODES = frozenset(
    {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID", "NOT_FOUND"}
)


def soql_quote(text: str) -> str:
    """A SOQL string literal."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f"'{escaped}'"


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _find_from(query: str) -> int:
    depth, quoted = 0, False
    for m in re.finditer(r"'|\\.|\(|\)|\bFROM\b", query, re.IGNORECASE):
        token = m.group(0)
        if token.startswith("\\"):
            continue
        if token == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            return m.start()
    raise ValueError("no FROM")


def select_name(item: str) -> str:
    """The field an item of a SELECT list returns: ``toLabel(Status)`` -> ``status``."""
    m = re.fullmatch(r"\w+\s*\(\s*([\w.]+)\s*\)(?:\s+\w+)?", item)
    return (m.group(1) if m else item).lower()


def extend_select(query: str, needed: Iterable[str]) -> str:
    """Add the needed fields to a query's SELECT list (no duplicates), keeping the rest."""
    head = re.match(r"\s*SELECT\s+", query, re.IGNORECASE)
    if head is None:
        raise ValueError("not a SELECT")
    at = _find_from(query)
    items = _split_top_level(query[head.end() : at])
    present = {select_name(i) for i in items}
    for name in needed:
        if name.lower() not in present:
            items.append(name)
            present.add(name.lower())
    return f"SELECT {', '.join(items)} {query[at:]}"


def display(value: Any) -> str | None:
    """The text a user sees for a field value; None for values that are not fields (relations)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | str):
        return str(value)
    return None


CUT_MARK = " [cut]"


def fit(text: str, meta: Mapping[str, Any]) -> str:
    """A text cut to the field's length from the describe, ending in a visible marker.

    A call summary written by an LLM easily passes a Text(255) field, which Salesforce
    refuses for good (STRING_TOO_LONG): better a cut summary than none, retried forever.
    """
    length = meta.get("length") or 0
    if not isinstance(length, int) or length <= len(CUT_MARK) or len(text) <= length:
        return text
    return text[: length - len(CUT_MARK)].rstrip() + CUT_MARK


def to_salesforce(text: str, field_type: str | None) -> Any:
    """A written text as the JSON value of a field of ``field_type`` ("" clears the field)."""
    if text == "":
        return None
    stripped = text.strip()
    if field_type == "boolean" and stripped.lower() in {"true", "false", "1", "0", "yes", "no"}:
        return stripped.lower() in {"true", "1", "yes"}
    if field_type in {"int", "double", "currency", "percent"}:
        try:
            return int(stripped)
        except ValueError:
            try:
                return float(stripped)
            except ValueError:
                return text  # let Salesforce say what is wrong with it, per record
    return text


def lookup(record: Mapping[str, Any], path: str) -> str:
    """The text at a dotted path of a record (a lookup field, Account.Name), "" if absent."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = next((v for k, v in node.items() if k.lower() == part.lower()), None)
    return display(node) or ""


def apply_results(
    report: WriteReport, keys: Sequence[str], results: Sequence[Mapping[str, Any]]
) -> None:
    """Sort per-record results (same order as the request) into the report."""
    for n, key in enumerate(keys):
        result = results[n] if n < len(results) else None
        if result is None:
            report.failed[key] = "no result from Salesforce for this record"
        elif result.get("success"):
            report.written.add(key)
        else:
            errors = result.get("errors") or [{}]
            code = str(errors[0].get("statusCode", "UNKNOWN"))
            if code in MISSING_CODES:
                report.missing.add(key)
            else:
                report.failed[key] = "; ".join(
                    f"{e.get('statusCode', 'UNKNOWN')}: {e.get('message', '')}" for e in errors
                )


def task_record(call: CallLog) -> dict[str, Any]:
    """The Task that logs one finished call on its lead or contact."""
    task: dict[str, Any] = {
        "attributes": {"type": "Task"},
        "Subject": call.subject[:255],
        "Status": "Completed",
        "TaskSubtype": "Call",
        "CallType": "Outbound",
        "WhoId": call.key,
        "CallObject": call.call_id[:255],
        "CallDisposition": (call.outcome or "")[:255] or None,
        "Description": call.summary[:32000],
    }
    if call.ended_at:
        try:
            task["ActivityDate"] = datetime.fromisoformat(call.ended_at).date().isoformat()
        except ValueError:
            log.warning("call %s: ended_at %r is not ISO 8601", call.call_id, call.ended_at)
    if call.duration_seconds is not None:
        task["CallDurationInSeconds"] = int(call.duration_seconds)
    return task
