"""A condition that must hold for a delay before it raises, and its opposite for a delay before it clears.

Time is counted in integer microseconds so that a delay elapses exactly when the clock says it does; summing
float seconds would leave 299.99999 where 300 was meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

Action = Literal["raised", "cleared"]


class Zone(Enum):
    """Where the latest usable value lies relative to a rule."""

    UNKNOWN = "unknown"  # no usable value yet
    BEYOND = "beyond"  # past the limit: counts toward raising
    DEADBAND = "deadband"  # back inside the limit but not by the hysteresis: neither raises nor clears
    CLEAR = "clear"  # inside by at least the hysteresis: counts toward clearing


@dataclass
class DelayedCondition:
    raise_after_us: int
    clear_after_us: int
    active: bool = False
    zone: Zone = Zone.UNKNOWN
    beyond_us: int = 0
    """Uninhibited time spent beyond since the value last went beyond; held, not reset, while inhibited."""
    clearing_us: int = 0
    """Time spent in the clear zone since the alarm was raised or last left that zone."""
    raised_after_us: int = 0
    """``beyond_us`` at the moment of the last raise, for the message."""

    def elapse(self, duration_us: int, *, inhibited: bool) -> None:
        """Let time pass with the zone unchanged (the last value is assumed to hold until the next one)."""
        if self.zone is Zone.BEYOND and not self.active and not inhibited:
            self.beyond_us += duration_us
        if self.zone is Zone.CLEAR and self.active:
            self.clearing_us += duration_us

    def enter(self, zone: Zone) -> None:
        """A new value lies in ``zone``: leaving a zone restarts its timer, staying in it keeps counting."""
        if zone is not Zone.BEYOND:
            self.beyond_us = 0
        if zone is not Zone.CLEAR:
            self.clearing_us = 0
        self.zone = zone

    def decide(self, *, inhibited: bool) -> Action | None:
        if not self.active:
            if self.zone is Zone.BEYOND and not inhibited and self.beyond_us >= self.raise_after_us:
                self.active = True
                self.raised_after_us = self.beyond_us
                self.beyond_us = 0
                return "raised"
            return None
        if self.zone is Zone.CLEAR and self.clearing_us >= self.clear_after_us:
            self.active = False
            self.clearing_us = 0
            return "cleared"
        return None


def to_microseconds(seconds: float) -> int:
    return round(seconds * 1_000_000)
