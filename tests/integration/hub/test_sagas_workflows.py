"""The lab's workflows as sagas, run by a runner in the test process, on SQLite and PostgreSQL: each ends completed
with one set of side effects, or compensated with nothing half done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.db.ingest_models import DeviceCommand
from hub.db.notifications_models import Notification
from hub.db.sagas_models import CorrectiveAction
from hub.db.sample_models import Sample
from hub.db.storage_models import StoragePosition
from hub.domain.permissions import Role
from hub.domain.storage.containers import NewContainer
from hub.sagas import REGISTRY, SagaRunner
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed
from tests.integration.hub.sweep_seeds.sagas import SagaLab, build_lab, sheet

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    # the tests drive their own runners, step by step
    async with running_hub(hub_settings(db_url, tmp_path, notify_in_process=False, sagas_in_process=False)) as running:
        yield running


@pytest.fixture
async def world(hub: RunningHub) -> tuple[RunningHub, SeededTenant, SagaLab]:
    tenants = await seed(hub.state, roles=(Role.ADMIN, Role.LAB_MANAGER, Role.TECHNICIAN, Role.SCIENTIST))
    tenant = tenants["alpha-lab"]
    return hub, tenant, await build_lab(hub.state, tenant)


def runner(hub: RunningHub) -> SagaRunner:
    return SagaRunner(hub.state.db, hub.state, REGISTRY, poll_s=0.05)


async def count(hub: RunningHub, query: Any) -> int:
    async with hub.state.db.read() as session:
        return int((await session.execute(query)).scalar_one())


async def test_sample_intake_registers_receives_stores_and_notifies_once(
    world: tuple[RunningHub, SeededTenant, SagaLab],
) -> None:
    hub, tenant, lab = world
    headers = hub.auth(tenant.users[Role.LAB_MANAGER])
    body = {"template_id": lab.template_id, "container_id": lab.container_id, "sheet_base64": sheet("IN", 3)}
    started = await hub.client.post("/v1/sagas/sample-intake", json=body, headers=headers)
    assert started.status_code == 202, started.text
    saga_id = started.json()["id"]
    await runner(hub).drain()
    await runner(hub).drain()  # a second runner finds nothing left to do
    shown = (await hub.client.get(f"/v1/sagas/{saga_id}", headers=hub.auth(tenant.users[Role.ADMIN]))).json()
    assert shown["state"] == "completed", shown
    assert [s["state"] for s in shown["steps"]] == ["done"] * 5
    assert [t["transition"] for t in shown["history"]][-1] == "completed"
    barcodes = ["IN-1", "IN-2", "IN-3"]
    assert await count(hub, select(func.count()).select_from(Sample).where(Sample.barcode.in_(barcodes))) == 3
    stored = select(func.count()).select_from(Sample).where(Sample.barcode.in_(barcodes), Sample.state == "stored")
    assert await count(hub, stored) == 3
    assert (
        await count(
            hub,
            select(func.count())
            .select_from(StoragePosition)
            .where(StoragePosition.box_id == lab.box_id, StoragePosition.sample_id.is_not(None)),
        )
        == 3
    )
    key = shown["steps"][4]["idempotency_key"]
    assert await count(hub, select(func.count()).select_from(Notification).where(Notification.dedup_key == key)) == 1


async def test_an_intake_without_room_is_compensated_and_its_samples_rejected(
    world: tuple[RunningHub, SeededTenant, SagaLab],
) -> None:
    hub, tenant, lab = world
    async with hub.state.db.transaction() as session:
        empty = await hub.state.storage.create_container(
            session, lab.manager, NewContainer(kind="shelf", name="Empty shelf", parent_id=lab.unit_id)
        )
    headers = hub.auth(tenant.users[Role.LAB_MANAGER])
    body = {"template_id": lab.template_id, "container_id": empty.id, "sheet_base64": sheet("NR", 2)}
    saga_id = (await hub.client.post("/v1/sagas/sample-intake", json=body, headers=headers)).json()["id"]
    await runner(hub).drain()
    shown = (await hub.client.get(f"/v1/sagas/{saga_id}", headers=headers)).json()
    assert shown["state"] == "compensated", shown
    assert [s["state"] for s in shown["steps"]] == ["done", "compensated", "done", "failed", "pending"]
    assert "NoRoomError" in (shown["error"] or "")
    rejected = select(func.count()).select_from(Sample).where(Sample.barcode.like("NR-%"), Sample.state == "rejected")
    assert await count(hub, rejected) == 2
    taken = select(func.count()).select_from(StoragePosition).where(StoragePosition.sample_id.is_not(None))
    assert await count(hub, taken) == 0


async def test_an_excursion_response_holds_notifies_owners_and_opens_a_record_closed_with_a_comment(
    world: tuple[RunningHub, SeededTenant, SagaLab],
) -> None:
    hub, tenant, lab = world
    headers = hub.auth(tenant.users[Role.LAB_MANAGER])
    body = {"template_id": lab.template_id, "container_id": lab.container_id, "sheet_base64": sheet("EX", 2)}
    await hub.client.post("/v1/sagas/sample-intake", json=body, headers=headers)
    await runner(hub).drain()
    answer = await hub.client.post(
        "/v1/sagas/excursion-response", json={"unit_id": lab.unit_id, "reason": "freezer at -50"}, headers=headers
    )
    saga_id = answer.json()["id"]
    await runner(hub).drain()
    shown = (await hub.client.get(f"/v1/sagas/{saga_id}", headers=headers)).json()
    assert shown["state"] == "completed", shown
    held = select(func.count()).select_from(Sample).where(Sample.barcode.like("EX-%"), Sample.state == "on_hold")
    assert await count(hub, held) == 2
    actions = (await hub.client.get("/v1/corrective-actions?state=open", headers=headers)).json()
    assert len(actions) == 1
    assert actions[0]["saga_id"] == saga_id
    closed = await hub.client.post(
        f"/v1/corrective-actions/{actions[0]['id']}/close",
        json={"comment": "defrosted, samples checked"},
        headers=headers,
    )
    assert closed.json()["state"] == "closed"
    assert await count(hub, select(func.count()).select_from(CorrectiveAction)) == 1


async def test_abort_needs_an_admin_and_a_reason_and_compensates(
    world: tuple[RunningHub, SeededTenant, SagaLab],
) -> None:
    hub, tenant, lab = world
    body = {"template_id": lab.template_id, "container_id": lab.container_id, "sheet_base64": sheet("AB", 1)}
    manager = hub.auth(tenant.users[Role.LAB_MANAGER])
    saga_id = (await hub.client.post("/v1/sagas/sample-intake", json=body, headers=manager)).json()["id"]
    refused = await hub.client.post(f"/v1/sagas/{saga_id}/abort", json={"reason": "wrong sheet"}, headers=manager)
    assert refused.status_code == 403
    admin = hub.auth(tenant.users[Role.ADMIN])
    aborted = await hub.client.post(f"/v1/sagas/{saga_id}/abort", json={"reason": "wrong sheet"}, headers=admin)
    assert aborted.json()["state"] == "compensating"
    await runner(hub).drain()
    listed = (await hub.client.get("/v1/sagas?state=compensated", headers=admin)).json()
    assert [s["id"] for s in listed] == [saga_id]
    assert await count(hub, select(func.count()).select_from(Sample).where(Sample.barcode == "AB-1")) == 0
    assert await count(hub, select(func.count()).select_from(DeviceCommand)) == 0
