"""connector.phone_fast against phonenumbers itself, on numbers of every region and type.

The inputs are built from phonenumbers' example numbers (every region, every non-geographic
calling code, every number type), written the ways cells hold them, then mutated: a digit
changed, one dropped, one added, a wrong region, random digits. The seed is fixed.
"""

from __future__ import annotations

import random

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from connector import phone_fast

TYPES = [getattr(PhoneNumberType, n) for n in dir(PhoneNumberType) if n.isupper()]
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def reference(text: str, region: str | None) -> str | None:
    """parse + is_valid_number + format_number: E.164, "" when invalid, None when unparsable."""
    try:
        num = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if phonenumbers.is_valid_number(num):
        return phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return ""


def examples() -> list[phonenumbers.PhoneNumber]:
    found = []
    for region in REGIONS:
        found += [phonenumbers.example_number_for_type(region, t) for t in TYPES]
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        found.append(phonenumbers.example_number_for_non_geo_entity(cc))
    return [n for n in found if n is not None]


def mutations(digits: str, rng: random.Random) -> list[str]:
    i = rng.randrange(len(digits))
    changed = digits[:i] + str((int(digits[i]) + rng.randrange(1, 10)) % 10) + digits[i + 1 :]
    added = digits[:i] + str(rng.randrange(10)) + digits[i:]
    return [digits, changed, digits[:i] + digits[i + 1 :], added]


def cases(rng: random.Random) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for num in examples():
        nsn = phonenumbers.national_significant_number(num)
        cc = str(num.country_code)
        home = phonenumbers.region_code_for_number(num)
        home = home if home in phonenumbers.SUPPORTED_REGIONS else rng.choice(REGIONS)
        national = phonenumbers.normalize_digits_only(
            phonenumbers.format_number(num, PhoneNumberFormat.NATIONAL)
        )
        for region in (home, rng.choice(REGIONS)):
            for digits in (nsn, national, cc + nsn, "0" + nsn):
                out += [(m, region) for m in mutations(digits, rng)]
        out += [("+" + m, None) for m in mutations(cc + nsn, rng)]
        out += [("+" + m, None) for m in mutations(cc + national, rng)]
    for _ in range(2000):  # digits of any length, any start
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 20)))
        out += [(digits, rng.choice(REGIONS)), ("+" + digits, None)]
    return out


def test_fast_e164_is_phonenumbers_verdict() -> None:
    rng = random.Random(20261203)
    all_cases = cases(rng)
    covered = 0
    for text, region in all_cases:
        fast = phone_fast.e164(text, region)
        expected = reference(text, region)
        if fast is not None:
            covered += 1
            assert fast == expected, (text, region)
    assert len(all_cases) > 20000
    assert covered > 0.9 * len(all_cases), covered / len(all_cases)
