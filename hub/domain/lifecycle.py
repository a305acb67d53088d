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


def check_transition(
    current: SampleState, target: SampleState, *, held_from: SampleState | None = None, label: str = "the sample"
) -> None:
    """Nothing, or ``IllegalTransitionError`` naming the moves that are allowed from ``current``."""
    allowed = allowed_moves(current, held_from)
    if target in allowed:
        return
    names = ", ".join(sorted(s.value for s in allowed)) or "none: it is final"
    raise IllegalTransitionError(
        f"{label} is {current.value} and cannot become {target.value}; allowed: {names}",
        current=current.value,
        target=target.value,
        allowed=sorted(s.value for s in allowed),
    )
