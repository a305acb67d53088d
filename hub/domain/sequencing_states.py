"""The states of a sequencing job and of a run, and the moves between them. Pure data and one check.

A job: ``queued`` → ``planned`` (on a run) → ``sequencing`` → ``completed`` or ``failed``; a failed job is queued
again (by hand, or at once when it asked for that) and keeps its place in the queue; a queued, planned or failed
job can be cancelled. A planned job goes back to ``queued`` when its run plan is cancelled.

A run: ``planned`` → ``running`` → ``completed`` or ``failed``; a planned run can be ``cancelled``; a run recorded
from an instrument without a plan is ``merged`` into the plan it is linked to later. ``stalled`` is a flag.
"""

from __future__ import annotations

from enum import StrEnum

from hub.errors import ConflictError


class JobState(StrEnum):
    QUEUED = "queued"
    PLANNED = "planned"
    SEQUENCING = "sequencing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunState(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MERGED = "merged"


J = JobState
JOB_MOVES: dict[JobState, frozenset[JobState]] = {
    J.QUEUED: frozenset({J.PLANNED, J.CANCELLED}),
    J.PLANNED: frozenset({J.QUEUED, J.SEQUENCING, J.CANCELLED}),
    J.SEQUENCING: frozenset({J.COMPLETED, J.FAILED}),
    J.FAILED: frozenset({J.QUEUED, J.CANCELLED}),
    J.COMPLETED: frozenset(),
    J.CANCELLED: frozenset(),
}
# A sample in a job in one of these states is spoken for: it cannot be a library of another job.
ACTIVE_JOB_STATES = frozenset({J.QUEUED, J.PLANNED, J.SEQUENCING})
TERMINAL_RUN_STATES = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED, RunState.MERGED})


class IllegalJobMoveError(ConflictError):
    title, type_slug = "Illegal state transition", "illegal-transition"


def check_job_move(current: JobState, target: JobState, label: str) -> None:
    """Nothing, or ``IllegalJobMoveError`` naming the moves allowed from ``current``."""
    allowed = JOB_MOVES[current]
    if target in allowed:
        return
    names = ", ".join(sorted(s.value for s in allowed)) or "none: it is final"
    raise IllegalJobMoveError(
        f"{label} is {current.value} and cannot become {target.value}; allowed: {names}",
        current=current.value,
        target=target.value,
        allowed=sorted(s.value for s in allowed),
    )
