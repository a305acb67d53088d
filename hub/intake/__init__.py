"""Intake sheets: template fields, reading CSV and XLSX uploads safely, checking them cell by cell, and the blank
sheets and reports handed back. Pure code: no web framework, no database.

    upload = read_upload(data, content_type)         # SheetError subclasses for what is not a spreadsheet
    check = check_sheet(upload, fields)              # every problem by row, column and reason; each row's values
    blank_xlsx(fields, title="Blood intake")         # a sheet to fill in, with Excel's own checks
"""

from hub.intake.checking import CheckedRow, Problem, SheetCheck, check_sheet
from hub.intake.dates import EXCEL_1900, EXCEL_1904, from_serial, parse_date_text
from hub.intake.errors import (
    EmptyUploadError,
    NotASpreadsheetError,
    SheetError,
    SheetTooLargeError,
    UnreadableSheetError,
)
from hub.intake.fields import (
    FieldSpec,
    FieldType,
    Target,
    canonical,
    check_fields,
    check_pattern,
    content_hash,
    header_key,
    load_fields,
)
from hub.intake.numbers import decimal_text, parse_number
from hub.intake.sheets import MAX_COLUMNS, MAX_ROWS, Sheet, SheetFile
from hub.intake.upload import XLSX_TYPE, read_upload
from hub.intake.values import Cell, Parsed, Reading, Value, parse_cell, shown
from hub.intake.writing import blank_csv, blank_xlsx, report_csv

__all__ = [
    "EXCEL_1900",
    "EXCEL_1904",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "XLSX_TYPE",
    "Cell",
    "CheckedRow",
    "EmptyUploadError",
    "FieldSpec",
    "FieldType",
    "NotASpreadsheetError",
    "Parsed",
    "Problem",
    "Reading",
    "Sheet",
    "SheetCheck",
    "SheetError",
    "SheetFile",
    "SheetTooLargeError",
    "Target",
    "UnreadableSheetError",
    "Value",
    "blank_csv",
    "blank_xlsx",
    "canonical",
    "check_fields",
    "check_pattern",
    "check_sheet",
    "content_hash",
    "decimal_text",
    "from_serial",
    "header_key",
    "load_fields",
    "parse_cell",
    "parse_date_text",
    "parse_number",
    "read_upload",
    "report_csv",
    "shown",
]
