"""The sequencing queue's order: priority bands, ageing that lifts waiting work one band per step up to a ceiling,
urgent work always first, first in first out within a band, and the same order every time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.sequencing_queue import BANDS, RANK, Ageing, Priority, Waiting, rank_queue
from hub.errors import ValidationFailedError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)

priorities = st.sampled_from(list(Priority))
waits = st.integers(min_value=0, max_value=30 * 24 * 3600).map(lambda s: timedelta(seconds=s))


@st.composite
def queues(draw: st.DrawFn) -> list[Waiting]:
    count = draw(st.integers(min_value=0, max_value=25))
    return [Waiting(f"job-{n:03d}", draw(priorities), NOW - draw(waits)) for n in range(count)]


def order(jobs: list[Waiting], ageing: Ageing | None = None) -> list[str]:
    return [r.job.id for r in rank_queue(jobs, NOW, ageing)]


def test_fresh_jobs_come_out_by_priority() -> None:
    jobs = [Waiting(p.value, p, NOW) for p in (Priority.LOW, Priority.NORMAL, Priority.URGENT, Priority.HIGH)]
    assert order(jobs) == ["urgent", "high", "normal", "low"]


def test_a_low_job_moves_up_one_band_per_day_waited_and_stops_at_high() -> None:
    ageing = Ageing()
    assert ageing.effective(Priority.LOW, DAY - timedelta(seconds=1)) == Priority.LOW
    assert ageing.effective(Priority.LOW, DAY) == Priority.NORMAL
    assert ageing.effective(Priority.LOW, 2 * DAY) == Priority.HIGH
    assert ageing.effective(Priority.LOW, 40 * DAY) == Priority.HIGH
    assert ageing.effective(Priority.URGENT, 40 * DAY) == Priority.URGENT


def test_the_step_and_the_ceiling_are_configurable() -> None:
    ageing = Ageing(every=timedelta(hours=4), ceiling=Priority.URGENT)
    assert ageing.effective(Priority.LOW, timedelta(hours=12)) == Priority.URGENT
    with pytest.raises(ValidationFailedError):
        Ageing(every=timedelta(0))


def test_a_low_job_that_waited_a_day_outranks_a_fresh_normal_job() -> None:
    old_low = Waiting("old-low", Priority.LOW, NOW - DAY)
    fresh_normal = Waiting("fresh-normal", Priority.NORMAL, NOW)
    ranked = rank_queue([fresh_normal, old_low], NOW)
    assert [r.job.id for r in ranked] == ["old-low", "fresh-normal"]
    assert ranked[0].effective == Priority.NORMAL
    assert ranked[0].promoted == 1
    assert ranked[0].waited == DAY


def test_a_job_queued_in_the_future_has_waited_nothing() -> None:
    (ranked,) = rank_queue([Waiting("skewed", Priority.LOW, NOW + DAY)], NOW)
    assert ranked.waited == timedelta(0)
    assert ranked.effective == Priority.LOW


@given(queues())
def test_the_order_is_a_permutation_numbered_from_one(jobs: list[Waiting]) -> None:
    ranked = rank_queue(jobs, NOW)
    assert sorted(r.job.id for r in ranked) == sorted(j.id for j in jobs)
    assert [r.position for r in ranked] == list(range(1, len(jobs) + 1))


@given(queues())
def test_the_order_does_not_depend_on_the_order_jobs_were_read_in(jobs: list[Waiting]) -> None:
    assert order(jobs) == order(list(reversed(jobs)))


@given(queues())
def test_urgent_work_is_always_first(jobs: list[Waiting]) -> None:
    ranked = rank_queue(jobs, NOW)
    urgent = [r.job.priority == Priority.URGENT for r in ranked]
    assert urgent == sorted(urgent, reverse=True)


@given(queues())
def test_bands_come_out_in_order_and_first_in_first_out_within_a_band(jobs: list[Waiting]) -> None:
    ranked = rank_queue(jobs, NOW)
    for before, after in itertools.pairwise(ranked):
        assert RANK[before.effective] <= RANK[after.effective]
        if before.effective == after.effective:
            assert before.job.queued_at <= after.job.queued_at


@given(queues())
def test_among_jobs_of_the_same_age_a_higher_priority_is_never_behind_a_lower_one(jobs: list[Waiting]) -> None:
    same_age = [Waiting(j.id, j.priority, NOW - DAY) for j in jobs]
    ranked = rank_queue(same_age, NOW)
    ranks = [RANK[r.job.priority] for r in ranked]
    assert ranks == sorted(ranks)


@given(priorities, waits, waits)
def test_waiting_longer_never_lowers_a_jobs_band(priority: Priority, first: timedelta, more: timedelta) -> None:
    ageing = Ageing()
    assert RANK[ageing.effective(priority, first + more)] <= RANK[ageing.effective(priority, first)]


@given(st.sampled_from([Priority.NORMAL, Priority.LOW]), waits)
def test_a_lower_job_waiting_long_enough_outranks_any_fresher_job_of_a_higher_non_urgent_band(
    priority: Priority, extra: timedelta
) -> None:
    ageing = Ageing()
    needed = (RANK[priority] - RANK[Priority.HIGH]) * ageing.every
    waiting = Waiting("waiting", priority, NOW - needed - extra - timedelta(seconds=1))
    fresher = [Waiting(f"fresh-{p.value}", p, NOW - extra) for p in BANDS if p not in (Priority.URGENT, priority)]
    assert order([*fresher, waiting])[0] == "waiting"
