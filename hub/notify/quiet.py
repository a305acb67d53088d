"""Quiet hours: a daily window of local wall-clock time in the user's zone when only critical messages go out.

A message that falls into the window is scheduled for its end, never dropped. The window may cross midnight
(22:00-07:00); its end is found on the local calendar and turned into UTC, so daylight-saving changes move it with
the clock on the wall (a 22:00-07:00 night is 8 hours long when clocks go forward and 10 when they go back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.errors import ValidationFailedError

SEVERITIES = ("info", "warning", "critical")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: str) -> time:
    match = _CLOCK.match(value)
    if match is None:
        raise ValidationFailedError(f"a time of day is HH:MM (00:00 to 23:59), not {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailedError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from exc


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    tz: ZoneInfo

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValidationFailedError("quiet hours that start when they end are empty; leave them unset instead")

    @classmethod
    def of(cls, start: str, end: str, tz: str) -> QuietHours:
        return cls(parse_clock(start), parse_clock(end), zone(tz))

    def ends_at(self, now: datetime) -> datetime | None:
        """The UTC end of the quiet window ``now`` falls in, or None when ``now`` is outside it."""
        if now.tzinfo is None:
            raise ValueError("quiet hours need an aware time")
        local = now.astimezone(self.tz)
        clock = local.time().replace(tzinfo=None)
        day = local.date()
        if self.start < self.end:
            if not self.start <= clock < self.end:
                return None
        elif clock >= self.start:
            day += timedelta(days=1)
        elif clock >= self.end:
            return None
        return datetime.combine(day, self.end, tzinfo=self.tz).astimezone(UTC)


def send_at(severity: str, quiet: QuietHours | None, now: datetime) -> datetime:
    """When a message of ``severity`` queued at ``now`` may go out: now, or the end of the quiet hours; critical
    messages never wait."""
    if severity == "critical" or quiet is None:
        return now
    return quiet.ends_at(now) or now
