"""When to try a message again: exponential backoff with jitter, capped, never sooner than the provider asked."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` after the n-th failed attempt: ``base_s * factor**(n-1)``, capped at ``cap_s``, then drawn
    uniformly from its upper half ("equal jitter": workers that failed together do not retry together, and no
    retry comes sooner than half the schedule)."""

    base_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 600.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.factor < 1 or self.cap_s < self.base_s or self.max_attempts < 1:
            raise ValueError(f"an unusable backoff schedule: {self}")

    def ceiling(self, attempt: int) -> float:
        """The delay before jitter after failed attempt ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, not {attempt}")
        exponent = min(attempt - 1, 64)  # the cap is reached long before; no float overflow
        return min(self.cap_s, self.base_s * self.factor**exponent)

    def delay(
        self,
        attempt: int,
        *,
        retry_after_s: float | None = None,
        uniform: Callable[[float, float], float] | None = None,
    ) -> float:
        ceiling = self.ceiling(attempt)
        draw = uniform or random.uniform
        delay = draw(ceiling / 2, ceiling)
        if retry_after_s is not None and retry_after_s > delay:
            delay = min(retry_after_s, self.cap_s)
        return delay

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
