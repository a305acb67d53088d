"""Numbers typed by people into spreadsheets: ``1,234.5``, ``1.234,5``, ``1 234,5``, ``12,5``, ``1'234``, ``50 µL``.

A comma or a dot alone is read by the sheet's convention (``decimal_comma``: a semicolon-delimited CSV from a
European Excel) when both readings are possible (``1,234``), and by the only reading that works otherwise (``12,5``
is twelve and a half whatever the convention: a thousands group has three digits).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_EXPONENT = 30  # |value| below 10**30 and above 10**-30: wider than any lab measurement, bounded for storage

_GROUP_SPACES = re.compile(r"(?<=\d)[ \u00a0\u202f\u2009'’](?=\d)")
_SHAPE = re.compile(r"^([+-]?)([\d.,]*\d[\d.,]*)(?:[eE]([+-]?\d{1,3}))?$")
_MICRO = str.maketrans({"µ": "u", "μ": "u"})


def _unit_key(unit: str) -> str:
    return unit.translate(_MICRO).replace(" ", "").casefold()


def strip_unit(text: str, unit: str | None) -> str:
    """``text`` without a trailing ``unit`` (``50 µL``, ``50ul`` for unit ``µL``); other text is left as it is."""
    if not unit:
        return text
    key = _unit_key(unit)
    folded = text.translate(_MICRO).casefold().rstrip()
    if folded.endswith(key) and len(folded) > len(key):
        return text.rstrip()[: len(folded) - len(key)].rstrip()
    return text


def _grouped(integer: str, group: str) -> str | None:
    """``1,234,567`` → ``1234567`` if every group after the first has three digits, else None."""
    parts = integer.split(group)
    if not 1 <= len(parts[0]) <= 3 or any(len(p) != 3 for p in parts[1:]) or parts[0] == "0":
        return None
    return "".join(parts)


def _read(mantissa: str, decimal: str, group: str) -> str | None:
    """The mantissa with ``decimal`` as the decimal mark and ``group`` as the thousands mark, or None."""
    if mantissa.count(decimal) > 1:
        return None
    integer, _, fraction = mantissa.partition(decimal)
    if group in fraction or not (integer or fraction):
        return None
    if group in integer:
        plain = _grouped(integer, group)
        if plain is None:
            return None
        integer = plain
    return f"{integer or '0'}.{fraction}" if fraction else integer


def parse_number(text: str, *, decimal_comma: bool = False, unit: str | None = None) -> Decimal:
    """The number ``text`` shows; ``ValueError`` with a reason a person can act on when it is not one."""
    cleaned = strip_unit(text.strip(), unit).replace("\u2212", "-")
    cleaned = _GROUP_SPACES.sub("", cleaned)
    shape = _SHAPE.fullmatch(cleaned)
    if shape is None:
        raise ValueError("not a number")
    sign, mantissa, exponent = shape.groups()
    comma, dot = "," in mantissa, "." in mantissa
    if comma and dot:
        decimal = "," if mantissa.rfind(",") > mantissa.rfind(".") else "."
        readings = [_read(mantissa, decimal, "." if decimal == "," else ",")]
    elif comma or dot:
        mark = "," if comma else "."
        other = "." if comma else ","
        as_decimal = _read(mantissa, mark, other)
        as_group = _read(mantissa, other, mark)
        preferred = (mark == ",") == decimal_comma
        readings = [as_decimal, as_group] if preferred else [as_group, as_decimal]
    else:
        readings = [mantissa]
    plain = next((r for r in readings if r is not None), None)
    if plain is None:
        raise ValueError("not a number (the thousands separators are misplaced)")
    try:
        value = Decimal(f"{sign}{plain}" + (f"E{exponent}" if exponent else ""))
    except InvalidOperation as exc:  # pragma: no cover - the shape check admits only decimal text
        raise ValueError("not a number") from exc
    return bounded(value)


def bounded(value: Decimal) -> Decimal:
    """``value`` if finite and within ±10**30; ``ValueError`` otherwise."""
    if not value.is_finite():
        raise ValueError("not a finite number")
    if value != 0 and not -MAX_EXPONENT <= value.adjusted() < MAX_EXPONENT:
        raise ValueError("out of range")
    return value


def decimal_text(value: Decimal) -> str:
    """``value`` as plain decimal text without exponent or trailing zeros (``1.50`` → ``1.5``, ``1E+3`` → ``1000``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
