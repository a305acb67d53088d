"""The alert lifecycle: pending → firing → acknowledged → resolved, and every other move refused by name."""

from __future__ import annotations

import itertools

import pytest

from hub.alerts.lifecycle import (
    OPEN_STATES,
    AlertState,
    IllegalAlertMoveError,
    allowed_moves,
    check_comment,
    check_move,
    is_open,
)
from hub.errors import ConflictError, ValidationFailedError

LEGAL = {
    (AlertState.PENDING, AlertState.FIRING),
    (AlertState.PENDING, AlertState.RESOLVED),
    (AlertState.FIRING, AlertState.ACKNOWLEDGED),
    (AlertState.FIRING, AlertState.RESOLVED),
    (AlertState.ACKNOWLEDGED, AlertState.RESOLVED),
}


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_the_legal_moves_return_the_target(current: AlertState, target: AlertState) -> None:
    assert check_move(current, target) is target
    assert target in allowed_moves(current)


@pytest.mark.parametrize(("current", "target"), sorted(set(itertools.product(AlertState, AlertState)) - LEGAL))
def test_every_other_move_is_refused_naming_both_states(current: AlertState, target: AlertState) -> None:
    with pytest.raises(IllegalAlertMoveError) as caught:
        check_move(current, target)
    assert isinstance(caught.value, ConflictError)  # answered as 409
    assert f"from {current} to {target}" in str(caught.value)
    assert caught.value.extra == {"current": current.value, "requested": target.value}


def test_a_pending_alert_cannot_be_acknowledged_because_nobody_was_told() -> None:
    with pytest.raises(IllegalAlertMoveError, match="still pending"):
        check_move("pending", "acknowledged")


def test_acknowledging_twice_is_refused() -> None:
    with pytest.raises(IllegalAlertMoveError, match="acknowledged already"):
        check_move("acknowledged", "acknowledged")


def test_resolved_is_final() -> None:
    assert allowed_moves(AlertState.RESOLVED) == frozenset()
    with pytest.raises(IllegalAlertMoveError, match="final"):
        check_move("resolved", "firing")


def test_unknown_states_are_refused() -> None:
    with pytest.raises(ValueError, match="snoozed"):
        check_move("snoozed", "firing")


@pytest.mark.parametrize("comment", [None, "", "  ", "ok"])
def test_a_comment_is_required_to_acknowledge(comment: str | None) -> None:
    with pytest.raises(ValidationFailedError, match="comment is required to acknowledge"):
        check_comment(comment, "acknowledge")


def test_the_comment_is_kept_stripped() -> None:
    assert check_comment("  on my way to the freezer  ", "acknowledge") == "on my way to the freezer"


def test_open_states() -> None:
    assert {s for s in AlertState if is_open(s)} == OPEN_STATES == {"pending", "firing", "acknowledged"}
