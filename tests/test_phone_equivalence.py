"""parse_phone against the implementation it replaced, kept below as the reference.

parse_phone reads plain cells through connector.phone_fast; every answer (E.164, reason
code, sentence) must stay what the plain phonenumbers implementation gave. The cells are
every region's example numbers written the ways sheets hold them (national, international,
tel:, 00, stored as a number, separators, extensions, two numbers, text), some with a digit
changed, added or dropped, read with their region, another region or none. Seed fixed.
"""

from __future__ import annotations

import random
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from connector.phone import INVALID_PHONE, MISSING_PHONE, Extensions, Parsed, parse_phone
from tests.test_phone import CASES, EXTENSIONS, READ_AS_WRITTEN, SEVERAL
from tests.test_phone_fast import REGIONS, examples

# --- the reference: connector/phone.py before phone_fast, unchanged but for names ---------

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
_UNICODE_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u2009": " "})


def reference(text: str, region: str | None, extensions: Extensions = "reject") -> Parsed:
    """Phone text -> (E.164, None, None) or (None, reason code, sentence)."""
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
    compact = _PUNCT.sub("", body)
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
    """The E.164 of text when it is a valid number as written (no repair), else None."""
    if _LETTERS.search(text):
        return None
    compact = _PUNCT.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.lstrip("+").isdigit():
        return None
    e164, _, _ = _valid(compact, None if compact.startswith("+") else region, text)
    return e164


def _valid(text: str, region: str | None, raw: str) -> Parsed:
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


# --- the cells -----------------------------------------------------------------------------

FORMATS = (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164)


def written(num: phonenumbers.PhoneNumber, rng: random.Random) -> list[str]:
    """The ways a sheet holds one number."""
    cc, nsn = str(num.country_code), phonenumbers.national_significant_number(num)
    forms = [phonenumbers.format_number(num, f) for f in FORMATS]
    national, international = forms[0], forms[1]
    forms += [phonenumbers.format_number(num, PhoneNumberFormat.RFC3966), nsn, cc + nsn]
    forms += ["00" + cc + nsn, "0" + nsn, national.replace(" ", "."), national.replace(" ", "-")]
    forms += [international.replace(" ", "\u00a0"), f" {national} ", f"({cc}) {nsn}"]
    forms += [f"{national} ext. 12", f"{international} x7", f"{national} / {international}"]
    forms += [f"{national} or {nsn}", f"{national}, 0", f"fax {national}", f"{cc}.{nsn}E+3"]
    forms += [f"{national}\n{national}", f"+{cc} (0){nsn}", "++" + cc + nsn, f"{nsn}#"]
    return forms


def mutated(text: str, rng: random.Random) -> str:
    """text with one digit changed, dropped or doubled."""
    at = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not at:
        return text
    i = rng.choice(at)
    new = [str(rng.randrange(10)), "", text[i] * 2][rng.randrange(3)]
    return text[:i] + new + text[i + 1 :]


def cells(rng: random.Random) -> list[tuple[str, str | None, Extensions]]:
    out: list[tuple[str, str | None, Extensions]] = []
    for num in rng.sample(examples(), 400):
        home = phonenumbers.region_code_for_number(num)
        for text in written(num, rng):
            text = mutated(text, rng) if rng.random() < 0.3 else text
            region = rng.choice([home, home, rng.choice(REGIONS), None])
            ext: Extensions = rng.choice(["reject", "call_main_number"])
            out.append((text, region, ext))
    out += [(t, "FR", "reject") for t in ("", "  ", "+", "00", "0", "٠٦١٢٣٤٥٦٧٨", "4722162547")]
    out += [(t, "IT", "reject") for t in ("4722162547", "04722162547", "+4722162547")]
    curated = [*CASES, *READ_AS_WRITTEN, *EXTENSIONS]
    out += [(t, r, ext) for t, r, _ in curated for ext in ("reject", "call_main_number")]
    return out + [(t, r, "reject") for t, r in SEVERAL]


def test_parse_phone_answers_as_the_reference() -> None:
    all_cells = cells(random.Random(12))
    assert len(all_cells) > 8000
    answers = {}
    for text, region, ext in all_cells:
        answers[text, region, ext] = parse_phone(text, region, ext)
        assert answers[text, region, ext] == reference(text, region, ext), (text, region, ext)
    e164s = [a[0] for a in answers.values() if a[0]]
    reasons = {a[2].split("'")[-1] for a in answers.values() if a[2]}
    assert len(e164s) > 0.3 * len(answers)  # both verdicts, many kinds of sentence
    assert len(reasons) >= 8, reasons
    assert any(" could be " in str(a[2]) for a in answers.values())
    assert MISSING_PHONE in {a[1] for a in answers.values()}
    assert INVALID_PHONE in {a[1] for a in answers.values()}
