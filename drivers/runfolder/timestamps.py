"""Times as instruments write them, kept as honest as the source.

Illumina files carry times in several shapes: ``130417`` (a date only), ``4/18/2023 11:55:11 PM`` and
``RTA 2.4.11 completed on 6/10/2017 2:09:31 PM`` (the instrument PC's wall clock, no zone), and
``2023-04-18T15:26:54.8607517-04:00`` (with an offset, 100 ns digits). A ``RunTime`` keeps which it was:

- ``utc``: the source carried a zone; ``text`` is that instant in UTC with the source's own fraction digits
  (never rounded through a float), and ``utc`` the same as an aware datetime (to the microsecond);
- ``local``: wall-clock text of the instrument PC; no zone is invented, ``utc`` is ``None``;
- ``date``: a calendar date only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

TimeKind = Literal["utc", "local", "date"]

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_US = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})[ ,\t]+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(?:\s*([AP]M))?", re.IGNORECASE
)
_SHORT_DATE = re.compile(r"(\d{2})(\d{2})(\d{2})")
_LONG_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DOTNET_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_TICKS_MASK = (1 << 62) - 1
_TICKS_CEILING = 1 << 62
_MAX_TICKS = 3_155_378_975_999_999_999


@dataclass(frozen=True, slots=True)
class RunTime:
    """A time read from a run folder; ``source`` names the file (and element) it came from."""

    text: str
    kind: TimeKind
    source: str
    utc: datetime | None = None

    def describe(self) -> str:
        if self.kind == "utc":
            return f"{self.text} (UTC; {self.source})"
        if self.kind == "local":
            return f"{self.text} (instrument local time: {self.source} records no time zone)"
        return f"{self.text} (date only; {self.source})"


def parse_time(text: str, source: str) -> RunTime | None:
    """Any of the shapes above, or ``None`` when ``text`` is none of them (or names an impossible date)."""
    value = text.strip()
    try:
        return _iso(value, source) or _us(value, source) or _compact_date(value, source)
    except (ValueError, OverflowError):
        return None


def search_time(text: str, source: str) -> RunTime | None:
    """The first time found inside a line such as ``Read 1 complete 6/10/2017 5:29:35 AM``."""
    for pattern in (_ISO, _US):
        match = pattern.search(text)
        if match:
            return parse_time(match.group(0), source)
    return None


def from_dotnet_binary(value: int, source: str) -> RunTime | None:
    """A .NET ``DateTime.ToBinary()`` value, as InterOp extraction metrics store it.

    Kind ``Local`` (the instruments' choice) stores UTC ticks, so the instant is exact; kind ``Unspecified`` is
    wall-clock time without a zone. Zero (no time recorded) gives ``None``.
    """
    kind = (value >> 62) & 0b11
    ticks = value & _TICKS_MASK
    if kind == 2 and ticks > _MAX_TICKS:  # a local time just after 0001-01-01 wraps below zero in UTC
        ticks -= _TICKS_CEILING
    if ticks <= 0 or ticks > _MAX_TICKS:
        return None
    seconds, rest = divmod(ticks, 10_000_000)
    whole = _DOTNET_EPOCH + timedelta(seconds=seconds)
    fraction = f"{rest:07d}"
    if kind == 0:
        return RunTime(f"{whole.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction}", "local", source)
    moment = whole + timedelta(microseconds=rest // 10)
    return RunTime(f"{whole.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction}Z", "utc", source, moment)


def from_mtime(mtime_ns: int, source: str) -> RunTime | None:
    """A file's modification time: the clock of whichever machine wrote the file, taken as UTC."""
    seconds, nanos = divmod(mtime_ns, 1_000_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    text = f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{nanos:09d}".rstrip("0").rstrip(".") + "Z"
    return RunTime(text, "utc", source, moment + timedelta(microseconds=nanos // 1000))


def _iso(value: str, source: str) -> RunTime | None:
    match = _ISO.fullmatch(value)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    whole = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - the zone is applied below
    digits = f".{fraction}" if fraction else ""
    if zone is None:
        return RunTime(whole.strftime("%Y-%m-%dT%H:%M:%S") + digits, "local", source)
    instant = whole.replace(tzinfo=UTC) - _offset(zone)
    moment = instant + timedelta(microseconds=int((fraction or "0").ljust(6, "0")[:6]))
    return RunTime(instant.strftime("%Y-%m-%dT%H:%M:%S") + digits + "Z", "utc", source, moment)


def _offset(zone: str) -> timedelta:
    if zone.upper() == "Z":
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or "0"))


def _us(value: str, source: str) -> RunTime | None:
    match = _US.fullmatch(value)
    if not match:
        return None
    month, day, year, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, meridiem = match.group(7), match.group(8)
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem.upper() == "PM" else 0)
    wall = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - instrument wall clock, no zone
    return RunTime(wall.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else ""), "local", source)


def _compact_date(value: str, source: str) -> RunTime | None:
    short, long = _SHORT_DATE.fullmatch(value), _LONG_DATE.fullmatch(value)
    if short:
        day = date(2000 + int(short.group(1)), int(short.group(2)), int(short.group(3)))
    elif long:
        day = date(int(long.group(1)), int(long.group(2)), int(long.group(3)))
    else:
        return None
    return RunTime(day.isoformat(), "date", source)
