"""Files the hub hands out: a blank sheet for a template (CSV, or XLSX with the checks Excel can make itself) and a
check's problems as CSV. Every cell goes through ``safe_cell``: nothing exported runs as a formula."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from hub.domain.cells import safe_cell
from hub.intake.fields import FieldSpec, FieldType
from hub.intake.numbers import decimal_text
from hub.intake.sheets import MAX_ROWS

REPORT_COLUMNS = ("row", "column", "cell", "value", "reason")


def _csv(rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a BOM (so Excel reads it as UTF-8) and CRLF line ends, every cell defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def blank_csv(fields: Sequence[FieldSpec]) -> bytes:
    return _csv([[f.column_header for f in fields]])


def report_csv(problems: Iterable[Mapping[str, Any]]) -> bytes:
    """One line per problem: row, column, cell, value, reason."""
    return _csv([REPORT_COLUMNS, *([p.get(c) for c in REPORT_COLUMNS] for p in problems)])


def _validation(spec: FieldSpec, choices_ref: str | None) -> DataValidation | None:
    message = f"{spec.label}: "
    if spec.type == FieldType.ENUM and choices_ref is not None:
        check = DataValidation(type="list", formula1=choices_ref)
        message += "pick one of the list"
    elif spec.type == FieldType.NUMBER:
        low, high = spec.effective_range
        kind: Literal["whole", "decimal"] = "whole" if spec.integer else "decimal"
        if low is not None and high is not None:
            check = DataValidation(kind, operator="between", formula1=decimal_text(low), formula2=decimal_text(high))
            message += f"a number from {decimal_text(low)} to {decimal_text(high)}"
        elif low is not None:
            check = DataValidation(kind, operator="greaterThanOrEqual", formula1=decimal_text(low))
            message += f"a number of at least {decimal_text(low)}"
        elif high is not None:
            check = DataValidation(kind, operator="lessThanOrEqual", formula1=decimal_text(high))
            message += f"a number of at most {decimal_text(high)}"
        else:
            check = DataValidation(kind, operator="between", formula1="-1E+30", formula2="1E+30")
            message += "a number"
    elif spec.type == FieldType.TEXT:
        limit = spec.effective_max_length
        check = DataValidation("textLength", operator="lessThanOrEqual", formula1=str(limit))
        message += f"at most {limit} characters"
    else:
        return None
    check.allow_blank = not spec.required
    check.showErrorMessage = True
    check.errorTitle = "Not allowed here"
    check.error = safe_cell(message)[:255]
    if spec.help:
        check.showInputMessage = True
        check.promptTitle = safe_cell(spec.label)[:32]
        check.prompt = safe_cell(spec.help)[:255]
    return check


def blank_xlsx(fields: Sequence[FieldSpec], *, title: str, rows: int = MAX_ROWS) -> bytes:
    """A workbook with one header row: enum columns offer their choices (a list kept on a hidden sheet), numbers
    and text lengths are checked by Excel as they are typed, text columns are formatted as text (so Excel keeps
    leading zeros and long barcodes), date columns as ISO dates."""
    workbook = Workbook()
    sheet = workbook.worksheets[0]
    sheet.title = "Samples"
    workbook.properties.title = safe_cell(title)[:255]
    workbook.properties.creator = "TracSeq"
    lists = workbook.create_sheet("Choices")
    lists.sheet_state = "hidden"
    sheet.append([safe_cell(f.column_header) for f in fields])
    list_column = 0
    for index, spec in enumerate(fields, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=1, column=index)
        header.font = Font(bold=True)
        if spec.help:
            header.comment = Comment(safe_cell(spec.help), "TracSeq")
        sheet.column_dimensions[letter].width = max(12, min(40, len(spec.column_header) + 2))
        if spec.type == FieldType.TEXT:
            sheet.column_dimensions[letter].number_format = "@"
        elif spec.type == FieldType.DATE:
            sheet.column_dimensions[letter].number_format = "yyyy-mm-dd"
        choices_ref = None
        if spec.type == FieldType.ENUM and spec.choices:
            list_column += 1
            list_letter = get_column_letter(list_column)
            for row, choice in enumerate(spec.choices, start=1):
                lists.cell(row=row, column=list_column, value=safe_cell(choice))
            choices_ref = f"=Choices!${list_letter}$1:${list_letter}${len(spec.choices)}"
        check = _validation(spec, choices_ref)
        if check is not None:
            sheet.add_data_validation(check)
            check.add(f"{letter}2:{letter}{rows + 1}")
    sheet.freeze_panes = "A2"
    if not list_column:
        workbook.remove(lists)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
