"""The sequencing queue's order: priority bands with ageing, so low-priority work is not starved.

Pure functions, no database. A job's *effective* priority rises one band for every ``Ageing.every`` it has waited,
up to ``Ageing.ceiling`` (``high`` by default: urgent stays reserved for work someone marked urgent, so an urgent job
is always first). Within a band the order is first in, first out; between jobs queued at the same moment the higher
priority goes first, and the job id breaks exact ties, so the same jobs always come out in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hub.errors import ValidationFailedError


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


BANDS: tuple[Priority, ...] = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)
RANK: dict[Priority, int] = {p: n for n, p in enumerate(BANDS)}


@dataclass(frozen=True, slots=True)
class Ageing:
    """A waiting job moves up one band per ``every`` waited, never above ``ceiling``."""

    every: timedelta = timedelta(hours=24)
    ceiling: Priority = Priority.HIGH

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise ValidationFailedError(f"ageing needs a positive step, not {self.every}")

    def effective(self, priority: Priority, waited: timedelta) -> Priority:
        """The band a job of ``priority`` is in after waiting ``waited`` (a negative wait counts as none)."""
        rank, ceiling = RANK[priority], RANK[self.ceiling]
        if rank <= ceiling:
            return priority
        steps = max(waited, timedelta(0)) // self.every
        return BANDS[max(ceiling, rank - steps)]


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the queue needs to know of a job."""

    id: str
    priority: Priority
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class Ranked:
    """A job's place in the queue (1-based), the band it is in now, and how long it has waited."""

    position: int
    job: Waiting
    effective: Priority
    waited: timedelta

    @property
    def promoted(self) -> int:
        """How many bands ageing has moved the job up."""
        return RANK[self.job.priority] - RANK[self.effective]


def rank_queue(jobs: Sequence[Waiting], now: datetime, ageing: Ageing | None = None) -> list[Ranked]:
    """``jobs`` in the order they should run: by effective band, then first queued first, then by priority, then
    by id."""
    policy = ageing or Ageing()
    keyed = []
    for job in jobs:
        waited = max(now - job.queued_at, timedelta(0))
        effective = policy.effective(job.priority, waited)
        keyed.append(((RANK[effective], job.queued_at, RANK[job.priority], job.id), job, effective, waited))
    keyed.sort(key=lambda item: item[0])
    return [
        Ranked(position, job, effective, waited) for position, (_, job, effective, waited) in enumerate(keyed, start=1)
    ]
