"""Storage records of tenant A for the sweep: a tree down to a 9 × 9 box, a second freezer to move the shelf to,
samples for each write route (one to place, one placed to move, one placed to take out, one to allocate), the
freezer bound to A's device, and an excursion that device opened."""

from __future__ import annotations

from typing import Any

from hub.db.base import utcnow
from hub.db.sample_models import SampleType
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.samples import NewSample
from hub.domain.storage.bindings import Binding
from hub.domain.storage.containers import NewContainer
from hub.domain.storage.placement import Placement

Maker = Any


async def seed(hub: Any, tenant: Any, device_id: str) -> dict[str, str]:
    state = hub.state
    user = tenant.users[Role.ADMIN]
    admin = Principal("user", user.id, tenant.id, user.username, Role.ADMIN)
    device = Principal("device", device_id, tenant.id, f"{tenant.slug}-gw")
    async with state.db.transaction() as session:
        dna = SampleType(tenant_id=tenant.id, name="storage-sweep-dna", zone="-80", colder_ok=True)
        session.add(dna)
        await session.flush()
        samples = await state.samples.register_many(
            session, admin, [NewSample(name=f"storage sweep {i}", sample_type_id=dna.id) for i in range(4)]
        )
        ids = [s.id for s in samples]
        await state.samples.transition_many(session, admin, ids, SampleState.RECEIVED, reason="sweep seed")

        async def make(kind: str, name: str, parent: str | None, **extra: Any) -> str:
            spec = NewContainer(kind=kind, name=name, parent_id=parent, **extra)
            return str((await state.storage.create_container(session, admin, spec)).id)

        site = await make("site", "Sweep site", None)
        freezer = await make("freezer", "Sweep freezer", site, zone="-80")
        backup = await make("freezer", "Sweep backup freezer", site, zone="-80")
        shelf = await make("shelf", "Sweep shelf", freezer)
        box = await make("box", "Sweep box", shelf, rows=9, cols=9)
        await state.storage.place(session, admin, [Placement(ids[0], box, "A1"), Placement(ids[1], box, "A2")])
        await state.storage.set_bindings(session, admin, freezer, [Binding(device_id, "temp", "freezer-01")])
        alarm = {
            "action": "raised",
            "alarm_id": "freezer-01/temp/high",
            "device": "freezer-01",
            "channel": "temp",
            "rule": "high",
            "severity": "alarm",
            "value": "-61.5",
            "limit": "-70",
            "message": "temp -61.5 Cel above high limit -70 for 300 s",
        }
        event = {"device_id": device_id, "seq": 0, "tenant_id": tenant.id, "kind": "alarm", "type": "raised"}
        await state.storage.on_device_events(
            session, device, [{**event, "severity": "alarm", "payload": alarm, "ts": utcnow()}]
        )
        excursion = await state.storage.excursions(session, tenant.id, freezer)
    return {
        "container_id": shelf,
        "box_id": box,
        "unit_id": freezer,
        "excursion_id": excursion[0].id,
        "storage_backup_unit_id": backup,
        "storage_placed_sample_id": ids[0],
        "storage_taken_sample_id": ids[1],
        "storage_new_sample_id": ids[2],
        "storage_allocated_sample_id": ids[3],
    }


BODIES: dict[tuple[str, str], Maker] = {
    ("POST", "/v1/storage/placements"): lambda w: {
        "placements": [
            {"sample_id": w.path_ids["storage_new_sample_id"], "box_id": w.path_ids["box_id"], "position": "B1"}
        ]
    },
    ("POST", "/v1/storage/moves"): lambda w: {
        "moves": [
            {"sample_id": w.path_ids["storage_placed_sample_id"], "box_id": w.path_ids["box_id"], "position": "C1"}
        ]
    },
    ("POST", "/v1/storage/removals"): lambda w: {"sample_ids": [w.path_ids["storage_taken_sample_id"]]},
    ("POST", "/v1/storage/allocations"): lambda w: {
        "sample_ids": [w.path_ids["storage_allocated_sample_id"]],
        "container_id": w.path_ids["container_id"],
    },
    ("PUT", "/v1/storage/units/{unit_id}/bindings"): lambda w: [
        {"device_id": w.path_ids["device_id"], "channel": "temp", "source": "freezer-01"}
    ],
    ("PATCH", "/v1/storage/containers/{container_id}"): lambda w: {"reason": "tenant sweep", "name": "Swept shelf"},
    ("POST", "/v1/storage/containers/{container_id}/move"): lambda w: {
        "parent_id": w.path_ids["storage_backup_unit_id"],
        "reason": "tenant sweep",
    },
    ("POST", "/v1/storage/units/{unit_id}/hold"): lambda w: {
        "reason": "tenant sweep",
        "excursion_id": w.path_ids["excursion_id"],
    },
}
QUERIES: dict[tuple[str, str], Maker] = {
    ("GET", "/v1/storage/locations"): lambda w: {"sample_id": [w.path_ids["storage_placed_sample_id"]]},
}
