"""XLSX workbooks, read safely: the zip's entry count and declared sizes are checked before anything is unpacked
(Python's zipfile never inflates an entry past its declared size, so the declared total bounds the work), XML that
declares a DTD is refused (entity expansion), and openpyxl reads in read-only mode the values Excel last computed.
Every error openpyxl or zipfile raises on a damaged file becomes ``UnreadableSheetError``."""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from datetime import date
from typing import Any

import openpyxl

from hub.intake.dates import EXCEL_1900, EXCEL_1904
from hub.intake.errors import NotASpreadsheetError, SheetError, SheetTooLargeError, UnreadableSheetError
from hub.intake.sheets import MAX_COLUMNS, MAX_SHEETS, Sheet, SheetBuilder, SheetFile
from hub.intake.values import Cell, Reading

MAX_ENTRIES = 500
MAX_UNPACKED = 64 * 1024 * 1024  # all entries together, as the zip declares them
EXCEL_MAX_ROW = 1_048_576
_PROLOG_LIMIT = 64 * 1024
_ROOT_ELEMENT = re.compile(rb"<[A-Za-z_]")
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")  # how OOXML writes a control character (and _x005F_ an underscore)
_UNCOMPUTED = re.compile(rb"(?:</f>|<f\b[^>]*/>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>")  # a formula, no value


def _prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The bytes of an XML entry before its root element (where a DTD would be)."""
    seen = b""
    with archive.open(info) as entry:
        while len(seen) < _PROLOG_LIMIT:
            chunk = entry.read(4096)
            if not chunk:
                break
            seen += chunk
            root = _ROOT_ELEMENT.search(seen)
            if root is not None:
                return seen[: root.start()]
    return seen


def check_archive(data: bytes) -> None:
    """Refuse a zip that is not a workbook, would unpack to too much, or holds XML with a DTD."""
    try:
        _check_archive(data)
    except SheetError:
        raise
    except Exception as exc:  # zipfile and zlib on a damaged zip: BadZipFile, NotImplementedError, zlib.error…
        raise UnreadableSheetError(f"not a readable XLSX file: the zip is damaged ({exc})"[:300]) from exc


def _check_archive(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise SheetTooLargeError(f"the XLSX zip holds {len(infos)} entries; a workbook has far fewer")
        unpacked = sum(i.file_size for i in infos)
        if unpacked > MAX_UNPACKED:
            raise SheetTooLargeError(
                f"the XLSX unpacks to {unpacked} bytes, more than {MAX_UNPACKED} (a zip bomb, or a workbook too "
                "large for one upload: split it)"
            )
        names = {i.filename for i in infos}
        if "mimetype" in names and b"opendocument" in archive.read("mimetype")[:200]:
            raise NotASpreadsheetError("an OpenDocument file (.ods): save it as .xlsx or CSV")
        if "xl/workbook.xml" not in names:
            kind = "a Word document" if "word/document.xml" in names else "a zip file"
            raise NotASpreadsheetError(f"{kind}, not an Excel workbook (.xlsx)")
        if any(i.flag_bits & 0x1 for i in infos):
            raise NotASpreadsheetError("an encrypted zip: save the workbook without a password")
        for info in infos:
            if info.filename.endswith((".xml", ".rels", ".vml")) and _DTD.search(_prolog(archive, info)):
                raise UnreadableSheetError(f"the XLSX part {info.filename} declares a DTD; refused")


def _uncomputed_formulas(data: bytes) -> int:
    """Formula cells without a stored result (a file written by a program and never opened in a spreadsheet):
    reading values, these are empty."""
    found = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
                continue
            tail = b""
            with archive.open(info) as entry:
                while chunk := entry.read(1 << 20):
                    text = tail + chunk
                    cut = text.rfind(b"</c>") + 4 if b"</c>" in text else 0
                    found += len(_UNCOMPUTED.findall(text[:cut]))
                    tail = text[cut:][-4096:]
    return found


def _character(match: re.Match[str]) -> str:
    code = int(match[1], 16)
    return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)  # a lone surrogate is not text


def _unescaped(value: Cell) -> Cell:
    if isinstance(value, str) and "_x" in value:
        return _ESCAPED.sub(_character, value)
    return value


def _read_worksheet(worksheet: Any) -> Sheet:
    worksheet.reset_dimensions()  # the stored dimension may be wrong; read what is there, within the limits
    builder = SheetBuilder(str(worksheet.title))
    rows = worksheet.iter_rows(min_row=1, max_row=EXCEL_MAX_ROW, max_col=MAX_COLUMNS, values_only=True)
    for number, values in enumerate(rows, start=1):
        if values.count(None) == len(values):
            continue
        if not builder.add(number, tuple(_unescaped(v) for v in values)):
            break
    return builder.build()


def read_xlsx(data: bytes) -> SheetFile:
    check_archive(data)
    try:
        with warnings.catch_warnings():  # openpyxl warns about styles and extensions it drops: not the user's problem
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
            try:
                visible = [ws for ws in workbook.worksheets if ws.sheet_state == "visible"]
                sheets = [_read_worksheet(ws) for ws in visible[:MAX_SHEETS]]
                epoch: date = EXCEL_1904 if workbook.epoch.year == 1904 else EXCEL_1900
            finally:
                workbook.close()
    except SheetError:
        raise
    except Exception as exc:  # openpyxl raises what its parsers raise (KeyError, ValueError, ParseError…)
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise UnreadableSheetError(f"the XLSX file cannot be read ({detail})") from exc
    if not sheets:
        raise UnreadableSheetError("the workbook has no visible worksheet")
    notes = []
    try:
        uncomputed = _uncomputed_formulas(data)
    except Exception as exc:  # the same damage openpyxl would have met
        raise UnreadableSheetError(f"the XLSX file cannot be read ({type(exc).__name__})") from exc
    if uncomputed:
        notes.append(
            f"{uncomputed} cells hold formulas no spreadsheet has computed (the file was written by a program): "
            "they read as empty; open and save the file in Excel, or paste values"
        )
    if len(visible) > 1:
        notes.append(f"the workbook has {len(visible)} visible worksheets")
    if epoch == EXCEL_1904:
        notes.append("the workbook counts dates from 1904 (older Mac Excel)")
    return SheetFile("xlsx", sheets, Reading(decimal_comma=False, epoch=epoch), notes)
