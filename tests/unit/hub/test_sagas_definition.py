"""Saga definitions, backoff, failure sorting and crash points: pure logic, no database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hub.errors import ConflictError, NotFoundError, RateLimitedError, UnavailableError
from hub.sagas import REGISTRY, Backoff, PermanentStepError, RetryableStepError, SagaDefinition, Step, Wait
from hub.sagas.crash import CrashPoint, CrashPoints
from hub.sagas.definition import deadline_from
from hub.sagas.engine import is_permanent


async def _nothing(ctx: object) -> dict[str, object]:
    return {}


def test_backoff_grows_by_its_factor_up_to_its_cap() -> None:
    backoff = Backoff(timedelta(seconds=1), 2.0, timedelta(seconds=5))
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_a_definition_refuses_twin_step_names_and_steps_that_both_act_and_wait() -> None:
    with pytest.raises(ValueError, match="distinct"):
        SagaDefinition("x", 1, (Step("a", _nothing), Step("a", _nothing)))
    wait = Wait(frozenset({"e"}), lambda ctx: "s", deadline_from("d", timedelta(seconds=1)))
    with pytest.raises(ValueError, match="exactly one"):
        SagaDefinition("x", 1, (Step("a", _nothing, wait=wait),))
    with pytest.raises(ValueError, match="exactly one"):
        SagaDefinition("x", 1, (Step("a", None),))


def test_a_wait_deadline_comes_from_the_inputs_or_its_default() -> None:
    read = deadline_from("start_deadline_s", timedelta(hours=24))
    assert read({"start_deadline_s": 90}) == timedelta(seconds=90)
    assert read({}) == timedelta(hours=24)


def test_refusals_are_permanent_and_outages_are_retried() -> None:
    assert is_permanent(ConflictError("no room"))
    assert is_permanent(NotFoundError("gone"))
    assert is_permanent(PermanentStepError("bad sheet"))
    assert not is_permanent(UnavailableError("later"))
    assert not is_permanent(RateLimitedError("slow down", 3))
    assert not is_permanent(RetryableStepError("locked"))
    assert not is_permanent(OSError("connection reset"))


def test_the_lab_workflows_have_one_pivot_each_and_compensate_only_before_it() -> None:
    for definition in REGISTRY.values():
        pivots = [n for n, s in enumerate(definition.steps) if s.pivot]
        assert len(pivots) == 1, definition.type
        assert all(s.compensate is None for s in definition.steps[pivots[0] :]), definition.type


def test_a_crash_point_names_type_step_boundary_and_optionally_a_saga_key() -> None:
    point = CrashPoint.parse("sample_intake:notify:after_log@key-1")
    assert point.matches("sample_intake", "notify", "after_log", "key-1")
    assert not point.matches("sample_intake", "notify", "after_log", "key-2")
    assert not point.matches("sample_intake", "notify", "before", "key-1")
    assert CrashPoint.parse("*:*:before").matches("any", "step", "before", None)
    with pytest.raises(ValueError, match="write"):
        CrashPoint.parse("sample_intake:notify:sometime")


def test_crash_points_are_refused_in_production_and_absent_by_default() -> None:
    with pytest.raises(ValueError, match="production"):
        CrashPoints.from_env("production", {"TRACSEQ_SAGA_CRASH_AT": "a:b:before"})
    assert not CrashPoints.from_env("test", {}).armed


def test_a_marked_crash_point_does_not_fire_again(tmp_path: Path) -> None:
    points = CrashPoints.from_env(
        "test", {"TRACSEQ_SAGA_CRASH_AT": "a:b:before,c:d:after_log", "TRACSEQ_SAGA_CRASH_MARKS": str(tmp_path)}
    )
    assert len(points.points) == 2
    (tmp_path / points.points[0].mark).write_text("fired")
    points.hit("a", "b", "before")  # marked: returns instead of killing this process
    points.hit("x", "y", "before")  # no point: nothing
