"""phonenumbers' parse + is_valid_number + format_number(E164), for plain digit strings, fast.

``e164`` answers exactly what ``phonenumbers`` answers for the two forms phone.py hands it
when a cell is written plainly: ``+DIGITS`` (no region) and ``DIGITS`` with a supported
region. It follows phonenumbers' own steps (country code, national prefix and carrier code,
possible lengths, the region of a shared country code, the number types) on metadata
compiled once per region, instead of going through phonenumbers' per-call pattern lookups
and its eleven type checks in a row. Anything else (other characters, an international
prefix such as 011, a string phonenumbers would refuse to parse) is left to phonenumbers:
the answer is then None. tests/test_phone_fast.py checks it against phonenumbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS, ValidationResult
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

_NON_GEO = "001"  # phonenumbers' region for non-geographic calling codes (+800, +882, ...)
_MAX_INPUT = 250  # phonenumbers refuses longer strings
_MIN_NSN = 2
_MAX_NSN = 17
# _test_number_length results under which parse keeps the national prefix
_KEEP_PREFIX = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)


@dataclass(frozen=True, slots=True)
class _Desc:
    """A PhoneNumberDesc as _is_number_matching_desc reads it: lengths (empty: any), pattern."""

    lengths: frozenset[int]
    pattern: re.Pattern[str]

    def matches(self, nsn: str) -> bool:
        return (not self.lengths or len(nsn) in self.lengths) and bool(self.pattern.fullmatch(nsn))


@dataclass(frozen=True, slots=True)
class _Plan:
    """One region's metadata, compiled for parsing and validating plain digits."""

    cc: int
    cc_text: str
    general: re.Pattern[str] | None  # general_desc's pattern alone (_match_national_number)
    general_desc: _Desc | None  # None: no number matches it
    lengths: tuple[int, ...]  # general_desc.possible_length, in order
    local_lengths: tuple[int, ...]
    types: dict[int, tuple[re.Pattern[str], ...]]  # by NSN length: the type descs' patterns
    any_length_types: tuple[re.Pattern[str], ...]  # for lengths no type desc lists
    national_prefix: re.Pattern[str] | None
    transform: str | None
    idd: re.Pattern[str]
    leading_digits: re.Pattern[str] | None

    def general_match(self, number: str) -> bool:
        return self.general is not None and bool(self.general.fullmatch(number))

    def valid(self, nsn: str) -> bool:
        """_number_type_helper(nsn) != UNKNOWN: the general desc and any type desc match."""
        if self.general_desc is None or not self.general_desc.matches(nsn):
            return False
        for pattern in self.types.get(len(nsn), self.any_length_types):
            if pattern.fullmatch(nsn):
                return True
        return False

    def length_result(self, number: str) -> int:
        """_test_number_length(number, metadata) for the type UNKNOWN."""
        n = len(number)
        if n in self.local_lengths:
            return ValidationResult.IS_POSSIBLE_LOCAL_ONLY
        if self.lengths[0] == n:
            return ValidationResult.IS_POSSIBLE
        if self.lengths[0] > n:
            return ValidationResult.TOO_SHORT
        if self.lengths[-1] < n:
            return ValidationResult.TOO_LONG
        return (
            ValidationResult.IS_POSSIBLE
            if n in self.lengths[1:]
            else ValidationResult.INVALID_LENGTH
        )

    def strip_national_prefix(self, number: str) -> str:
        """_maybe_strip_national_prefix_carrier_code(number, metadata)[1]."""
        if not number or self.national_prefix is None:
            return number
        m = self.national_prefix.match(number)
        if m is None:
            return number
        groups = m.groups()
        if not self.transform or groups[-1] is None:
            out = number[m.end() :]
        else:
            out = self.national_prefix.sub(self.transform, number, count=1)
        if self.general_match(number) and not self.general_match(out):
            return number
        return out


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def _desc(desc: PhoneNumberDesc | None) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = frozenset(desc.possible_length)
    if lengths == {-1}:  # phonenumbers' mark for "no number of this type"
        return None
    return _Desc(lengths, re.compile(desc.national_number_pattern))


def _build(md: PhoneMetadata | None) -> _Plan | None:
    if md is None or md.general_desc is None or md.country_code is None:
        return None  # phonenumbers finds no metadata (or fails on it): it answers
    general = md.general_desc
    # _number_type_helper's descs, in the order that finds a mobile or fixed line first
    descs = [md.fixed_line, md.premium_rate, md.toll_free, md.shared_cost, md.voip]
    descs += [md.personal_number, md.pager, md.uan, md.voicemail]
    if not md.same_mobile_and_fixed_line_pattern:
        descs.insert(0, md.mobile)
    types = [d for d in map(_desc, descs) if d is not None]
    any_length = tuple(d.pattern for d in types if not d.lengths)
    by_length = {
        n: tuple(d.pattern for d in types if not d.lengths or n in d.lengths)
        for n in sorted({n for d in types for n in d.lengths})
    }
    return _Plan(
        cc=md.country_code,
        cc_text=str(md.country_code),
        general=_compile(general.national_number_pattern),
        general_desc=_desc(general),
        lengths=tuple(general.possible_length),
        local_lengths=tuple(general.possible_length_local_only),
        types=by_length,
        any_length_types=any_length,
        national_prefix=_compile(md.national_prefix_for_parsing),
        transform=md.national_prefix_transform_rule,
        idd=re.compile("NonMatch" if md.international_prefix is None else md.international_prefix),
        leading_digits=None if md.leading_digits is None else re.compile(md.leading_digits),
    )


_REGIONS: dict[str, _Plan | None] = {}
_NON_GEO_CODES: dict[int, _Plan | None] = {}


def _region_plan(region: str) -> _Plan | None:
    try:
        return _REGIONS[region]
    except KeyError:
        plan = _REGIONS[region] = _build(PhoneMetadata.metadata_for_region(region, None))
        return plan


def _plan(cc: int, region: str) -> _Plan | None:
    """metadata_for_region_or_calling_code(cc, region), compiled."""
    if region != _NON_GEO:
        return _region_plan(region)
    try:
        return _NON_GEO_CODES[cc]
    except KeyError:
        plan = _NON_GEO_CODES[cc] = _build(PhoneMetadata.metadata_for_nongeo_region(cc, None))
        return plan


def _region_of(cc: int, nsn: str) -> tuple[str, _Plan] | None:
    """region_code_for_number, with the region's plan; None when phonenumbers finds none."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if regions is None:
        return None
    if len(regions) == 1:
        plan = _plan(cc, regions[0])
        return None if plan is None else (regions[0], plan)
    for region in regions:  # _region_code_for_number_from_list
        plan = _region_plan(region)
        if plan is None:
            continue
        if plan.leading_digits is not None:
            if plan.leading_digits.match(nsn):
                return region, plan
        elif plan.valid(nsn):
            return region, plan
    return None


def _country_code(digits: str) -> int:
    """_extract_country_code: the calling code digits starts with, 0 if none."""
    for size in (1, 2, 3):
        cc = int(digits[:size])
        if cc in COUNTRY_CODE_TO_REGION_CODE:
            return cc
    return 0


def _plain_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def e164(text: str, region: str | None) -> str | None:
    """phonenumbers' verdict on ``+DIGITS`` (region None) or ``DIGITS`` (a supported region).

    The E.164 when ``parse(text, region)`` gives a number ``is_valid_number`` accepts, ""
    when it gives one it rejects, None when this function does not cover the text (ask
    phonenumbers; this includes every text that parse would refuse).
    """
    if len(text) > _MAX_INPUT:
        return None
    if text[:1] == "+":
        digits = text[1:]
        if region is not None or len(digits) < 3 or not _plain_digits(digits) or digits[0] == "0":
            return None
        cc = _country_code(digits)
        if not cc:
            return None
        national = digits[len(str(cc)) :]
        plan = _plan(cc, COUNTRY_CODE_TO_REGION_CODE[cc][0])
    else:
        if region not in SUPPORTED_REGIONS or len(text) < 2 or not _plain_digits(text):
            return None
        home = _region_plan(region)
        if home is None or home.idd.match(text):
            return None  # an international prefix (011, 00, ...): phonenumbers decides
        cc, national, plan = home.cc, text, home
        if text.startswith(home.cc_text):  # _maybe_extract_country_code, from the default
            rest = home.strip_national_prefix(text[len(home.cc_text) :])
            if (not home.general_match(text) and home.general_match(rest)) or (
                home.length_result(text) == ValidationResult.TOO_LONG
            ):
                national = rest
                plan = _plan(cc, COUNTRY_CODE_TO_REGION_CODE[cc][0])
    if plan is None or len(national) < _MIN_NSN:
        return None
    stripped = plan.strip_national_prefix(national)
    if plan.length_result(stripped) not in _KEEP_PREFIX:
        national = stripped
    if len(national) > _MAX_NSN:
        return None
    found = _region_of(cc, national)
    if found is None:
        return ""
    where, valid_plan = found
    if where != _NON_GEO and valid_plan.cc != cc:
        return ""
    return f"+{cc}{national}" if valid_plan.valid(national) else ""
