"""Row -> Contact | Rejection: pure functions, no I/O.

A per-row outcome is data, not an exception: a bad phone number is a Rejection with a
stable reason code (written back to the row) and a sentence for the person who fixes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingT
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from adapters.base import Row
from connector.config import Mapping
from connector.errors import ConfigError

MISSING_PHONE = "missing_phone"
INVALID_PHONE = "invalid_phone"
DUPLICATE_PHONE = "duplicate_phone"
DO_NOT_CALL = "do_not_call"
MISSING_VARIABLE = "missing_variable"
REASONS = (MISSING_PHONE, INVALID_PHONE, DUPLICATE_PHONE, DO_NOT_CALL, MISSING_VARIABLE)

_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
_SCIENTIFIC = re.compile(r"^\s*[+-]?\d+([.,]\d+)?\s*[eE]\s*[+-]?\d+\s*$")
_SEVERAL = re.compile(r"[;/,|\n]|\s(or|and|ou|et)\s", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]")
_PUNCT = re.compile(r"[\s.\-()]")


@dataclass(frozen=True)
class Contact:
    key: str
    line: int
    phone_input: str
    to_phone_number: str
    prompt_variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    key: str | None
    line: int
    phone_input: str
    reason: str
    message: str
    to_phone_number: str | None = None


def norm(text: str) -> str:
    """How headers and filter values are compared: case and surrounding spaces ignored."""
    return text.strip().casefold()


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


def columns_read(mapping: Mapping) -> list[str]:
    """Every column (or field) the mapping reads, in a stable order without repeats."""
    c = mapping.contacts
    cols = [c.phone, *([c.country_column] if c.country_column else [])]
    cols += [*c.include_when, *c.skip_when]
    for spec in c.variables().values():
        if spec.column:
            cols.append(spec.column)
        if spec.template:
            cols += _TEMPLATE_FIELD.findall(spec.template)
    return list(dict.fromkeys(cols))


def resolve(mapping: Mapping, headers: Sequence[str], where: str) -> ResolvedMapping:
    """Match every column the mapping reads against the headers; ConfigError lists all misses."""
    by_norm = {norm(h): h for h in headers}
    missing: list[str] = []

    def col(name: str, field_path: str) -> str:
        found = by_norm.get(norm(name))
        if found is None:
            missing.append(f"{field_path}: column {name!r}")
            return name
        return found

    c = mapping.contacts
    phone = col(c.phone, "contacts.phone")
    country = col(c.country_column, "contacts.country_column") if c.country_column else None
    include = {
        col(k, f"contacts.include_when.{k}"): frozenset(norm(v) for v in vs)
        for k, vs in c.include_when.items()
    }
    skip = {
        col(k, f"contacts.skip_when.{k}"): frozenset(norm(v) for v in vs)
        for k, vs in c.skip_when.items()
    }
    variables = []
    for name, spec in c.variables().items():
        path = f"contacts.prompt_variables.{name}"
        template = spec.template
        if template is not None:
            template = _TEMPLATE_FIELD.sub(_resolver(col, path), template)
        column = col(spec.column, path) if spec.column is not None else None
        variables.append(_Var(name, column, spec.value, template, spec.required))
    if missing:
        raise ConfigError(
            f"{where}: the mapping names columns the source lacks: {'; '.join(missing)} "
            f"(headers found: {', '.join(repr(h) for h in headers) or 'none'})",
            [
                f"{where}: {m} is not in the source (headers found: {', '.join(headers)})"
                for m in missing
            ],
        )
    return ResolvedMapping(phone, country, c.default_region, include, skip, tuple(variables))


def _resolver(col: Callable[[str, str], str], path: str) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        return "{" + col(m.group(1), path) + "}"

    return sub


def parse_phone(text: str, region: str | None) -> tuple[str | None, str | None, str | None]:
    """Phone text -> (E.164, None, None) or (None, reason code, sentence). Never guesses."""
    raw = text.strip()
    if not raw:
        return None, MISSING_PHONE, "The phone cell is empty."
    if _SCIENTIFIC.match(raw):
        return (
            None,
            INVALID_PHONE,
            (
                f"{raw!r} is in scientific notation and its digits are lost; "
                "format the column as text and type the number again."
            ),
        )
    if _SEVERAL.search(raw):
        return None, INVALID_PHONE, f"{raw!r} holds more than one number; keep one per row."
    if _LETTERS.search(raw):
        return None, INVALID_PHONE, f"{raw!r} contains text; write digits only."
    compact = _PUNCT.sub("", raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        return _valid(compact, None, raw)
    if not compact.isdigit():
        return None, INVALID_PHONE, f"{raw!r} is not a phone number."
    if region is None:
        return (
            None,
            INVALID_PHONE,
            (
                f"{raw!r} has no country code; write it as +<country> or set "
                "contacts.default_region or a country column."
            ),
        )
    e164, reason, message = _valid(compact, region, raw)
    if e164 is not None:
        return e164, None, None
    # A sheet that stores numbers as numbers drops a leading '+' or national '0'.
    candidates = {c for c in (_try("+" + compact, None), _try("0" + compact, region)) if c}
    if len(candidates) == 1:
        return candidates.pop(), None, None
    if len(candidates) > 1:
        return (
            None,
            INVALID_PHONE,
            (
                f"{raw!r} could be {' or '.join(sorted(candidates))}; "
                "write it with its +country code."
            ),
        )
    return None, reason, message


def _try(text: str, region: str | None) -> str | None:
    e164, _, _ = _valid(text, region, text)
    return e164


def _valid(text: str, region: str | None, raw: str) -> tuple[str | None, str | None, str | None]:
    try:
        num = phonenumbers.parse(text, region)
    except NumberParseException:
        return None, INVALID_PHONE, f"{raw!r} is not a phone number."
    if phonenumbers.is_valid_number(num):
        return phonenumbers.format_number(num, PhoneNumberFormat.E164), None, None
    why = phonenumbers.is_possible_number_with_reason(num)
    if why == ValidationResult.TOO_SHORT:
        return None, INVALID_PHONE, f"{raw!r} is too short to be a phone number."
    if why == ValidationResult.TOO_LONG:
        return None, INVALID_PHONE, f"{raw!r} is too long to be a phone number."
    where = phonenumbers.region_code_for_number(num) or region or "its country"
    return None, INVALID_PHONE, f"{raw!r} is not a valid number in {where}."


def _matches(values: MappingT[str, str], rules: dict[str, frozenset[str]]) -> dict[str, bool]:
    return {col: norm(values.get(col, "")) in allowed for col, allowed in rules.items()}


def map_row(rm: ResolvedMapping, row: Row) -> Contact | Rejection | None:
    """Map one row. None means the row is filtered out (include_when) and left alone."""
    values = row.values
    if not any(v.strip() for v in values.values()):
        return None
    if rm.include and not all(_matches(values, rm.include).values()):
        return None
    phone_input = values.get(rm.phone, "")
    key = row.key

    def reject(reason: str, message: str, e164: str | None = None) -> Rejection:
        return Rejection(key, row.line, phone_input, reason, message, e164)

    hit = [col for col, ok in _matches(values, rm.skip).items() if ok]
    if hit:
        return reject(DO_NOT_CALL, f"Skipped: {hit[0]!r} is {values.get(hit[0], '').strip()!r}.")
    region = rm.default_region
    if rm.country:
        country = values.get(rm.country, "").strip().upper()
        if country and not phone_input.strip().startswith(("+", "00")):
            if country not in phonenumbers.SUPPORTED_REGIONS:
                return reject(
                    INVALID_PHONE,
                    f"Country {country!r} is not an ISO 3166 code; write FR, US, GB, ...",
                )
            region = country
    e164, reason, message = parse_phone(phone_input, region)
    if e164 is None:
        return reject(reason or INVALID_PHONE, message or "Not a phone number.")
    variables: dict[str, str] = {}
    for var in rm.variables:
        if var.value is not None:
            text = var.value
        elif var.column is not None:
            text = values.get(var.column, "").strip()
        else:
            assert var.template is not None
            cols = _TEMPLATE_FIELD.findall(var.template)
            if var.required and any(not values.get(c, "").strip() for c in cols):
                text = ""
            else:
                text = _TEMPLATE_FIELD.sub(
                    lambda m: values.get(m.group(1), "").strip(), var.template
                )
        if var.required and not text:
            return reject(MISSING_VARIABLE, f"Prompt variable {var.name!r} is empty.", e164)
        variables[var.name] = text
    return Contact(key or "", row.line, phone_input, e164, variables)
