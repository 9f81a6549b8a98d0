"""A streaming Excel (.xlsx) writer for registers and tables of any length.

openpyxl's write-only mode writes each row to a temporary file as it is
appended, so rows come from an iterator (a database result read in batches)
and a 100,000-row register costs the memory of one row, not of the sheet.
The finished workbook is saved into an anonymous temporary file that the
caller sends and closes.

What a county office expects of the file, decided here once for every sheet:

- headers in Chinese, bold on a tinted row, frozen (the header stays in view
  while scrolling; below an optional heading and notes when a sheet has
  them), repeated on every printed page, with an autofilter over the table;
- each column as wide as set (CJK characters count double), never guessed
  from the data (the data is streamed, never held);
- dates as real date cells (`yyyy-mm-dd`), so they sort and filter as dates;
- money in yuan (元) with two decimals and thousands separators, the header
  saying （元）: offices sum and report in yuan, and a column of fen would be
  misread by a factor of 100. The service hands over integer fen (the
  project's one money unit); the writer divides by 100 at the last moment, so
  each figure is exact to the fen and a column sums exactly as its fen would.
  The JSON API keeps integer `_fen` fields for machines;
- rates (0..1) as percentages, averages with two decimals;
- text always as text: a value starting with "=" never becomes a formula
  (names and addresses come from imported spreadsheets), characters XML
  cannot hold are dropped.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from services.core import clock

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CREATOR = "家庭医生签约服务系统"

# kind -> Excel number format of its cells (text and int cells keep the default "General")
NUMBER_FORMATS = {
    "text": None,
    "int": None,
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "money": "#,##0.00",
    "decimal": "0.00",
    "rate": "0.0%",
}
MIN_WIDTH = 8

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)
_HEADER_BORDER = Border(bottom=Side(style="thin", color="808080"))
_HEADING_FONT = Font(bold=True, size=14)
_NOTE_FONT = Font(color="595959")


def display_width(text: str) -> int:
    """Excel column units: a CJK (wide) character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@dataclass(frozen=True)
class Column:
    """One column: its Chinese header, its width in Excel units (None: the
    header's width plus a margin) and the kind of its values:

    text      any value, written as text (str() of non-strings)
    int       an integer
    date      a `datetime.date`
    datetime  an aware `datetime`, shown in the deployment's time zone
    money     integer fen, shown in yuan with two decimals
    decimal   a number shown with two decimals (an average score)
    rate      a fraction 0..1 shown as a percentage

    None is an empty cell in every kind.
    """

    header: str
    width: float | None = None
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in NUMBER_FORMATS:
            raise ValueError(f"unknown column kind {self.kind!r}; one of {', '.join(NUMBER_FORMATS)}")

    @property
    def excel_width(self) -> float:
        return self.width if self.width is not None else max(MIN_WIDTH, display_width(self.header) + 2)


@dataclass
class Sheet:
    """A tab: `title` (at most 31 characters, none of []:*?/\\), its columns,
    and its rows, an iterable of sequences as long as `columns`, consumed once,
    in order. An optional `heading` (bold, larger) and `notes` (one line each:
    the period, the filters, when it was exported) go above the header row,
    which is then frozen below them."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    heading: str | None = None
    notes: Sequence[str] = field(default_factory=tuple)

    @property
    def header_row(self) -> int:
        """The 1-based row of the column headers (the data starts below it)."""
        return 1 + (1 if self.heading else 0) + len(self.notes)


def write_workbook(sheets: Iterable[Sheet]) -> IO[bytes]:
    """Write the sheets, in order, into a new workbook; returns an anonymous
    temporary file (deleted when closed) positioned at its start. The caller
    sends it and closes it. On any error, nothing is left on disk."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = CREATOR
    out = tempfile.TemporaryFile(prefix="fdoc-export-", suffix=".xlsx")  # noqa: SIM115 - the caller closes it
    try:
        written = 0
        for sheet in sheets:
            _write_sheet(workbook, sheet)
            written += 1
        if not written:
            raise ValueError("a workbook needs at least one sheet")
        workbook.save(out)
    except BaseException:
        _discard(workbook)
        out.close()
        raise
    out.seek(0)
    return out


# --- the sheet ----------------------------------------------------------------

def _write_sheet(workbook: Workbook, sheet: Sheet) -> None:
    ws = workbook.create_sheet(sheet.title)
    columns = list(sheet.columns)
    if not columns:
        raise ValueError(f"sheet {sheet.title!r} has no columns")
    # Layout first: write-only mode writes widths and panes before the first row.
    for index, column in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(index)].width = column.excel_width
    header_row = sheet.header_row
    ws.freeze_panes = f"A{header_row + 1}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    if sheet.heading:
        ws.append([_styled(ws, sheet.heading, font=_HEADING_FONT)])
    for note in sheet.notes:
        ws.append([_styled(ws, note, font=_NOTE_FONT)])
    ws.append([_styled(ws, c.header, font=_HEADER_FONT, fill=_HEADER_FILL, alignment=_HEADER_ALIGNMENT,
                       border=_HEADER_BORDER) for c in columns])
    converters = [_converter(ws, c) for c in columns]
    count = 0
    for values in sheet.rows:
        if len(values) != len(converters):
            raise ValueError(f"sheet {sheet.title!r}: a row of {len(values)} values for {len(converters)} columns")
        ws.append([convert(value) for convert, value in zip(converters, values, strict=True)])
        count += 1
    # The filter is written after the rows, so it can span exactly the rows written.
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(columns))}{header_row + count}"


def _styled(ws, value: str, **style) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=_clean(value))
    cell.data_type = "s"
    for name, spec in style.items():
        setattr(cell, name, spec)
    return cell


def _clean(text: str) -> str:
    text = str(text)
    return ILLEGAL_CHARACTERS_RE.sub("", text) if ILLEGAL_CHARACTERS_RE.search(text) else text


def _converter(ws, column: Column) -> Callable[[Any], Any]:
    """value -> what `append` takes: a plain value for text and int cells, else
    the column's one styled cell with the value set (write-only mode writes a
    row out as it is appended, so one cell per column serves every row)."""
    kind = column.kind
    if kind == "int":
        return _int
    if kind == "text":
        formula_safe = WriteOnlyCell(ws)
        formula_safe.number_format = "@"  # Excel's Text format; styled, so append() never reuses it

        def text(value: Any) -> Any:
            if value is None:
                return None
            value = _clean(value)
            if value.startswith("="):  # plain text, never a formula
                formula_safe.value = value
                formula_safe.data_type = "s"
                return formula_safe
            return value

        return text

    cell = WriteOnlyCell(ws)
    cell.number_format = NUMBER_FORMATS[kind]
    shape = _SHAPES[kind]

    def styled(value: Any) -> Any:
        if value is None:
            return None
        cell.value = shape(value)
        return cell

    return styled


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _date(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        raise TypeError("a date column takes dates; use kind='datetime' for instants")
    return value


def _datetime(value: dt.datetime) -> dt.datetime:
    """Excel has no time zones: the instant as wall time in the deployment's zone."""
    return clock.to_local(value).replace(tzinfo=None)


def _yuan(fen: int) -> float:
    # fen / 100 is the double nearest the exact yuan amount; its shortest repr,
    # which is what goes into the file, is the exact decimal ("12.34").
    return int(fen) / 100


_SHAPES: dict[str, Callable[[Any], Any]] = {
    "date": _date, "datetime": _datetime, "money": _yuan, "decimal": float, "rate": float,
}


def _discard(workbook: Workbook) -> None:
    """Remove the per-sheet temporary files of a workbook that will not be saved
    (openpyxl would keep them until the process exits)."""
    for ws in workbook.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        with contextlib.suppress(Exception):
            rows = getattr(ws, "_rows", None)
            if rows is not None:
                rows.close()
            writer.close()
        with contextlib.suppress(Exception):
            writer.cleanup()
