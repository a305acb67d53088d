"""Accelerated simulation clock: ``speed`` simulated seconds pass per real second."""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    def __init__(self, speed: float, now: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._now = now
        self._start = now()

    def elapsed(self) -> float:
        """Simulated seconds since the clock was created."""
        return (self._now() - self._start) * self.speed
