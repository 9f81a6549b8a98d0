"""Reading a county's resident spreadsheet (.xlsx, or .csv as Excel saves it:
UTF-8 with or without BOM, or GBK/GB18030) into numbered rows of text cells."""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from typing import IO

from openpyxl import load_workbook

from services.core.errors import ValidationFailed


def unreadable(reason: str) -> ValidationFailed:
    return ValidationFailed(f"无法读取文件：{reason}", code="IMPORT_UNREADABLE", errors={"file": [reason]})


def _cell(value) -> object:
    """A cell as text, except real dates; numbers typed into Excel lose no digits they still have."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _xlsx_rows(stream: IO[bytes]) -> Iterator[list]:
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise unreadable("不是有效的 Excel（.xlsx）文件") from exc
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        book.close()


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise unreadable("CSV 文件编码无法识别（请另存为 UTF-8 或 GBK 编码）")


def _csv_rows(stream: IO[bytes]) -> Iterator[list]:
    text = _decode(stream.read())
    if "\x00" in text:
        raise unreadable("CSV 文件包含无效字符")
    try:
        for row in csv.reader(io.StringIO(text)):
            yield [c.strip() for c in row]
    except csv.Error as exc:
        raise unreadable("CSV 格式错误") from exc


def read_sheet(filename: str, stream: IO[bytes]) -> tuple[list[str], Iterator[tuple[int, list]]]:
    """(headers, rows) where each row is (spreadsheet row number, cells); the header is row 1.
    Blank rows are skipped."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        rows = _xlsx_rows(stream)
    elif name.endswith(".csv"):
        rows = _csv_rows(stream)
    else:
        raise unreadable("仅支持 .xlsx 或 .csv 文件")
    try:
        headers = [str(h).strip() for h in next(rows)]
    except StopIteration as exc:
        raise unreadable("文件为空") from exc
    while headers and headers[-1] == "":
        headers.pop()

    def numbered() -> Iterator[tuple[int, list]]:
        for number, cells in enumerate(rows, start=2):
            if any(c not in ("", None) for c in cells):
                yield number, cells
    return headers, numbered()
