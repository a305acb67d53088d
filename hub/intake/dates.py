"""Dates as spreadsheets hold them: real dates, Excel serial numbers (1900 or 1904 system), and text in the forms
people type. Text that could be two dates (``03/04/2024``) is refused unless the field says which order it uses:
a wrong guess would be a silent error in a regulated record."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Literal

DateOrder = Literal["DMY", "MDY"]

EXCEL_1900 = date(1899, 12, 30)  # day 0 of the Windows system (with Lotus' phantom 29 February 1900 before day 61)
EXCEL_1904 = date(1904, 1, 1)
_LAST_SERIAL = 2_958_465  # 9999-12-31

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO = re.compile(rf"^(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_TIME}$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DOTTED = re.compile(rf"^(\d{{1,2}})\.(\d{{1,2}})\.(\d{{2}}|\d{{4}})\.?{_TIME}$")
_SLASHED = re.compile(rf"^(\d{{1,2}})[/-](\d{{1,2}})[/-](\d{{2}}|\d{{4}}){_TIME}$")
_DAY_MONTH_NAME = re.compile(rf"^(\d{{1,2}})[- ]([A-Za-z]{{3,9}})\.?[- ,]+(\d{{2}}|\d{{4}}){_TIME}$")
_MONTH_NAME_DAY = re.compile(rf"^([A-Za-z]{{3,9}})\.? (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{2}}|\d{{4}}){_TIME}$")
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")  # 10000..99999: 1927 to 2173


def from_serial(serial: float, epoch: date = EXCEL_1900) -> date:
    """The date of an Excel serial number (its fraction is the time of day, dropped)."""
    if not 1 <= serial <= _LAST_SERIAL:
        raise ValueError("not a date (an Excel date number must be between 1 and 2958465)")
    day = int(serial)
    if epoch == EXCEL_1900 and day < 61:
        if day == 60:
            raise ValueError("not a date (Excel's day 60 is 29 February 1900, which never was)")
        day += 1
    return epoch + timedelta(days=day)


def _year(text: str) -> int:
    if len(text) != 4:
        raise ValueError("write the year with four digits: a two-digit year is ambiguous")
    return int(text)


def _make(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"not a date ({exc})") from exc


def parse_date_text(text: str, *, order: DateOrder | None = None, epoch: date = EXCEL_1900) -> date:
    """The date ``text`` names; ``ValueError`` with the reason when there is none or more than one."""
    text = text.strip()
    if match := _ISO.fullmatch(text):
        return _make(int(match[1]), int(match[2]), int(match[3]))
    if match := _COMPACT.fullmatch(text):
        return _make(int(match[1]), int(match[2]), int(match[3]))
    if match := _DOTTED.fullmatch(text):  # 05.03.2024: day first wherever dots are written
        return _make(_year(match[3]), int(match[2]), int(match[1]))
    if match := _SLASHED.fullmatch(text):
        first, second, year = int(match[1]), int(match[2]), _year(match[3])
        if order is None:
            if first > 12 >= second:
                order = "DMY"
            elif second > 12 >= first:
                order = "MDY"
            elif first != second:
                raise ValueError(
                    f"ambiguous date: {text} could be day/month or month/day; write it as YYYY-MM-DD "
                    "(or set the field's date order)"
                )
            else:
                order = "DMY"
        day, month = (first, second) if order == "DMY" else (second, first)
        return _make(year, month, day)
    if match := _DAY_MONTH_NAME.fullmatch(text):
        named = _MONTHS.get(match[2].casefold())
        if named is None:
            raise ValueError(f"not a date (unknown month {match[2]!r})")
        return _make(_year(match[3]), named, int(match[1]))
    if match := _MONTH_NAME_DAY.fullmatch(text):
        named = _MONTHS.get(match[1].casefold())
        if named is None:
            raise ValueError(f"not a date (unknown month {match[1]!r})")
        return _make(_year(match[3]), named, int(match[2]))
    if _SERIAL.fullmatch(text):  # a date column formatted as General, exported as its serial number
        return from_serial(float(text), epoch)
    raise ValueError("not a date: write it as YYYY-MM-DD")


def as_date(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value
