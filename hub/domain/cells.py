"""Text that crosses a spreadsheet boundary: control characters cleaned on the way in, formulas defused on the
way out (CSV/formula injection: a cell starting ``=``, ``+``, ``-``, ``@``, tab or carriage return is run as a
formula by Excel, LibreOffice and Google Sheets when a CSV or XLSX we export is opened)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029\ufeff\u200b-\u200f\u202a-\u202e]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def clean_text(value: str) -> str:
    """``value`` without control, zero-width or bidirectional-override characters (kept: tab and newlines are
    folded to spaces), trimmed."""
    value = value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return _CONTROL.sub("", value).strip()


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def safe_cell(value: object) -> str:
    """``value`` as text that a spreadsheet shows as text: a leading formula character gets a ``'`` before it.
    Plain numbers (``-80``, ``+4.5``) are left as they are: they are data, not formulas."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
