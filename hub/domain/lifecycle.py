"""The sample lifecycle: the states a sample can be in and the moves the server allows between them.

Pure data and functions (no database): the API, batch operations, storage, intake and sequencing all move samples
through ``check_transition``, so an illegal move is refused the same way everywhere, naming the allowed ones.
"""

from __future__ import annotations

from enum import StrEnum

from hub.errors import ConflictError


class SampleState(StrEnum):
    REGISTERED = "registered"  # known to the lab, not yet in hand
    RECEIVED = "received"  # in hand, checked in
    STORED = "stored"  # in a storage position
    IN_PREPARATION = "in_preparation"  # extraction, library prep
    SEQUENCING = "sequencing"  # on a run
    COMPLETED = "completed"  # its sequencing is done
    ON_HOLD = "on_hold"  # not to be used until released (QC, excursion, investigation)
    REJECTED = "rejected"  # refused at intake or by QC
    CONSUMED = "consumed"  # used up
    DISPOSED = "disposed"  # destroyed


S = SampleState
TERMINAL = frozenset({S.CONSUMED, S.DISPOSED})

# Moves other than hold and release; ON_HOLD returns only to the state it was held from (or is rejected/disposed).
_MOVES: dict[SampleState, frozenset[SampleState]] = {
    S.REGISTERED: frozenset({S.RECEIVED, S.REJECTED, S.DISPOSED}),
    S.RECEIVED: frozenset({S.STORED, S.IN_PREPARATION, S.REJECTED, S.DISPOSED}),
    S.STORED: frozenset({S.IN_PREPARATION, S.RECEIVED, S.CONSUMED, S.DISPOSED}),
    S.IN_PREPARATION: frozenset({S.STORED, S.SEQUENCING, S.CONSUMED, S.REJECTED, S.DISPOSED}),
    S.SEQUENCING: frozenset({S.COMPLETED, S.IN_PREPARATION, S.STORED}),
    S.COMPLETED: frozenset({S.STORED, S.CONSUMED, S.DISPOSED}),
    S.REJECTED: frozenset({S.DISPOSED}),
    S.ON_HOLD: frozenset({S.REJECTED, S.DISPOSED}),
    S.CONSUMED: frozenset(),
    S.DISPOSED: frozenset(),
}
# A hold can be put on any sample that is not finished with (a run in progress included: its data may be void).
HOLDABLE = frozenset(set(SampleState) - TERMINAL - {S.ON_HOLD, S.REJECTED})
# Where a sample whose QC failed may not go until the failure is released with an electronic signature.
QC_GATED = frozenset({S.IN_PREPARATION, S.SEQUENCING})
# States a sample can be split, extracted or pooled from: in hand and not finished with (nor on hold, rejected, or
# on a run).
SOURCE_STATES = frozenset({S.RECEIVED, S.STORED, S.IN_PREPARATION, S.COMPLETED})


def allowed_moves(state: SampleState, held_from: SampleState | None = None) -> frozenset[SampleState]:
    """Where a sample in ``state`` may go next; an on-hold sample may also go back to ``held_from``."""
    moves = set(_MOVES[state])
    if state in HOLDABLE:
        moves.add(S.ON_HOLD)
    if state == S.ON_HOLD and held_from is not None:
        moves.add(held_from)
    return frozenset(moves)


class IllegalTransitionError(ConflictError):
    title, type_slug = "Illegal state transition", "illegal-transition"


def illegal_move(
    current: SampleState, target: SampleState, *, held_from: SampleState | None = None, label: str = "the sample"
) -> IllegalTransitionError:
    """The error refusing ``current`` → ``target``, naming the moves that are allowed from ``current``."""
    allowed = sorted(s.value for s in allowed_moves(current, held_from))
    names = ", ".join(allowed) or "none: it is final"
    return IllegalTransitionError(
        f"{label} is {current.value} and cannot become {target.value}; allowed: {names}",
        current=current.value,
        target=target.value,
        allowed=allowed,
    )


def check_transition(
    current: SampleState, target: SampleState, *, held_from: SampleState | None = None, label: str = "the sample"
) -> None:
    """Nothing, or ``IllegalTransitionError`` naming the moves that are allowed from ``current``."""
    if target not in allowed_moves(current, held_from):
        raise illegal_move(current, target, held_from=held_from, label=label)


def move(
    current: SampleState, target: SampleState, *, held_from: SampleState | None = None, label: str = "the sample"
) -> tuple[SampleState, SampleState | None]:
    """The sample's state and ``held_from`` after moving to ``target`` (``IllegalTransitionError`` if it may not):
    a hold remembers the state it was put on; leaving the hold forgets it."""
    check_transition(current, target, held_from=held_from, label=label)
    if target == S.ON_HOLD:
        return target, current
    return target, None


def is_release(current: SampleState, target: SampleState, held_from: SampleState | None) -> bool:
    """Whether the move lifts a hold back to the state the sample was held from."""
    return current == S.ON_HOLD and held_from is not None and target == held_from
