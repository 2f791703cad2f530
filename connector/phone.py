"""Phone text -> E.164 or a rejection: cells read the way the person who typed them meant.

Pure functions, no I/O. Never guesses between two readings: a cell that could be two
different numbers is rejected with a sentence saying how to write it.

Why the separator rule is "each part must be a number on its own": the slash is both a
visual separator (German ``030/62909982``, one number) and a list separator
(``06 12 34 56 78 / 06 98 76 54 32``, two numbers). Only when every part is a valid
number by itself is the cell a list; otherwise the separators are read as punctuation.
"""

from __future__ import annotations

import re
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from connector import phone_fast

MISSING_PHONE = "missing_phone"
INVALID_PHONE = "invalid_phone"
Extensions = Literal["reject", "call_main_number"]
Parsed = tuple[str | None, str | None, str | None]  # (E.164, reason code, sentence)

_SCIENTIFIC = re.compile(r"^\s*[+-]?\d+([.,]\d+)?\s*[eE]\s*[+-]?\d+\s*$")
_SEVERAL = re.compile(r"[;/,|\n]|\s(?:or|and|ou|et|oder|und|o|y)\s", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]")
# Visual separators: spaces of any kind (NBSP, thin), dots, dashes of any kind, parentheses.
_PUNCT = re.compile(r"[\s.\-\u2010-\u2015\u2212()\[\]]")
_TEL = re.compile(r"^tel:\s*", re.IGNORECASE)
# An extension at the end: "ext. 12", "extension 12", "x12", "poste 12", "#12", ";ext=12".
# The word may not follow a letter, so that "box 12" or "fax12" is not read as one.
_EXTENSION = re.compile(
    r"(?:;\s*ext\s*=\s*|(?<![^\W\d_])(?:ext|extn|extension|poste|durchwahl|x)\.?\s*:?\s*"
    r"|#\s*)(\d{1,8})\s*$",
    re.IGNORECASE,
)
# A cell of digits, '+' and these separators only: none of the checks before _compact apply.
_PLAIN = re.compile(r"[0-9+ .()-]+")
_PLAIN_SEPARATORS = str.maketrans("", "", " .()-")
_UNICODE_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u2009": " "})


def parse_phone(text: str, region: str | None, extensions: Extensions = "reject") -> Parsed:
    """Phone text -> (E.164, None, None) or (None, reason code, sentence)."""
    raw = text.strip()
    if not raw:
        return None, MISSING_PHONE, "The phone cell is empty."
    if _PLAIN.fullmatch(raw):
        return _compact(raw.translate(_PLAIN_SEPARATORS), region, raw)
    if _SCIENTIFIC.match(raw):
        return (
            None,
            INVALID_PHONE,
            (
                f"{raw!r} is in scientific notation and its digits are lost; "
                "format the column as text and type the number again."
            ),
        )
    body = raw.translate(_UNICODE_SPACES)
    tel = _TEL.match(body)
    if tel:  # RFC 3966, as copied from a CRM link: tel:+44-20-7946-0958;ext=12
        body = body[tel.end() :]
    ext = _EXTENSION.search(body)
    if ext:
        if extensions == "reject":
            return (
                None,
                INVALID_PHONE,
                (
                    f"{raw!r} has an extension ({ext.group(1)}); extensions cannot be dialled, "
                    "so write the direct number, or set contacts.extensions: call_main_number "
                    "to call the main number."
                ),
            )
        body = body[: ext.start()]
    if tel:
        body = body.split(";", 1)[0]  # other URI parameters (phone-context, isub)
    return _one_or_several(body.strip(), region, raw)


def _one_or_several(body: str, region: str | None, raw: str) -> Parsed:
    parts = [p.strip() for p in _SEVERAL.split(body) if p and p.strip()]
    if len(parts) > 1 and all(_try(p, region) for p in parts):
        return None, INVALID_PHONE, f"{raw!r} holds more than one number; keep one per row."
    if _SEVERAL.search(body):
        # read as punctuation: the words (or, ou, ...) are not, so they are left as text
        body = re.sub(r"[;/,|\n]", " ", body)
    return _single(body, region, raw)


def _single(body: str, region: str | None, raw: str) -> Parsed:
    if _LETTERS.search(body):
        return None, INVALID_PHONE, f"{raw!r} contains text; write digits only."
    return _compact(_PUNCT.sub("", body), region, raw)


def _compact(compact: str, region: str | None, raw: str) -> Parsed:
    """The cell without its separators -> E.164, read as written or repaired."""
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        e164 = _e164(compact, None)
        return (e164, None, None) if e164 else _rejection(compact, None, raw)
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
    e164 = _e164(compact, region)
    if e164:
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
    return _rejection(compact, region, raw)


def _try(text: str, region: str | None) -> str | None:
    """The E.164 of text when it is a valid number as written (no repair), else None."""
    if _LETTERS.search(text):
        return None
    compact = _PUNCT.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.lstrip("+").isdigit():
        return None
    return _e164(compact, None if compact.startswith("+") else region)


def _e164(text: str, region: str | None) -> str | None:
    """phonenumbers' E.164 of text when it parses to a valid number, else None."""
    fast = phone_fast.e164(text, region)
    if fast is not None:
        return fast or None
    try:
        num = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if phonenumbers.is_valid_number(num):
        return phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return None


def _rejection(text: str, region: str | None, raw: str) -> Parsed:
    """Why text, which _e164 found no valid number in, is rejected: only then worth working out."""
    try:
        num = phonenumbers.parse(text, region)
    except NumberParseException:
        return None, INVALID_PHONE, f"{raw!r} is not a phone number."
    why = phonenumbers.is_possible_number_with_reason(num)
    if why == ValidationResult.TOO_SHORT:
        return None, INVALID_PHONE, f"{raw!r} is too short to be a phone number."
    if why == ValidationResult.TOO_LONG:
        return None, INVALID_PHONE, f"{raw!r} is too long to be a phone number."
    where = phonenumbers.region_code_for_number(num) or region or "its country"
    return None, INVALID_PHONE, f"{raw!r} is not a valid number in {where}."
