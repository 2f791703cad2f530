"""Row -> Contact | Rejection: pure functions, no I/O.

A per-row outcome is data, not an exception: a bad phone number is a Rejection with a
stable reason code (written back to the row) and a sentence for the person who fixes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingT
from dataclasses import dataclass
from typing import NamedTuple

import phonenumbers

from adapters.base import Row, header_text, norm
from connector.config import Mapping
from connector.errors import ConfigError
from connector.phone import INVALID_PHONE as INVALID_PHONE
from connector.phone import MISSING_PHONE as MISSING_PHONE
from connector.phone import Extensions
from connector.phone import parse_phone as parse_phone

DUPLICATE_PHONE = "duplicate_phone"
DO_NOT_CALL = "do_not_call"
MISSING_VARIABLE = "missing_variable"
UNREADABLE_ROW = "unreadable_row"  # the source could not read the row as a whole (Row.problem)
# A key on two rows is found across rows, by classify.py, which still holds its own copy of
# this name (that module is being reworked elsewhere); tests/test_docs.py keeps them equal.
DUPLICATE_KEY = "duplicate_key"
REASONS = (
    *(MISSING_PHONE, INVALID_PHONE, DUPLICATE_PHONE, DO_NOT_CALL, MISSING_VARIABLE),
    *(UNREADABLE_ROW, DUPLICATE_KEY),
)


TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


class Contact(NamedTuple):
    """A row ready to be called (a named tuple: made per new row, spilled and read back)."""

    key: str
    line: int
    phone_input: str
    to_phone_number: str
    prompt_variables: dict[str, str]


class Rejection(NamedTuple):
    key: str | None
    line: int
    phone_input: str
    reason: str
    message: str
    to_phone_number: str | None = None


@dataclass(frozen=True)
class _Var:
    name: str
    column: str | None
    value: str | None
    template: str | None
    required: bool


@dataclass(frozen=True)
class ResolvedMapping:
    """A mapping whose column names were matched against the source's real headers."""

    phone: str
    country: str | None
    default_region: str | None
    include: dict[str, frozenset[str]]
    skip: dict[str, frozenset[str]]
    variables: tuple[_Var, ...]
    extensions: Extensions = "reject"


def columns_read(mapping: Mapping) -> list[str]:
    """Every column (or field) the mapping reads, in a stable order without repeats."""
    c = mapping.contacts
    cols = [c.phone, *([c.country_column] if c.country_column else [])]
    cols += [*c.include_when, *c.skip_when]
    for spec in c.variables().values():
        if spec.column:
            cols.append(spec.column)
        if spec.template:
            cols += TEMPLATE_FIELD.findall(spec.template)
    return list(dict.fromkeys(cols))


Locate = Callable[..., str]  # field path parts -> "FILE:LINE: field.path" (LoadedMapping.locate)


def resolve(
    mapping: Mapping, headers: Sequence[str], where: str, locate: Locate | None = None
) -> ResolvedMapping:
    """Match every column the mapping reads against the headers; ConfigError lists all misses.

    Each miss names the mapping field it comes from (``FILE:LINE: field.path`` when
    ``locate`` is given), the column and the source ``where``.
    """
    by_norm = {norm(h): h for h in headers}
    missing: list[tuple[tuple[str, ...], str]] = []

    def col(name: str, *field_path: str) -> str:
        found = by_norm.get(norm(name))
        if found is None:
            missing.append((field_path, name))
            return name
        return found

    c = mapping.contacts
    phone = col(c.phone, "contacts", "phone")
    country = col(c.country_column, "contacts", "country_column") if c.country_column else None
    include = {
        col(k, "contacts", "include_when", k): frozenset(norm(v) for v in vs)
        for k, vs in c.include_when.items()
    }
    skip = {
        col(k, "contacts", "skip_when", k): frozenset(norm(v) for v in vs)
        for k, vs in c.skip_when.items()
    }
    variables = []
    for name, spec in c.variables().items():
        path = ("contacts", "prompt_variables", name)
        template = spec.template
        if template is not None:
            template = TEMPLATE_FIELD.sub(_resolver(col, path), template)
        column = col(spec.column, *path) if spec.column is not None else None
        variables.append(_Var(name, column, spec.value, template, spec.required))
    if missing:
        matched = any(norm(name) in by_norm for name in columns_read(mapping))
        found = _headers_shown(headers, matched=matched)

        def line(field_path: tuple[str, ...], name: str) -> str:
            at = locate(*field_path) if locate else f"{where}: {'.'.join(field_path)}"
            return f"{at}: no column {name!r} in {where} ({found})"

        problems = [line(p, n) for p, n in missing]
        raise ConfigError(problems[0] if len(problems) == 1 else "; ".join(problems), problems)
    return ResolvedMapping(
        phone, country, c.default_region, include, skip, tuple(variables), c.extensions
    )


def _headers_shown(headers: Sequence[str], *, matched: bool) -> str:
    """The headers for an error, capped; none at all when the first line matched nothing,
    since that file is likely not the source (a key file, /etc/shadow) and errors travel."""
    if not matched:
        return (
            "none of the mapping's columns is in its first line: check source.path and "
            "that the file starts with its header row"
        )
    shown = ", ".join(header_text(headers))
    return f"headers: {shown or 'none'}"


def _resolver(col: Callable[..., str], path: tuple[str, ...]) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        return "{" + col(m.group(1), *path) + "}"

    return sub


def _all_match(values: MappingT[str, str], rules: dict[str, frozenset[str]]) -> bool:
    return all(norm(values.get(col, "")) in allowed for col, allowed in rules.items())


def _first_match(values: MappingT[str, str], rules: dict[str, frozenset[str]]) -> str | None:
    return next((col for col, ok in rules.items() if norm(values.get(col, "")) in ok), None)


def _reject(
    row: Row, phone_input: str, reason: str, message: str, e164: str | None = None
) -> Rejection:
    return Rejection(row.key, row.line, phone_input, reason, message, e164)


def map_row(rm: ResolvedMapping, row: Row) -> Contact | Rejection | None:
    """Map one row. None means the row is filtered out (include_when) and left alone."""
    values = row.values
    if not any(v.strip() for v in values.values()):
        return None
    if rm.include and not _all_match(values, rm.include):
        return None
    phone_input = values.get(rm.phone, "")
    if row.problem:  # the source could not read it whole (a cell over the size limit)
        return _reject(row, phone_input, UNREADABLE_ROW, row.problem)
    hit = _first_match(values, rm.skip) if rm.skip else None
    if hit is not None:
        said = values.get(hit, "").strip()
        return _reject(row, phone_input, DO_NOT_CALL, f"Skipped: {hit!r} is {said!r}.")
    region = rm.default_region
    if rm.country:
        country = values.get(rm.country, "").strip().upper()
        if country and not phone_input.strip().startswith(("+", "00")):
            if country not in phonenumbers.SUPPORTED_REGIONS:
                return _reject(
                    row,
                    phone_input,
                    INVALID_PHONE,
                    f"Country {country!r} is not an ISO 3166 code; write FR, US, GB, ...",
                )
            region = country
    e164, reason, message = parse_phone(phone_input, region, rm.extensions)
    if e164 is None:
        return _reject(row, phone_input, reason or INVALID_PHONE, message or "Not a phone number.")
    variables: dict[str, str] = {}
    for var in rm.variables:
        if var.value is not None:
            text = var.value
        elif var.column is not None:
            text = values.get(var.column, "").strip()
        else:
            assert var.template is not None
            cols = TEMPLATE_FIELD.findall(var.template)
            if var.required and any(not values.get(c, "").strip() for c in cols):
                text = ""
            else:
                text = TEMPLATE_FIELD.sub(
                    lambda m: values.get(m.group(1), "").strip(), var.template
                )
        if var.required and not text:
            message = f"Prompt variable {var.name!r} is empty."
            return _reject(row, phone_input, MISSING_VARIABLE, message, e164)
        variables[var.name] = text
    return Contact(row.key or "", row.line, phone_input, e164, variables)
