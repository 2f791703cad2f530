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
    # a tel: link (RFC 3966) is read as the number it holds (rejected before issue 11)
    ("tel: 06 12 34 56 78", "FR", "+33612345678"),
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


# --- issue 11, item 11: rows read as a person wrote them ------------------------------------

READ_AS_WRITTEN = [
    # a slash between parts that are not numbers on their own is punctuation
    ("030/62909982", "DE", "+493062909982"),
    ("030 / 62909982", "DE", "+493062909982"),
    ("0151/23456789", "DE", "+4915123456789"),
    # tel: URIs copied from a CRM, with or without parameters
    ("tel:+44-20-7946-0958", None, "+442079460958"),
    ("TEL:+44-20-7946-0958", "FR", "+442079460958"),
    ("tel:+33-1-59-00-00-00;phone-context=example.com", None, "+33159000000"),
    # visual separators: dots, dashes of any kind, parentheses, no-break and thin spaces
    ("06\u00a012\u00a034\u00a056\u00a078", "FR", "+33612345678"),
    ("06\u202f12\u202f34\u202f56\u202f78", "FR", "+33612345678"),
    ("+44 (0)20 7946\u20110958", None, "+442079460958"),
    ("(030) 62909982", "DE", "+493062909982"),
    ("+1 (202) 555\u20130143", None, "+12025550143"),
]


@pytest.mark.parametrize(("text", "region", "expected"), READ_AS_WRITTEN)
def test_cells_read_as_written(text: str, region: str | None, expected: str) -> None:
    assert parse_phone(text, region) == (expected, None, None)


SEVERAL = [
    ("06 12 34 56 78 / 06 98 76 54 32", "FR"),
    ("030 62909982 / 0151 23456789", "DE"),
    ("+44 20 7946 0958, +33 1 59 00 00 00", None),
    ("0612345678 or 0698765432", "FR"),
    ("0612345678 ou 0698765432", "FR"),
]


@pytest.mark.parametrize(("text", "region"), SEVERAL)
def test_two_plausible_numbers_are_still_two(text: str, region: str | None) -> None:
    e164, reason, message = parse_phone(text, region)
    assert (e164, reason) == (None, INVALID_PHONE)
    assert "more than one number" in str(message)


EXTENSIONS = [
    ("+33 1 59 00 00 00 ext. 12", None, "+33159000000"),
    ("(202) 555-0143 x12", "US", "+12025550143"),
    ("202-555-0143x12", "US", "+12025550143"),
    ("tel:+1-202-555-0143;ext=12", None, "+12025550143"),
    ("+12025550143;ext=12", None, "+12025550143"),
    ("01 59 00 00 00 poste 12", "FR", "+33159000000"),
    ("020 7946 0958 extension 4", "GB", "+442079460958"),
]


@pytest.mark.parametrize(("text", "region", "main"), EXTENSIONS)
def test_extensions_are_rejected_with_a_sentence(text: str, region: str | None, main: str) -> None:
    e164, reason, message = parse_phone(text, region)
    assert (e164, reason) == (None, INVALID_PHONE)
    assert "extensions cannot be dialled" in str(message)
    assert "contacts.extensions: call_main_number" in str(message)


@pytest.mark.parametrize(("text", "region", "main"), EXTENSIONS)
def test_extensions_call_the_main_number_when_the_mapping_allows(
    text: str, region: str | None, main: str
) -> None:
    assert parse_phone(text, region, "call_main_number") == (main, None, None)


def test_words_that_end_like_an_extension_are_still_text() -> None:
    e164, reason, message = parse_phone("fax 0159000000", "FR")
    assert (e164, reason) == (None, INVALID_PHONE)
    assert "contains text" in str(message)
