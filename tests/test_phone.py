"""Phone text -> E.164 or a rejection reason: a table across countries and formats."""

from __future__ import annotations

import pytest

from connector.mapping import INVALID_PHONE, MISSING_PHONE, parse_phone

# (input, region, expected E.164 or reason code)
CASES = [
    # France
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("0612345678", "FR", "+33612345678"),
    ("06.12.34.56.78", "FR", "+33612345678"),
    ("06-12-34-56-78", "FR", "+33612345678"),
    ("+33 6 12 34 56 78", "FR", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "FR", "+33612345678"),
    ("0033 6 12 34 56 78", "FR", "+33612345678"),
    ("612345678", "FR", "+33612345678"),  # lost leading 0 (stored as a number)
    ("33612345678", "FR", "+33612345678"),  # lost +
    ("01 59 00 00 00", "FR", "+33159000000"),
    ("+33 1 59 00 00 00", None, "+33159000000"),
    ("06 90 12 34 56", "FR", INVALID_PHONE),  # not an allocated range
    ("06 12 34 56", "FR", INVALID_PHONE),  # too short
    ("06 12 34 56 78 90 12", "FR", INVALID_PHONE),  # too long
    # United States
    ("(202) 555-0143", "US", "+12025550143"),
    ("202-555-0143", "US", "+12025550143"),
    ("+1 415 555 0178", None, "+14155550178"),
    ("1 202 555 0143", "US", "+12025550143"),
    ("12025550143", "US", "+12025550143"),
    ("555-0143", "US", INVALID_PHONE),
    ("1-800-FLOWERS", "US", INVALID_PHONE),  # letters are never guessed
    # United Kingdom
    ("07911 123456", "GB", "+447911123456"),
    ("+44 7911 123456", None, "+447911123456"),
    ("7911 123456", "GB", "+447911123456"),  # lost leading 0
    ("020 7946 0018", "GB", "+442079460018"),
    # Germany
    ("0151 23456789", "DE", "+4915123456789"),
    ("+49 151 23456789", None, "+4915123456789"),
    ("15123456789", "DE", "+4915123456789"),
    ("030 1234567", "DE", "+49301234567"),
    # Spain, Italy, Brazil, Australia, Belgium
    ("612 345 678", "ES", "+34612345678"),
    ("+34 612 345 678", "FR", "+34612345678"),  # own +country wins over the region
    ("312 345 6789", "IT", "+393123456789"),
    ("+39 312 345 6789", None, "+393123456789"),
    ("(11) 91234-5678", "BR", "+5511912345678"),
    ("0412 345 678", "AU", "+61412345678"),
    ("0470 12 34 56", "BE", "+32470123456"),
    # Rejections of any country
    ("", "FR", MISSING_PHONE),
    ("   ", "FR", MISSING_PHONE),
    ("6.12345678E+08", "FR", INVALID_PHONE),  # scientific notation: digits lost
    ("3,36E+10", "FR", INVALID_PHONE),
    ("06 12 34 56 78 / 06 23 45 67 89", "FR", INVALID_PHONE),  # two numbers
    ("06 12 34 56 78; 0623456789", "FR", INVALID_PHONE),
    ("call me maybe", "FR", INVALID_PHONE),
    ("12345", "FR", INVALID_PHONE),
    ("0612345678", None, INVALID_PHONE),  # no region and no +country
    ("+", "FR", INVALID_PHONE),
    ("++33612345678", "FR", "+33612345678"),  # a doubled '+' is still unambiguous
    ("tel: 06 12 34 56 78", "FR", INVALID_PHONE),
]


@pytest.mark.parametrize(("text", "region", "expected"), CASES)
def test_phone_table(text: str, region: str | None, expected: str) -> None:
    e164, reason, message = parse_phone(text, region)
    if expected.startswith("+"):
        assert (e164, reason) == (expected, None)
    else:
        assert e164 is None
        assert reason == expected
        assert message and len(message) > 10  # a sentence for the person who fixes it


def test_table_size() -> None:
    assert len(CASES) >= 40
    countries = {e[:3] for _, _, e in CASES if e.startswith("+")}
    assert len(countries) >= 6


def test_ambiguous_recovery_is_not_guessed() -> None:
    # Italian region, digits only: "+4722162547" (Norway) and "04722162547" (Italy) are
    # both valid numbers, so the lost character cannot be known and the row is rejected.
    e164, reason, message = parse_phone("4722162547", "IT")
    assert e164 is None
    assert reason == INVALID_PHONE
    assert "+4722162547" in str(message)
    assert "+3904722162547" in str(message)
