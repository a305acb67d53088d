"""Crash points for the crash harness: ``TRACSEQ_SAGA_CRASH_AT="<saga type>:<step>:<boundary>[@<start key>]"``
(several, comma-separated) makes the process kill itself (SIGKILL: no clean-up, no flush) when a saga reaches
that boundary; with ``@<start key>``, only the saga started with that key. Refused in production.

Boundaries: ``before`` (the step's transaction has not begun), ``after_action`` (the action's writes are flushed,
the step log is not written, nothing is committed), ``after_log`` (action and log committed, nothing after), and
the same three for a compensation as ``compensate_before`` and so on. ``*`` matches any saga type or step.

With ``TRACSEQ_SAGA_CRASH_MARKS=<folder>`` each point fires once: it leaves a file there before the kill, so the
restarted process (same environment) goes on past it and the harness restarts once per point.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

ENV = "TRACSEQ_SAGA_CRASH_AT"
MARKS_ENV = "TRACSEQ_SAGA_CRASH_MARKS"
BOUNDARIES = frozenset(
    {"before", "after_action", "after_log", "compensate_before", "compensate_after_action", "compensate_after_log"}
)


@dataclass(frozen=True)
class CrashPoint:
    saga_type: str
    step: str
    boundary: str
    start_key: str | None = None

    @classmethod
    def parse(cls, text: str) -> CrashPoint:
        where, _, key = text.strip().partition("@")
        parts = where.split(":")
        if len(parts) != 3 or parts[2] not in BOUNDARIES:
            raise ValueError(f"{ENV}={text!r}: write <saga type>:<step>:<{'|'.join(sorted(BOUNDARIES))}>[@<key>]")
        return cls(parts[0], parts[1], parts[2], key or None)

    def matches(self, saga_type: str, step: str, boundary: str, start_key: str | None) -> bool:
        return (
            self.boundary == boundary
            and self.saga_type in ("*", saga_type)
            and self.step in ("*", step)
            and (self.start_key is None or self.start_key == start_key)
        )

    @property
    def mark(self) -> str:
        text = f"{self.saga_type}:{self.step}:{self.boundary}@{self.start_key or ''}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class CrashPoints:
    def __init__(self, points: Sequence[CrashPoint] = (), marks: Path | None = None) -> None:
        self.points = tuple(points)
        self.marks = marks

    @classmethod
    def from_env(cls, environment: str, env: Mapping[str, str] | None = None) -> CrashPoints:
        values = env if env is not None else os.environ
        text = values.get(ENV)
        if not text:
            return cls()
        if environment == "production":
            raise ValueError(f"{ENV} is refused in production")
        marks = values.get(MARKS_ENV)
        return cls([CrashPoint.parse(p) for p in text.split(",") if p.strip()], Path(marks) if marks else None)

    @property
    def armed(self) -> bool:
        return bool(self.points)

    def hit(self, saga_type: str, step: str, boundary: str, start_key: str | None = None) -> None:
        for point in self.points:
            if not point.matches(saga_type, step, boundary, start_key):
                continue
            if self.marks is not None:
                mark = self.marks / point.mark
                if mark.exists():
                    continue
                self.marks.mkdir(parents=True, exist_ok=True)
                mark.write_text(f"{saga_type}:{step}:{boundary}@{start_key or ''}\n")
            logger.warning("crash point %s:%s:%s reached: killing this process", saga_type, step, boundary)
            os.kill(os.getpid(), signal.SIGKILL)
