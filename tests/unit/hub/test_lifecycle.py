"""The sample lifecycle as pure functions: walks through the graph, holds and releases, refusals that name exactly
the allowed moves."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.db.sample_models import SAMPLE_STATES
from hub.domain.lifecycle import (
    HOLDABLE,
    QC_GATED,
    SOURCE_STATES,
    TERMINAL,
    IllegalTransitionError,
    SampleState,
    allowed_moves,
    check_transition,
    is_release,
    move,
)

S = SampleState
states = st.sampled_from(list(SampleState))
held_froms = st.none() | st.sampled_from(sorted(HOLDABLE))


def test_the_schema_knows_exactly_the_lifecycle_states() -> None:
    assert set(SAMPLE_STATES) == {s.value for s in SampleState}


def test_the_main_path_from_registration_to_completion_is_allowed() -> None:
    path = [S.REGISTERED, S.RECEIVED, S.STORED, S.IN_PREPARATION, S.SEQUENCING, S.COMPLETED]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)


@given(start=st.sampled_from(sorted(set(SampleState) - {S.ON_HOLD})), data=st.data())
def test_a_random_walk_never_leaves_the_graph(start: SampleState, data: st.DataObject) -> None:
    state, held_from = start, None
    for _ in range(30):
        allowed = allowed_moves(state, held_from)
        if not allowed:
            assert state in TERMINAL
            return
        target = data.draw(st.sampled_from(sorted(allowed)))
        state, held_from = move(state, target, held_from=held_from)
        assert state in set(SampleState)
        assert (held_from is not None) == (state == S.ON_HOLD), "held_from is set exactly while on hold"
        assert held_from is None or held_from in HOLDABLE


@given(terminal=st.sampled_from(sorted(TERMINAL)), held_from=held_froms, target=states)
def test_terminal_states_stay_terminal(
    terminal: SampleState, held_from: SampleState | None, target: SampleState
) -> None:
    assert allowed_moves(terminal, held_from) == frozenset()
    with pytest.raises(IllegalTransitionError) as refused:
        check_transition(terminal, target, held_from=held_from)
    assert refused.value.extra["allowed"] == []
    assert "none: it is final" in refused.value.detail


@given(held=st.sampled_from(sorted(HOLDABLE)))
def test_a_release_returns_to_the_state_held_from(held: SampleState) -> None:
    state, held_from = move(held, S.ON_HOLD)
    assert (state, held_from) == (S.ON_HOLD, held)
    assert allowed_moves(state, held_from) == {held, S.REJECTED, S.DISPOSED}
    assert is_release(state, held, held_from)
    assert move(state, held, held_from=held_from) == (held, None)


@given(other=states, held=st.sampled_from(sorted(HOLDABLE)))
def test_an_on_hold_sample_goes_back_nowhere_else(other: SampleState, held: SampleState) -> None:
    if other not in {held, S.REJECTED, S.DISPOSED}:
        with pytest.raises(IllegalTransitionError):
            check_transition(S.ON_HOLD, other, held_from=held)
    assert not is_release(S.ON_HOLD, other, held) or other == held


@given(current=states, held_from=held_froms, target=states)
def test_every_refusal_names_exactly_the_allowed_moves(
    current: SampleState, held_from: SampleState | None, target: SampleState
) -> None:
    allowed = allowed_moves(current, held_from if current == S.ON_HOLD else None)
    if target in allowed:
        check_transition(current, target, held_from=held_from if current == S.ON_HOLD else None)
        return
    with pytest.raises(IllegalTransitionError) as refused:
        check_transition(
            current, target, held_from=held_from if current == S.ON_HOLD else None, label="sample S-000001"
        )
    error = refused.value
    assert error.status == 409
    assert error.extra["allowed"] == sorted(s.value for s in allowed)
    assert error.extra["current"] == current.value
    assert error.extra["target"] == target.value
    assert error.detail.startswith(f"sample S-000001 is {current.value} and cannot become {target.value}")
    named = error.detail.rsplit("allowed: ", 1)[1]
    assert named == (", ".join(sorted(s.value for s in allowed)) or "none: it is final")


def test_a_hold_without_a_remembered_state_can_only_end_in_rejection_or_disposal() -> None:
    assert allowed_moves(S.ON_HOLD, None) == {S.REJECTED, S.DISPOSED}


def test_holds_release_gates_and_sources_are_consistent() -> None:
    assert not (HOLDABLE & TERMINAL)
    assert S.ON_HOLD not in HOLDABLE
    assert S.REJECTED not in HOLDABLE
    assert {S.IN_PREPARATION, S.SEQUENCING} == QC_GATED
    assert not (SOURCE_STATES & (TERMINAL | {S.ON_HOLD, S.REJECTED, S.REGISTERED}))
    assert S.DISPOSED in allowed_moves(S.REJECTED)
