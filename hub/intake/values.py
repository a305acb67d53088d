"""One cell read for one field: the typed value, or the reason it cannot be one.

Text is cleaned of control characters (the clean-up is counted, so the report can say so), except where a hidden
character would change what a value *is*: in a barcode it is a problem. A cell that starts like a formula is
refused: a CSV from a spreadsheet holds values, and a formula stored here could run when a sheet is exported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from hub.domain.cells import clean_text, has_control_characters
from hub.intake.dates import EXCEL_1900, from_serial, parse_date_text
from hub.intake.fields import TARGET_DECIMALS, FieldSpec, FieldType, Target
from hub.intake.numbers import bounded, decimal_text, parse_number

Cell = str | int | float | Decimal | bool | datetime | date | time | timedelta | None
Value = str | Decimal | date

_FORMULA = re.compile(r"^(=|[+\-@]\s*[A-Za-z_][\w.]*\s*[(|!])")
_DEFUSED = re.compile(r"^'[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]")  # our own export's ' before a formula character
_EXCEL_ERRORS = {
    "#N/A",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#NULL!",
    "#SPILL!",
    "#CALC!",
    "#GETTING_DATA",
}
_SHORTENED_NUMBER = re.compile(r"^\d(\.\d+)?[eE]\+\d+$")
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029\ufeff\u200b-\u200f\u202a-\u202e]")


@dataclass(frozen=True, slots=True)
class Reading:
    """How the sheet writes things: ``decimal_comma`` for ``12,5``; ``epoch`` for date serial numbers."""

    decimal_comma: bool = False
    epoch: date = EXCEL_1900


@dataclass(frozen=True, slots=True)
class Parsed:
    value: Value | None
    problem: str | None = None
    cleaned: bool = False  # control characters were removed from free text


def as_text(raw: Cell) -> str:
    """A cell as the text a spreadsheet would show for it (dates as ISO dates, whole floats without ``.0``)."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() and abs(raw) < 1e16 else repr(raw)
    if isinstance(raw, Decimal):
        return decimal_text(raw) if raw.is_finite() else str(raw)
    if isinstance(raw, datetime):
        return raw.date().isoformat() if raw.time() == time() else raw.isoformat(sep=" ")
    if isinstance(raw, date | time):
        return raw.isoformat()
    return str(raw)


def shown(raw: Cell, limit: int = 200) -> str:
    """A cell for a report: hidden characters made visible (``<U+0007>``), long text cut short."""
    text = _INVISIBLE.sub(lambda m: f"<U+{ord(m[0]):04X}>", as_text(raw))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_blank(raw: Cell) -> bool:
    return raw is None or (isinstance(raw, str) and not clean_text(raw))


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _text(spec: FieldSpec, raw: Cell) -> tuple[str, str | None, bool]:
    """(cleaned text, problem, cleaned?) for any field: the checks every typed value passes first."""
    text = as_text(raw)
    if _DEFUSED.match(text):
        text = text[1:]
    strict = spec.maps_to == Target.BARCODE
    stripped = text.strip()
    if strict and (has_control_characters(stripped) or any(c in stripped for c in "\t\r\n")):
        return (
            "",
            "holds a control character, tab or line break (hidden characters are not allowed in a barcode)",
            False,
        )
    cleaned = clean_text(text)
    changed = has_control_characters(text)
    if not cleaned:
        return "", None, changed
    if _FORMULA.match(cleaned):
        return cleaned, "starts like a spreadsheet formula; paste the values only", changed
    if cleaned.upper() in _EXCEL_ERRORS:
        return cleaned, f"the spreadsheet shows an error ({cleaned}) here", changed
    if strict and _SHORTENED_NUMBER.match(cleaned):
        return cleaned, "a number Excel shortened (like 1.23E+12); format the column as text and type it again", changed
    return cleaned, None, changed


def _number(spec: FieldSpec, raw: Cell, text: str, reading: Reading) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError("TRUE/FALSE is not a number")
    if isinstance(raw, datetime | date | time | timedelta):
        raise ValueError("a date or time, not a number")
    if isinstance(raw, int | float | Decimal):
        value = bounded(Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw))
    else:
        value = parse_number(text, decimal_comma=reading.decimal_comma, unit=spec.effective_unit)
    if spec.integer and value != value.to_integral_value():
        raise ValueError("must be a whole number")
    places = TARGET_DECIMALS.get(spec.maps_to) if spec.maps_to else None
    if places is not None and value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(f"more than {places} decimal places (the sample record keeps {places})")
    low, high = spec.effective_range
    unit = f" {spec.effective_unit}" if spec.effective_unit else ""
    if low is not None and value < low:
        raise ValueError(f"below the minimum {decimal_text(low)}{unit}")
    if high is not None and value > high:
        raise ValueError(f"above the maximum {decimal_text(high)}{unit}")
    return value


def _date(spec: FieldSpec, raw: Cell, text: str, reading: Reading) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, bool | time | timedelta):
        raise ValueError("not a date")
    if isinstance(raw, int | float | Decimal):
        return from_serial(float(raw), reading.epoch)
    return parse_date_text(text, order=spec.date_order, epoch=reading.epoch)


def _choice(spec: FieldSpec, text: str) -> str:
    wanted = _fold(text)
    for choice in spec.choices or ():
        if _fold(choice) == wanted:
            return choice
    choices = list(spec.choices or ())
    listed = ", ".join(choices[:10]) + (f" (and {len(choices) - 10} more)" if len(choices) > 10 else "")
    raise ValueError(f"not one of the choices: {listed}")


def parse_cell(spec: FieldSpec, raw: Cell, reading: Reading) -> Parsed:
    """The value of ``raw`` for ``spec``, or why there is none (an empty required cell, a wrong type)."""
    text, problem, cleaned = _text(spec, raw)
    if problem is not None:
        return Parsed(None, problem, cleaned)
    if not text:
        return Parsed(None, "required: the cell is empty" if spec.required else None, cleaned)
    try:
        if spec.type == FieldType.NUMBER:
            return Parsed(_number(spec, raw, text, reading), None, cleaned)
        if spec.type == FieldType.DATE:
            return Parsed(_date(spec, raw, text, reading), None, cleaned)
        if len(text) > spec.effective_max_length:
            raise ValueError(f"longer than {spec.effective_max_length} characters ({len(text)})")
        if spec.type == FieldType.ENUM:
            return Parsed(_choice(spec, text), None, cleaned)
        if spec.pattern is not None and re.fullmatch(spec.pattern, text) is None:
            raise ValueError(f"does not match the pattern {spec.pattern}")
        return Parsed(text, None, cleaned)
    except ValueError as exc:
        return Parsed(None, str(exc), cleaned)
