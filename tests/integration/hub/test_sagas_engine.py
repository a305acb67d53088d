"""The saga engine on SQLite and PostgreSQL: retries with backoff, compensation newest first, a compensation that
keeps failing ends in ``compensation_failed`` with a ``saga.failed`` event (an alert), admin retry, durable waits,
and several runners at once never run a step twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.db.models import OutboxEvent
from hub.db.sagas_models import Saga
from hub.domain.permissions import Role
from hub.errors import ConflictError
from hub.events.outbox import record_event
from hub.sagas import Backoff, SagaBook, SagaDefinition, SagaRunner, Step, StepContext, Wait
from hub.sagas.definition import deadline_from
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed
from tests.integration.hub.sweep_seeds.sagas import person

pytestmark = pytest.mark.anyio
FAILS: Counter[str] = Counter()  # how often each step has still to fail, by name


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[RunningHub, SeededTenant]]:
    # the tests drive their own runners, step by step
    async with running_hub(hub_settings(db_url, tmp_path, notify_in_process=False, sagas_in_process=False)) as running:
        tenants = await seed(running.state, slugs=("alpha-lab",), roles=(Role.ADMIN,))
        yield running, tenants["alpha-lab"]


def effect(name: str, *, fails: str | None = None) -> Any:
    async def act(ctx: StepContext) -> dict[str, Any]:
        if fails and FAILS[fails] > 0:
            FAILS[fails] -= 1
            raise ConflictError(f"{fails} refused") if fails.startswith("permanent") else OSError(f"{fails} flaked")
        record_event(
            ctx.session,
            tenant_id=ctx.tenant_id,
            type=f"test.{name}",
            subject_type="saga",
            subject_id=ctx.saga_id,
            actor=None,
            payload={"key": ctx.key},
        )
        return {"did": name}

    return act


def definition(*steps: Step) -> SagaDefinition:
    return SagaDefinition("test_saga", 1, steps)


FAST = Backoff(timedelta(0), 1.0, timedelta(0))


async def effects(hub: RunningHub, name: str) -> int:
    async with hub.state.db.read() as session:
        query = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == name)
        return int((await session.execute(query)).scalar_one())


async def start(hub: RunningHub, tenant: SeededTenant, saga: SagaDefinition, **inputs: Any) -> str:
    async with hub.state.db.transaction() as session:
        return (await SagaBook(hub.state.audit).start(session, person(tenant, Role.ADMIN), saga, inputs)).id


async def state_of(hub: RunningHub, tenant: SeededTenant, saga_id: str) -> Any:
    async with hub.state.db.read() as session:
        return await SagaBook(hub.state.audit).view(session, tenant.id, saga_id)


async def test_a_flaky_step_is_retried_and_a_refused_one_compensates_newest_first(
    hub: tuple[RunningHub, SeededTenant],
) -> None:
    running, tenant = hub
    FAILS.update({"flaky": 2, "permanent-c": 1})
    saga = definition(
        Step("a", effect("a"), compensate=effect("undo_a"), backoff=FAST),
        Step("b", effect("b", fails="flaky"), compensate=effect("undo_b"), backoff=FAST),
        Step("c", effect("c", fails="permanent-c"), backoff=FAST),
    )
    saga_id = await start(running, tenant, saga)
    await SagaRunner(running.state.db, running.state, {saga.type: saga}).drain()
    view = await state_of(running, tenant, saga_id)
    assert view.saga.state == "compensated"
    assert [(s.state, s.attempts) for s in view.steps] == [("compensated", 1), ("compensated", 3), ("failed", 1)]
    history = [t.transition for t in view.history]
    assert history.count("step_retry") == 2
    assert history[-3:] == ["step_compensated", "step_compensated", "compensated"]
    assert [await effects(running, f"test.{n}") for n in ("a", "b", "c", "undo_a", "undo_b")] == [1, 1, 0, 1, 1]


async def test_a_compensation_that_keeps_failing_ends_explicitly_raises_saga_failed_and_an_admin_retries_it(
    hub: tuple[RunningHub, SeededTenant],
) -> None:
    running, tenant = hub
    FAILS.update({"permanent-b": 1, "undo-flaky": 3})
    saga = definition(
        Step("a", effect("a"), compensate=effect("undo_a", fails="undo-flaky"), backoff=FAST, compensation_attempts=3),
        Step("b", effect("b", fails="permanent-b"), backoff=FAST),
    )
    saga_id = await start(running, tenant, saga)
    runner = SagaRunner(running.state.db, running.state, {saga.type: saga})
    await runner.drain()
    view = await state_of(running, tenant, saga_id)
    assert view.saga.state == "compensation_failed"
    assert view.steps[0].state == "failed"
    assert await effects(running, "saga.failed") == 1
    headers = running.auth(tenant.users[Role.ADMIN])
    retried = await running.client.post(f"/v1/sagas/{saga_id}/retry", json={"reason": "relay fixed"}, headers=headers)
    assert retried.json()["state"] == "compensating"
    await runner.drain()
    assert (await state_of(running, tenant, saga_id)).saga.state == "compensated"
    assert await effects(running, "test.undo_a") == 1


async def test_a_wait_ends_on_its_event_and_times_out_into_compensation_before_the_pivot(
    hub: tuple[RunningHub, SeededTenant],
) -> None:
    running, tenant = hub
    wait = Wait(
        frozenset({"test.started"}),
        lambda ctx: str(ctx.inputs["thing"]),
        deadline_from("deadline_s", timedelta(hours=1)),
    )
    saga = definition(
        Step("a", effect("a"), compensate=effect("undo_a")),
        Step("wait", None, wait=wait, pivot=True),
        Step("b", effect("b")),
    )
    runner = SagaRunner(running.state.db, running.state, {saga.type: saga})
    waits = await start(running, tenant, saga, thing="thing-1")
    times_out = await start(running, tenant, saga, thing="thing-2", deadline_s=0.01)
    await runner.drain()
    assert (await state_of(running, tenant, waits)).saga.state == "waiting"
    async with running.state.db.transaction() as session:
        record_event(
            session,
            tenant_id=tenant.id,
            type="test.started",
            subject_type="x",
            subject_id="thing-1",
            actor=None,
            payload={},
        )
    async with running.state.db.transaction() as session:  # what the wake-up subscriber does: due now
        row = await session.get(Saga, waits)
        assert row is not None
        row.next_attempt_at = row.created_at
    await asyncio.sleep(0.02)
    await runner.drain()
    assert (await state_of(running, tenant, waits)).saga.state == "completed"
    timed_out = await state_of(running, tenant, times_out)
    assert timed_out.saga.state == "compensated"
    assert "StepTimeoutError" in (timed_out.saga.error or "")


async def test_several_runners_at_once_run_each_step_exactly_once(hub: tuple[RunningHub, SeededTenant]) -> None:
    running, tenant = hub
    saga = definition(Step("a", effect("a")), Step("b", effect("b")), Step("c", effect("c")))
    ids = [await start(running, tenant, saga) for _ in range(12)]
    runners = [SagaRunner(running.state.db, running.state, {saga.type: saga}, batch=3) for _ in range(3)]
    await asyncio.gather(*(r.drain() for r in runners))
    states = {(await state_of(running, tenant, i)).saga.state for i in ids}
    assert states == {"completed"}
    assert [await effects(running, f"test.{n}") for n in "abc"] == [12, 12, 12]
