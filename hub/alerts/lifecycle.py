"""An alert's life, as a pure state machine: pending → firing → acknowledged → resolved.

``pending``: the condition is there but not yet worth telling anyone (its delay runs, or a door opening or a defrost
holds it back). ``firing``: people are being told. ``acknowledged``: a person said they are on it, with a comment;
escalation stops, the condition may still be there. ``resolved``: the condition cleared (or a person closed an
alert that cannot clear by itself); final. A pending alert whose condition goes away is resolved without ever
having fired.
"""

from __future__ import annotations

from enum import StrEnum

from hub.errors import ConflictError, ValidationFailedError


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


OPEN_STATES = frozenset({AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED})

_MOVES: dict[AlertState, frozenset[AlertState]] = {
    AlertState.PENDING: frozenset({AlertState.FIRING, AlertState.RESOLVED}),
    AlertState.FIRING: frozenset({AlertState.ACKNOWLEDGED, AlertState.RESOLVED}),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.RESOLVED}),
    AlertState.RESOLVED: frozenset(),
}

_WHY_NOT = {
    (AlertState.PENDING, AlertState.ACKNOWLEDGED): "it is still pending: nobody has been told yet",
    (AlertState.ACKNOWLEDGED, AlertState.ACKNOWLEDGED): "it was acknowledged already",
    (AlertState.ACKNOWLEDGED, AlertState.FIRING): "an acknowledged alert does not fire again; it resolves",
}


class IllegalAlertMoveError(ConflictError):
    """A move the lifecycle does not allow; names the state the alert is in and the one asked for."""


def allowed_moves(state: AlertState) -> frozenset[AlertState]:
    return _MOVES[state]


def check_move(current: AlertState | str, target: AlertState | str) -> AlertState:
    """The target state, if ``current`` may move to it; ``IllegalAlertMoveError`` otherwise."""
    here, there = AlertState(current), AlertState(target)
    if there in _MOVES[here]:
        return there
    why = _WHY_NOT.get((here, there))
    if why is None:
        why = (
            "a resolved alert is final"
            if here is AlertState.RESOLVED
            else f"{here} can move to " + (", ".join(sorted(_MOVES[here])) or "nothing")
        )
    raise IllegalAlertMoveError(
        f"cannot move an alert from {here} to {there}: {why}", current=here.value, requested=there.value
    )


def check_comment(comment: str | None, action: str) -> str:
    """The comment, stripped; a person acknowledging or closing an alert must say something."""
    text = (comment or "").strip()
    if len(text) < 3:
        raise ValidationFailedError(f"a comment is required to {action} an alert (at least 3 characters)")
    return text


def is_open(state: AlertState | str) -> bool:
    return AlertState(state) in OPEN_STATES
