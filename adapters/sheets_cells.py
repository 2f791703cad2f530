"""The Google Sheets source's values: its ``source:`` block, cells as text, the header.

Split from ``google_sheets.py`` (the source: reads, key lookups, writes): what a sheet's
values and header mean, with no request in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gspread.utils import absolute_range_name, rowcol_to_a1
from pydantic import Field, field_validator

from adapters.base import norm
from adapters.plugin import SourceConfigBase

_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_ID = re.compile(r"^[A-Za-z0-9_-]{10,200}$")


def spreadsheet_id_from(value: str) -> str:
    """The spreadsheet id in a Google Sheets URL, or the bare id itself."""
    text = value.strip()
    if "/" in text:
        match = _URL_ID.search(text)
        if match and text.startswith(("https://", "http://", "docs.google.com/")):
            return match.group(1)
        raise ValueError(
            "not a Google Sheets URL: expected https://docs.google.com/spreadsheets/d/<id>/..."
        )
    if _BARE_ID.match(text):
        return text
    raise ValueError("expected a Google Sheets URL or a spreadsheet id (letters, digits, - and _)")


class GoogleSheetsSourceConfig(SourceConfigBase):
    """The ``source:`` block of a mapping for ``type: google_sheets``."""

    type: Literal["google_sheets"]
    spreadsheet: str
    worksheet: str | None = None
    header_row: int = Field(default=1, ge=1)
    key_column: str = "Revox ID"

    @field_validator("spreadsheet")
    @classmethod
    def _valid_spreadsheet(cls, value: str) -> str:
        spreadsheet_id_from(value)
        return value.strip()

    @field_validator("worksheet", "key_column")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @property
    def spreadsheet_id(self) -> str:
        """The id part of ``spreadsheet``."""
        return spreadsheet_id_from(self.spreadsheet)


def cell_text(value: object) -> str:
    """An unformatted cell value as the text the user typed (numbers without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def column_texts(value_range: Mapping[str, Any]) -> list[str]:
    """The one column of a values answer read by columns (``majorDimension=COLUMNS``) as
    stripped texts, index = line - 1 (a blank cell is "")."""
    column: list[Any] = (value_range.get("values") or [[]])[0]
    try:
        return list(map(str.strip, column))
    except TypeError:  # numbers or booleans among the texts
        return [cell_text(value).strip() for value in column]


def row_of_columns(value_range: Mapping[str, Any]) -> list[Any]:
    """The one row of a values answer read by columns, as a row of cells (blank: "")."""
    return [column[0] if column else "" for column in value_range.get("values") or []]


def at_line(column: list[str], line: int) -> str:
    return column[line - 1] if 0 < line <= len(column) else ""


def col_letters(col: int) -> str:
    return rowcol_to_a1(1, col)[:-1]


@dataclass
class SheetMeta:
    sheet_id: int
    title: str
    row_count: int
    col_count: int


@dataclass(frozen=True)
class Header:
    cells: tuple[str, ...]

    def column(self, name: str) -> int | None:
        """1-based column of ``name`` (case and surrounding spaces ignored)."""
        wanted = norm(name)
        for index, cell in enumerate(self.cells, start=1):
            if cell.strip() and norm(cell) == wanted:
                return index
        return None

    @property
    def names(self) -> list[str]:
        return [cell for cell in self.cells if cell.strip()]


def key_range(meta: SheetMeta, col: int) -> str:
    letters = col_letters(col)
    return a1(meta, f"{letters}1:{letters}")


def a1(meta: SheetMeta, cells: str | None = None) -> str:
    return absolute_range_name(meta.title, cells)
