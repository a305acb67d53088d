"""What a saga is made of: ordered steps, each an action and its compensation, with retries, a timeout, an
optional durable wait for an event, and pivots after which the saga only goes forward. Pure data, no database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.sagas.context import StepContext

Action = Callable[["StepContext"], Awaitable[dict[str, Any]]]
Compensation = Callable[["StepContext"], Awaitable[None]]
Subject = Callable[["StepContext"], str]  # the subject id of the event a wait is for


class SagaError(Exception):
    """The root of the saga engine's errors."""


class RetryableStepError(SagaError):
    """A step that may succeed later (a lock, a device away): retried with backoff up to its attempts."""


class PermanentStepError(SagaError):
    """A step that will never succeed as asked (bad input, a refusal): no retry; the saga compensates (or, past its
    pivot, fails)."""


class StepTimeoutError(RetryableStepError):
    """A step ran longer than its timeout."""


@dataclass(frozen=True)
class Backoff:
    """``base`` × ``factor`` ** (attempt - 1), at most ``cap``."""

    base: timedelta = timedelta(seconds=1)
    factor: float = 2.0
    cap: timedelta = timedelta(minutes=5)

    def delay(self, attempt: int) -> timedelta:
        seconds = self.base.total_seconds() * self.factor ** max(attempt - 1, 0)
        return min(timedelta(seconds=seconds), self.cap)


@dataclass(frozen=True)
class Wait:
    """A durable timer: the step is done when an event of ``types`` about ``subject`` is in the outbox (written
    since the saga started), and fails (``StepTimeoutError``, no retry) when ``deadline`` (from the saga's inputs,
    counted from the step's first try) passes first. The deadline is stored in the saga log: it survives restarts."""

    types: frozenset[str]
    subject: Subject
    deadline: Callable[[Mapping[str, Any]], timedelta]
    poll: timedelta = timedelta(seconds=5)


@dataclass(frozen=True)
class Step:
    name: str
    action: Action | None  # None only for a wait
    compensate: Compensation | None = None
    pivot: bool = False  # once done, the saga cannot be compensated any more: it only goes forward
    attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    timeout: timedelta = timedelta(seconds=30)
    compensation_attempts: int = 5
    wait: Wait | None = None


@dataclass(frozen=True)
class SagaDefinition:
    type: str
    version: int
    steps: Sequence[Step]

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"saga {self.type}: steps need distinct names, and at least one")
        for step in self.steps:
            if (step.action is None) == (step.wait is None):
                raise ValueError(f"saga {self.type} step {step.name}: an action or a wait, exactly one")

    def step(self, position: int) -> Step:
        return self.steps[position]


def deadline_from(key: str, default: timedelta) -> Callable[[Mapping[str, Any]], timedelta]:
    """A wait's deadline read from the saga's inputs (``key``, in seconds), else ``default``."""

    def read(inputs: Mapping[str, Any]) -> timedelta:
        value = inputs.get(key)
        return timedelta(seconds=float(value)) if value is not None else default

    return read


def is_due(moment: datetime | None, now: datetime) -> bool:
    return moment is None or moment <= now
