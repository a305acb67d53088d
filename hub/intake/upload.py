"""An uploaded file to a ``SheetFile``: the format is decided by the bytes (an XLSX is a zip, ``PK``), not by the name
or the declared type alone; anything else gets a refusal that says what the file seems to be and what to send."""

from __future__ import annotations

from hub.intake.csvfile import read_csv
from hub.intake.errors import EmptyUploadError, NotASpreadsheetError
from hub.intake.sheets import SheetFile
from hub.intake.xlsxfile import read_xlsx

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_HOW = "send the file itself as the request body, with Content-Type text/csv or " + XLSX_TYPE
_MAGIC = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an Excel 97-2003 workbook (.xls) or a password-protected workbook: "
        "save it as .xlsx without a password, or as CSV",
    ),
    (b"%PDF", "a PDF document, not a spreadsheet"),
    (b"\x89PNG", "a PNG image, not a spreadsheet"),
    (b"\xff\xd8\xff", "a JPEG image, not a spreadsheet"),
    (b"GIF8", "a GIF image, not a spreadsheet"),
    (b"\x1f\x8b", "a gzip archive: unpack it and send the spreadsheet"),
    (b"7z\xbc\xaf", "a 7-Zip archive: unpack it and send the spreadsheet"),
    (b"Rar!", "a RAR archive: unpack it and send the spreadsheet"),
    (b"{\\rtf", "an RTF document, not a spreadsheet"),
)
_MARKUP = (b"<!doctype html", b"<html", b"<?xml", b"<table", b"<workbook", b"<?mso")


def read_upload(data: bytes, content_type: str | None = None) -> SheetFile:
    """The sheet(s) in ``data``; ``SheetError`` subclasses for what cannot be read as CSV or XLSX."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared.startswith("multipart/"):
        raise NotASpreadsheetError(f"a multipart form: {_HOW}")
    if declared == "application/json" or declared.endswith("+json"):
        raise NotASpreadsheetError(f"JSON: {_HOW}")
    if not data:
        raise EmptyUploadError(f"the body is empty: {_HOW}")
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return read_xlsx(data)
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise NotASpreadsheetError(what)
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_MARKUP):
        raise NotASpreadsheetError(
            "an HTML or XML document (some systems save these with an .xls name): open it in Excel and save it as "
            ".xlsx or CSV"
        )
    sheet = read_csv(data)
    if declared == XLSX_TYPE:
        sheet.notes.insert(0, "sent as XLSX, but the file is CSV text: read as CSV")
    return sheet
