"""Fault names, what each does to the next readings, and the start-up schedule (``--fault NAME[@SECONDS]``)."""

from __future__ import annotations

import enum
from collections import defaultdict, deque
from dataclasses import dataclass


class Fault(enum.StrEnum):
    MALFORMED_JSON = "malformed_json"
    """The next reading is cut short: not valid JSON."""
    WRONG_TYPE = "wrong_type"
    """The next reading's value is a JSON string ("21.40") instead of a number."""
    OUT_OF_RANGE = "out_of_range"
    """The next reading is the value a failed probe reports, outside the sensor's range."""
    DUPLICATE = "duplicate"
    """The next reading is published twice, byte for byte."""
    OUT_OF_ORDER = "out_of_order"
    """The next reading is held back and published after the one that follows it."""
    O2_DROP = "o2_drop"
    """An LN2 spill: O2 falls from 20.9 % to 17 % (lasting until cleared)."""


ONE_SHOT = frozenset(Fault) - {Fault.O2_DROP}
CLEAR = "clear"


class FaultQueue:
    """One-shot faults waiting for the next readings of each sensor."""

    def __init__(self) -> None:
        self._pending: defaultdict[str, deque[Fault]] = defaultdict(deque)

    def add(self, fault: Fault, sensor: str, count: int = 1) -> None:
        self._pending[sensor].extend([fault] * count)

    def take(self, sensor: str) -> Fault | None:
        queue = self._pending.get(sensor)
        return queue.popleft() if queue else None

    def clear(self) -> None:
        self._pending.clear()

    def pending(self) -> dict[str, list[str]]:
        return {sensor: [str(f) for f in queue] for sensor, queue in self._pending.items() if queue}


@dataclass(frozen=True)
class ScheduledFault:
    at: float
    """Seconds after start."""
    fault: str


def parse_scheduled(text: str) -> ScheduledFault:
    """Parse ``name@seconds`` (or a bare ``name``, meaning at start)."""
    name, _, at_text = text.partition("@")
    names = [*Fault.__members__.values(), CLEAR]
    if name not in names:
        raise ValueError(f"unknown fault {name!r}; expected one of {', '.join(names)}")
    try:
        at = float(at_text) if at_text else 0.0
    except ValueError:
        raise ValueError(f"bad time in {text!r}: expected seconds") from None
    if at < 0:
        raise ValueError(f"negative time in {text!r}")
    return ScheduledFault(at=at, fault=name)
