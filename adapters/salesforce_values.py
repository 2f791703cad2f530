"""Salesforce values and SOQL text: quoting, extending a list view's SELECT, a field's
value as the text a row shows, and a written text as a field's JSON value.

Split from ``salesforce_client.py`` (sessions, retries, the API-usage floor): no request
here, only text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any


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
