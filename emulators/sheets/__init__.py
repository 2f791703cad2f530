"""The Google Sheets API v4 emulator (``api.py``: HTTP, auth, quotas; ``cells.py``: the data)."""

from emulators.sheets.api import SheetsEmulator
from emulators.sheets.cells import ApiError, DateCell, Formula, Sheet, Spreadsheet

__all__ = ["ApiError", "DateCell", "Formula", "Sheet", "SheetsEmulator", "Spreadsheet"]
