"""Sagas for the sweep (a sample-intake saga started but not run, a corrective action), and the small lab the saga
tests build: a sample type, an approved intake template, a freezer with a box, a device."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from hub.api.state import HubState
from hub.db.models import Device, User
from hub.db.notifications_models import NotificationChannel
from hub.domain.corrective_actions import CorrectiveActions
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from hub.domain.storage.containers import NewContainer
from hub.intake import FieldSpec
from hub.sagas import SagaBook
from hub.sagas.workflows import intake

FIELDS: list[dict[str, Any]] = [
    {"key": "barcode", "label": "Barcode", "type": "text", "maps_to": "barcode"},
    {"key": "name", "label": "Sample name", "type": "text", "required": True, "maps_to": "name"},
    {"key": "sample_type", "label": "Sample type", "type": "text", "required": True, "maps_to": "sample_type"},
]
SAMPLE_TYPE = "saga-dna"


@dataclass(frozen=True)
class SagaLab:
    manager: Principal
    approver: Principal
    template_id: str
    unit_id: str
    container_id: str
    box_id: str
    device_id: str


def person(tenant: Any, role: Role) -> Principal:
    user = tenant.users[role]
    return Principal("user", user.id, tenant.id, user.username, role)


def sheet(prefix: str, count: int) -> str:
    rows = "".join(f"{prefix}-{n},{prefix} sample {n},{SAMPLE_TYPE}\r\n" for n in range(1, count + 1))
    return base64.b64encode(f"Barcode,Sample name,Sample type\r\n{rows}".encode()).decode()


async def build_lab(state: HubState, tenant: Any, prefix: str = "Saga", device_id: str | None = None) -> SagaLab:
    manager, approver = person(tenant, Role.LAB_MANAGER), person(tenant, Role.TECHNICIAN)
    async with state.db.transaction() as session:
        if not [t for t in await state.samples.sample_types(session, tenant.id) if t.name == SAMPLE_TYPE]:
            await state.samples.create_sample_type(session, manager, name=SAMPLE_TYPE, zone="-80")
        template, _ = await state.intake.create_template(
            session,
            manager,
            name=f"{prefix} intake",
            description=None,
            fields=[FieldSpec(**f) for f in FIELDS],
            note=None,
        )
        signer = await session.get(User, approver.id)
        assert signer is not None
        await state.intake.approve(session, approver, signer, template.id, 1, reason="saga lab")

        async def make(kind: str, name: str, parent: str | None, **extra: Any) -> str:
            spec = NewContainer(kind=kind, name=name, parent_id=parent, **extra)
            return str((await state.storage.create_container(session, manager, spec)).id)

        site = await make("site", f"{prefix} site", None)
        freezer = await make("freezer", f"{prefix} freezer", site, zone="-80")
        shelf = await make("shelf", f"{prefix} shelf", freezer)
        box = await make("box", f"{prefix} box", shelf, rows=9, cols=9)
        session.add(
            NotificationChannel(
                tenant_id=tenant.id,
                name=f"{prefix} mail",
                kind="email",
                config={"kind": "email", "from_address": "hub@lab.test"},
                secrets={},
            )
        )
        for user in tenant.users.values():
            row = await session.get(User, user.id)
            if row is not None and row.email is None:
                row.email = f"{user.username}@lab.test"
        if device_id is None:
            device = Device(tenant_id=tenant.id, name=f"{prefix.lower()}-sequencer-pc")
            session.add(device)
            await session.flush()
            device_id = device.id
    return SagaLab(manager, approver, template.id, freezer, shelf, box, device_id)


async def seed(hub: Any, tenant: Any, device_id: str) -> dict[str, str]:
    state: HubState = hub.state
    lab = await build_lab(state, tenant, "Sweep saga", device_id)
    async with state.db.transaction() as session:
        saga = await SagaBook(state.audit).start(
            session,
            lab.manager,
            intake.DEFINITION,
            {
                "template_id": lab.template_id,
                "container_id": lab.container_id,
                "sheet_base64": sheet("SWEEPSAGA", 1),
                "filename": "sweep.csv",
            },
        )
        action = await CorrectiveActions(state.audit).open(
            session, lab.manager, key="sweep", title="sweep corrective action", details={}, unit_id=lab.unit_id
        )
    return {
        "saga_id": saga.id,
        "action_id": action.id,
        "saga_template_id": lab.template_id,
        "saga_container_id": lab.container_id,
        "saga_unit_id": lab.unit_id,
    }


BODIES = {
    ("POST", "/v1/sagas/{saga_id}/retry"): lambda w: {"reason": "sweep retry"},
    ("POST", "/v1/sagas/{saga_id}/abort"): lambda w: {"reason": "sweep abort"},
    ("POST", "/v1/corrective-actions/{action_id}/close"): lambda w: {"comment": "sweep closed it"},
    ("POST", "/v1/sagas/sample-intake"): lambda w: {
        "template_id": w.path_ids["saga_template_id"],
        "container_id": w.path_ids["saga_container_id"],
        "sheet_base64": sheet("SWEEPSTART", 1),
    },
    ("POST", "/v1/sagas/sequencing-submission"): lambda w: {
        "name": "sweep run",
        "platform": "novaseq_x",
        "job_ids": [w.path_ids["job_id"]] if "job_id" in w.path_ids else ["none"],
        "device_id": w.path_ids["device_id"],
    },
    ("POST", "/v1/sagas/excursion-response"): lambda w: {"unit_id": w.path_ids["saga_unit_id"], "reason": "sweep"},
}
