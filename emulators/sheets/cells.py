"""The cells of the Sheets emulator: spreadsheets, A1 ranges, rendering and input parsing.

Pure data, no HTTP: ``emulators.sheets.api`` serves it. Follows the Sheets API v4 rules the
adapter depends on: A1 ranges with quoted sheet names, grid limits, UNFORMATTED/FORMATTED
rendering, RAW/USER_ENTERED input (numbers, ISO dates as serials, arithmetic formulas),
trailing-empty trimming, and the structural requests of ``spreadsheets:batchUpdate``.
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_CELLS = 10_000_000
_EPOCH = dt.date(1899, 12, 30)
ENDPOINT = re.compile(r"^([A-Za-z]{0,3})(\d*)$")
_NUMBER = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)?(\.\d+)?([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Formula:
    """A formula cell (entered with USER_ENTERED and a leading ``=``)."""

    text: str


@dataclass(frozen=True)
class DateCell:
    """A date typed with USER_ENTERED: a serial number shown as ``text``."""

    serial: int
    text: str


class ApiError(Exception):
    """An error answer: ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass
class Sheet:
    sheet_id: int
    title: str
    index: int
    row_count: int
    col_count: int
    rows: list[list[Any]] = field(default_factory=list)

    def get(self, row: int, col: int) -> Any:
        """Stored value at 1-based (row, col); None when empty."""
        if row <= len(self.rows) and col <= len(self.rows[row - 1]):
            return self.rows[row - 1][col - 1]
        return None

    def put(self, row: int, col: int, value: Any) -> None:
        while len(self.rows) < row:
            self.rows.append([])
        cells = self.rows[row - 1]
        if len(cells) < col:
            if value is None:
                return
            cells.extend([None] * (col - len(cells)))
        cells[col - 1] = value

    def copy(self) -> Sheet:
        return Sheet(
            self.sheet_id,
            self.title,
            self.index,
            self.row_count,
            self.col_count,
            [list(r) for r in self.rows],
        )

    def properties(self) -> dict[str, Any]:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.col_count},
        }


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: list[Sheet]
    shared_with: set[str] | None = None

    def sheet(self, title: str | None) -> Sheet:
        if title is None:
            return min(self.sheets, key=lambda s: s.index)
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        raise KeyError(title)


@dataclass(frozen=True)
class Range:
    sheet: Sheet
    r0: int
    c0: int
    r1: int
    c1: int
    single: bool

    def echo(self) -> str:
        start = f"{col_letters(self.c0)}{self.r0}"
        cells = start if self.single else f"{start}:{col_letters(self.c1)}{self.r1}"
        return f"{quote_title(self.sheet.title)}!{cells}"


# -- A1 notation ---------------------------------------------------------------


def col_letters(col: int) -> str:
    letters = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_number(letters: str) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - 64
    return number


def quote_title(title: str) -> str:
    if _PLAIN_TITLE.match(title) and not re.match(r"^[A-Za-z]{1,3}\d+$", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_a1(a1: str) -> tuple[str | None, str | None]:
    """``'It''s'!A1:B2`` -> ("It's", "A1:B2"); a bare name or bare cells -> one side None."""
    if a1.startswith("'"):
        name, i = [], 1
        while i < len(a1):
            if a1[i] == "'":
                if a1[i + 1 : i + 2] == "'":
                    name.append("'")
                    i += 2
                    continue
                rest = a1[i + 1 :]
                if not rest:
                    return "".join(name), None
                if rest.startswith("!") and len(rest) > 1:
                    return "".join(name), rest[1:]
                break
            name.append(a1[i])
            i += 1
        raise ApiError(400, f"Unable to parse range: {a1}")
    if "!" in a1:
        title, _, cells = a1.rpartition("!")
        return title, cells
    parts = a1.split(":")
    cell_like = len(parts) <= 2 and all(ENDPOINT.match(p) and p for p in parts)
    if cell_like and (len(parts) == 2 or (re.search(r"[A-Za-z]", a1) and re.search(r"\d", a1))):
        return None, a1
    return a1, None


def parse_range(book: Spreadsheet, a1: str) -> Range:
    title, cells = split_a1(a1)
    try:
        sheet = book.sheet(title)
    except KeyError:
        raise ApiError(400, f"Unable to parse range: {a1}") from None
    if cells is None:
        return Range(sheet, 1, 1, sheet.row_count, sheet.col_count, False)
    parts = cells.split(":")
    matches = [ENDPOINT.match(p) for p in parts]
    if len(parts) > 2 or not all(m and p for m, p in zip(matches, parts, strict=True)):
        raise ApiError(400, f"Unable to parse range: {a1}")
    (c0s, r0s) = matches[0].groups()  # type: ignore[union-attr]
    if len(parts) == 1:
        if not (c0s and r0s):
            raise ApiError(400, f"Unable to parse range: {a1}")
        r, c = int(r0s), col_number(c0s)
        return check_grid(Range(sheet, r, c, r, c, True), a1)
    (c1s, r1s) = matches[1].groups()  # type: ignore[union-attr]
    r0 = int(r0s) if r0s else 1
    c0 = col_number(c0s) if c0s else 1
    r1 = int(r1s) if r1s else sheet.row_count
    c1 = col_number(c1s) if c1s else sheet.col_count
    r0, r1 = min(r0, r1), max(r0, r1)
    c0, c1 = min(c0, c1), max(c0, c1)
    return check_grid(Range(sheet, r0, c0, r1, c1, False), a1)


def check_grid(rng: Range, a1: str) -> Range:
    sheet = rng.sheet
    if rng.r1 > sheet.row_count or rng.c1 > sheet.col_count or rng.r0 < 1 or rng.c0 < 1:
        raise ApiError(
            400,
            f"Range ({a1}) exceeds grid limits. Max rows: {sheet.row_count}, "
            f"max columns: {sheet.col_count}",
        )
    return rng


# -- values ----------------------------------------------------------------------


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g").upper()


_OPS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(text: str) -> Any:
    """Arithmetic formulas only (``=4/2``); anything else shows ``#ERROR!``."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))  # type: ignore[no-any-return]
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))  # type: ignore[no-any-return]
        raise ValueError(text)

    try:
        result = walk(ast.parse(text.lstrip("=+"), mode="eval").body)
    except ZeroDivisionError:
        return "#DIV/0!"
    except (ValueError, SyntaxError):
        return "#ERROR!"
    return int(result) if float(result).is_integer() else result


def render(value: Any, value_option: str, date_option: str) -> Any:
    """A stored value as values.get returns it."""
    if value is None:
        return ""
    if isinstance(value, Formula):
        if value_option == "FORMULA":
            return value.text
        value = _evaluate(value.text)
    if isinstance(value, DateCell):
        if value_option == "FORMATTED_VALUE" or date_option == "FORMATTED_STRING":
            return value.text
        return value.serial
    if value_option == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return _format_number(value)
    return value


def parse_input(value: Any, option: str) -> Any:
    """A written value as stored: RAW keeps text verbatim, USER_ENTERED parses like the UI."""
    if isinstance(value, dict | list):
        raise ApiError(400, "Invalid values: struct_value / list_value is not a cell value")
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    if option == "RAW":
        return value
    if value.startswith("'"):
        return value[1:]
    if value.startswith("="):
        return Formula(value)
    upper = value.upper()
    if upper in ("TRUE", "FALSE"):
        return upper == "TRUE"
    if _NUMBER.match(value) and any(ch.isdigit() for ch in value):
        number = float(value.replace(",", ""))
        plain = re.fullmatch(r"[+-]?[\d,]+", value) and abs(number) < 1e15
        return int(number) if plain else number
    if value.startswith("+"):
        return Formula("=" + value[1:])
    date = _ISO_DATE.match(value)
    if date:
        try:
            day = dt.date(*(int(g) for g in date.groups()))
        except ValueError:
            return value
        return DateCell((day - _EPOCH).days, value)
    return value


def trim(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        end = len(row)
        while end and row[end - 1] == "":
            end -= 1
        out.append(row[:end])
    while out and not out[-1]:
        out.pop()
    return out


def read_range(rng: Range, query: Mapping[str, list[str]]) -> dict[str, Any]:
    value_option = one(query, "valueRenderOption", "FORMATTED_VALUE")
    date_option = one(query, "dateTimeRenderOption", "SERIAL_NUMBER")
    major = one(query, "majorDimension", "ROWS")
    sheet = rng.sheet
    last_row = min(rng.r1, len(sheet.rows))
    rows = [
        [render(sheet.get(r, c), value_option, date_option) for c in range(rng.c0, rng.c1 + 1)]
        for r in range(rng.r0, last_row + 1)
    ]
    if major == "COLUMNS":
        rows = [list(col) for col in zip(*rows, strict=True)] if rows else []
    body: dict[str, Any] = {"range": rng.echo(), "majorDimension": major}
    values = trim(rows)
    if values:
        body["values"] = values
    return body


def one(query: Mapping[str, list[str]], name: str, default: str) -> str:
    values = query.get(name)
    return values[-1] if values else default


def structure_step(sheets: list[Sheet], kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    def by_id(sheet_id: Any) -> Sheet:
        for sheet in sheets:
            if sheet.sheet_id == int(sheet_id or 0):
                return sheet
        raise ValueError(f"No grid with id: {sheet_id}")

    if kind == "updateSheetProperties":
        props = params["properties"]
        sheet = by_id(props.get("sheetId"))
        grid = props.get("gridProperties") or {}
        for mask in str(params.get("fields", "")).replace("/", ".").split(","):
            mask = mask.strip()
            if mask in ("title", "*") and "title" in props:
                sheet.title = props["title"]
            if mask in ("gridProperties.rowCount", "gridProperties", "*") and "rowCount" in grid:
                sheet.row_count = int(grid["rowCount"])
                sheet.rows = sheet.rows[: sheet.row_count]
            if (
                mask in ("gridProperties.columnCount", "gridProperties", "*")
                and "columnCount" in grid
            ):
                sheet.col_count = int(grid["columnCount"])
                sheet.rows = [r[: sheet.col_count] for r in sheet.rows]
        if sheet.row_count < 1 or sheet.col_count < 1:
            raise ValueError("grid must keep at least one row and one column")
        return {}
    if kind == "appendDimension":
        sheet = by_id(params.get("sheetId"))
        length = int(params["length"])
        if length < 1:
            raise ValueError("length must be positive")
        if params.get("dimension") == "COLUMNS":
            sheet.col_count += length
        elif params.get("dimension") == "ROWS":
            sheet.row_count += length
        else:
            raise ValueError("dimension must be ROWS or COLUMNS")
        return {}
    raise ValueError(f"unsupported request kind {kind}")
