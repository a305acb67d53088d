"""The agent's clocks, injectable so that tests drive time by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def utc(self) -> datetime: ...

    def mono_ns(self) -> int: ...


class SystemClock:
    """Wall-clock UTC for what is recorded; the monotonic clock for intervals and ordering within a boot."""

    def utc(self) -> datetime:
        return datetime.now(UTC)

    def mono_ns(self) -> int:
        return time.monotonic_ns()
