"""Door openings and defrost cycles, the usual false alarms, as pure functions: what signals them and how long
they hold back an instrument's temperature alerts.

An inhibition starts when the door opens (or a defrost starts) and holds until it ends plus a hold time (the
cabinet needs a few minutes to recover); an inhibition that never sees its end lapses after the longest a door
may stand open or a defrost may run, so a lost "closed" message cannot hide a failing freezer for good. Only
temperature alerts (limits and rates) are held; offline, integrity and door alerts never are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

Cause = Literal["door", "defrost"]
Edge = Literal["start", "end"]

_EVENT_SIGNALS: dict[str, tuple[Cause, Edge]] = {
    "door_open": ("door", "start"),
    "door_opened": ("door", "start"),
    "door_closed": ("door", "end"),
    "door_close": ("door", "end"),
    "defrost_start": ("defrost", "start"),
    "defrost_started": ("defrost", "start"),
    "defrost_end": ("defrost", "end"),
    "defrost_ended": ("defrost", "end"),
    "defrost_stop": ("defrost", "end"),
    "defrost_stopped": ("defrost", "end"),
}
_CHANNEL_CAUSES: dict[str, Cause] = {"door": "door", "door_open": "door", "door_contact": "door", "defrost": "defrost"}
EDGE_TEMPERATURE_RULES = frozenset({"high", "high_high", "low", "low_low", "rate"})
HUB_TEMPERATURE_RULES = frozenset({"limit", "rate"})


@dataclass(frozen=True)
class HoldTimes:
    """How long each cause holds alerts after it ends, and the longest it may hold without an end."""

    door_after: timedelta = timedelta(minutes=5)
    door_longest: timedelta = timedelta(minutes=30)
    defrost_after: timedelta = timedelta(minutes=15)
    defrost_longest: timedelta = timedelta(hours=2)

    def after(self, cause: Cause) -> timedelta:
        return self.door_after if cause == "door" else self.defrost_after

    def longest(self, cause: Cause) -> timedelta:
        return self.door_longest if cause == "door" else self.defrost_longest


@dataclass(frozen=True)
class Window:
    cause: str
    start: datetime
    until: datetime


def inhibitable(origin: str, kind: str) -> bool:
    """Whether an alert of this origin and kind is a temperature alert a door or a defrost may hold back."""
    if origin == "edge":
        return kind in EDGE_TEMPERATURE_RULES
    return origin == "rule" and kind in HUB_TEMPERATURE_RULES


def event_signal(kind: str, payload: Mapping[str, Any]) -> tuple[Cause, Edge] | None:
    """A door or defrost edge in an edge log entry: an event by its type, or the edge's ``door_open`` alarm."""
    if kind == "alarm" and payload.get("rule") == "door_open":
        action = payload.get("action")
        if action == "raised":
            return ("door", "start")
        if action == "cleared":
            return ("door", "end")
        return None
    if kind == "event":
        return _EVENT_SIGNALS.get(str(payload.get("type", "")))
    return None


def reading_signal(channel: str, value: str | None) -> tuple[Cause, Edge] | None:
    """A door contact or defrost status channel: ``"1"`` starts, ``"0"`` ends; other values say nothing."""
    cause = _CHANNEL_CAUSES.get(channel)
    if cause is None or value not in ("0", "1"):
        return None
    return (cause, "start" if value == "1" else "end")


def start_until(cause: Cause, started: datetime, holds: HoldTimes) -> datetime:
    return started + holds.longest(cause)


def end_until(cause: Cause, started: datetime, ended: datetime, holds: HoldTimes) -> datetime:
    """The hold after an end; never before the end itself (an end logged before its start holds from the end)."""
    return max(ended, started) + holds.after(cause)


def held_until(windows: Sequence[Window], at: datetime) -> Window | None:
    """The window holding alerts at ``at``, stretched over windows that overlap it; None when nothing holds."""
    holding = [w for w in windows if w.start <= at < w.until]
    if not holding:
        return None
    best = max(holding, key=lambda w: w.until)
    while True:
        later = [w for w in windows if w.start <= best.until < w.until]
        if not later:
            return best
        best = max(later, key=lambda w: w.until)
