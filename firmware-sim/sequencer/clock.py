"""Accelerated clock: ``speed`` simulated seconds pass per real second; text stamps use simulated local time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta


class SimClock:
    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = time.monotonic()
        self._wall = datetime.now().astimezone()  # the instrument PC's local time, with its offset

    def elapsed(self) -> float:
        """Simulated seconds since the clock was created."""
        return (time.monotonic() - self._start) * self.speed

    def now(self) -> datetime:
        """Simulated local time (aware, in the machine's zone)."""
        return self._wall + timedelta(seconds=self.elapsed())

    def sleep_until(self, simulated_s: float, wait: Callable[[float], object] = time.sleep) -> None:
        """Wait (with ``wait``, e.g. a stop event's) until ``simulated_s`` simulated seconds have passed."""
        remaining = simulated_s / self.speed - (time.monotonic() - self._start)
        if remaining > 0:
            wait(remaining)
