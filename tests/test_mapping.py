"""Row -> Contact | Rejection: filters, variables, country column, resolution of columns."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from adapters.base import Row
from connector.errors import ConfigError
from connector.loading import load_mapping
from connector.mapping import Contact, Rejection, map_row, resolve

HEADERS = ["First name", "Company", "Phone", "Country", "Status", "Do not call"]


def mapping(tmp_path: Path, contacts: str) -> object:
    text = textwrap.dedent("""\
        team: t
        source: {type: csv, path: x.csv}
        campaign: {assistant_id: 182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e}
        contacts:
        """) + textwrap.indent(textwrap.dedent(contacts), "  ")
    (tmp_path / "t.yaml").write_text(text)
    return load_mapping(tmp_path / "t.yaml").mapping


FULL = """\
phone: phone
default_region: FR
country_column: country
include_when: {Status: [Ready, ""]}
skip_when: {"Do not call": ["yes", "x"]}
prompt_variables:
  first_name: First name
  company: {column: Company, required: true}
  product: {value: Revox Pro}
  greeting: {template: "Hi {first NAME} from {Company}"}
"""


def row(**kw: str) -> Row:
    values = {h: "" for h in HEADERS}
    values.update(
        {"First name": "Ann", "Company": "Acme", "Phone": "06 12 34 56 78", "Status": "Ready"}
    )
    values.update({k.replace("_", " "): v for k, v in kw.items()})
    return Row("k1", values, 5)


@pytest.fixture
def rm(tmp_path: Path):  # type: ignore[no-untyped-def]
    return resolve(mapping(tmp_path, FULL), HEADERS, "x.csv")  # type: ignore[arg-type]


def test_contact_with_all_variable_kinds(rm) -> None:  # type: ignore[no-untyped-def]
    c = map_row(rm, row())
    assert isinstance(c, Contact)
    assert c.to_phone_number == "+33612345678" and c.line == 5 and c.key == "k1"
    assert c.prompt_variables == {
        "first_name": "Ann",
        "company": "Acme",
        "product": "Revox Pro",
        "greeting": "Hi Ann from Acme",
    }


@pytest.mark.parametrize("status", ["Ready", " ready ", "READY", ""])
def test_include_when_ignores_case_and_spaces(rm, status: str) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(map_row(rm, row(Status=status)), Contact)


def test_rows_not_included_are_filtered(rm) -> None:  # type: ignore[no-untyped-def]
    assert map_row(rm, row(Status="Later")) is None
    assert map_row(rm, Row(None, {h: " " for h in HEADERS}, 3)) is None  # blank row


@pytest.mark.parametrize("flag", ["yes", " X ", "Yes"])
def test_skip_when_gives_do_not_call(rm, flag: str) -> None:  # type: ignore[no-untyped-def]
    r = map_row(rm, row(Do_not_call=flag))
    assert isinstance(r, Rejection) and r.reason == "do_not_call"


def test_required_variable(rm) -> None:  # type: ignore[no-untyped-def]
    r = map_row(rm, row(Company="  "))
    assert isinstance(r, Rejection) and r.reason == "missing_variable"
    assert "company" in r.message and r.to_phone_number == "+33612345678"


def test_country_column_wins_over_default_region(rm) -> None:  # type: ignore[no-untyped-def]
    c = map_row(rm, row(Phone="(202) 555-0143", Country="us"))
    assert isinstance(c, Contact) and c.to_phone_number == "+12025550143"
    own = map_row(rm, row(Phone="+44 7911 123456", Country="US"))
    assert isinstance(own, Contact) and own.to_phone_number == "+447911123456"
    bad = map_row(rm, row(Phone="202 555 0143", Country="USA"))
    assert isinstance(bad, Rejection) and "ISO 3166" in bad.message


def test_phone_rejections_carry_the_input(rm) -> None:  # type: ignore[no-untyped-def]
    r = map_row(rm, row(Phone=""))
    assert isinstance(r, Rejection) and r.reason == "missing_phone" and r.phone_input == ""
    r = map_row(rm, row(Phone="abc"))
    assert isinstance(r, Rejection) and r.reason == "invalid_phone" and r.phone_input == "abc"


def test_missing_columns_listed_with_headers_found(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        FULL.replace("country_column: country", "country_column: Pays").replace(
            "{Company}", "{Firm}"
        ),
    )
    with pytest.raises(ConfigError) as err:
        resolve(m, HEADERS, "x.csv")  # type: ignore[arg-type]
    text = str(err.value)
    assert "'Pays'" in text and "'Firm'" in text
    assert "(headers: First name, Company" in text
    assert len(err.value.problems) == 2
