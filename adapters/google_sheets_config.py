"""The ``source:`` block of a Google Sheets mapping, apart from the adapter: reading a
mapping must not import gspread and google-auth (about 0.2 s), only opening the source does."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class GoogleSheetsSourceConfig(BaseModel):
    """The ``source:`` block of a mapping for ``type: google_sheets``."""

    model_config = ConfigDict(extra="forbid")

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
