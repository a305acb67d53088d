"""Storage over HTTP on SQLite and PostgreSQL: the container tree, a 96 box listed in two queries, placing, moving
and taking out samples all or nothing, zone refusals, auto-allocation, capacity warnings, moving a box between
units, the contents manifest, role checks and other tenants, and two clients racing for one position."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from hub.db.models import AuditEntry, OutboxEvent
from hub.db.sample_models import SampleType
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.samples import NewSample
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed

pytestmark = pytest.mark.anyio

ROLES = (Role.ADMIN, Role.TECHNICIAN, Role.SCIENTIST)
# name: (zone, colder_ok)
TYPES = {"dna": ("-80", True), "rna": ("-80", False), "serum": ("-20", True), "media": ("4", False)}


@dataclass
class Lab:
    """Tenant A (admin, technician, scientist) with four sample types, tenant B with a technician."""

    hub: RunningHub
    a: SeededTenant
    b: SeededTenant
    types: dict[str, str]

    @property
    def client(self) -> httpx.AsyncClient:
        return self.hub.client

    @property
    def tech(self) -> dict[str, str]:
        return self.hub.auth(self.a.users[Role.TECHNICIAN])

    @property
    def scientist(self) -> dict[str, str]:
        return self.hub.auth(self.a.users[Role.SCIENTIST])

    @property
    def other_tenant(self) -> dict[str, str]:
        return self.hub.auth(self.b.users[Role.TECHNICIAN])

    @property
    def admin(self) -> Principal:
        user = self.a.users[Role.ADMIN]
        return Principal("user", user.id, self.a.id, user.username, Role.ADMIN)

    async def samples(self, count: int, kind: str = "dna", state: SampleState = SampleState.RECEIVED) -> list[str]:
        """Registered samples of type ``kind`` moved to ``state`` (through received); returns their ids."""
        async with self.hub.state.db.transaction() as session:
            specs = [NewSample(name=f"{kind} {i}", sample_type_id=self.types[kind]) for i in range(count)]
            made = await self.hub.state.samples.register_many(session, self.admin, specs)
            ids = [s.id for s in made]
            if state != SampleState.REGISTERED:
                await self.hub.state.samples.transition_many(
                    session, self.admin, ids, SampleState.RECEIVED, reason="in"
                )
            if state not in (SampleState.REGISTERED, SampleState.RECEIVED):
                await self.hub.state.samples.transition_many(session, self.admin, ids, state, reason="test")
        return ids

    async def container(self, kind: str, name: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"kind": kind, "name": name, "parent_id": parent, **extra}
        response = await self.client.post("/v1/storage/containers", json=body, headers=self.tech)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def freezer(self, zone: str = "-80", name: str = "Freezer 1") -> tuple[str, str, str]:
        """A unit with a shelf and a rack in it: (unit, shelf, rack) ids."""
        unit = await self.container("freezer" if zone not in ("4", "ln2_vapour") else "fridge", name, zone=zone)
        shelf = await self.container("shelf", "Shelf 1", unit["id"])
        rack = await self.container("rack", "Rack A", shelf["id"])
        return unit["id"], shelf["id"], rack["id"]

    async def box(self, parent: str, name: str = "Box 1", rows: int = 8, cols: int = 12) -> str:
        return str((await self.container("box", name, parent, rows=rows, cols=cols))["id"])

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/storage/{path}", json=body, headers=headers or self.tech)

    async def place(self, box: str, *pairs: tuple[str, str]) -> httpx.Response:
        placements = [{"sample_id": s, "box_id": box, "position": p} for s, p in pairs]
        return await self.post("placements", {"placements": placements})

    async def grid(self, box: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/storage/boxes/{box}", headers=self.tech)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def events(self, type: str) -> list[OutboxEvent]:
        async with self.hub.state.db.read() as session:
            found = await session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.tenant_id == self.a.id, OutboxEvent.type == type)
                .order_by(OutboxEvent.id)
            )
            return list(found.scalars())

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.hub.state.db.read() as session:
            found = await session.execute(
                select(AuditEntry)
                .where(AuditEntry.tenant_id == self.a.id, AuditEntry.action == action)
                .order_by(AuditEntry.seq)
            )
            return list(found.scalars())

    async def states(self, ids: list[str]) -> list[str]:
        async with self.hub.state.db.read() as session:
            return [(await self.hub.state.samples.get(session, self.a.id, i)).state for i in ids]


@pytest.fixture
async def lab(db_url: str, tmp_path: Path) -> AsyncIterator[Lab]:
    async with running_hub(hub_settings(db_url, tmp_path)) as hub:
        tenants = await seed(hub.state, roles=ROLES)
        a = tenants["alpha-lab"]
        types = {}
        async with hub.state.db.transaction() as session:
            for name, (zone, colder_ok) in TYPES.items():
                sample_type = SampleType(tenant_id=a.id, name=name, zone=zone, colder_ok=colder_ok)
                session.add(sample_type)
                await session.flush()
                types[name] = sample_type.id
        yield Lab(hub, a, tenants["beta-lab"], types)


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


async def test_the_tree_nests_units_inherit_zones_and_refuse_misplaced_or_excess_containers(lab: Lab) -> None:
    unit, shelf, rack = await lab.freezer("-80")
    view = (await lab.client.get(f"/v1/storage/containers/{rack}", headers=lab.tech)).json()
    assert (view["zone"], view["unit_id"]) == ("-80", unit)
    assert [a["name"] for a in view["ancestors"]] == ["Freezer 1", "Shelf 1"]
    assert "a box cannot go in the top level" in problem(
        await lab.post("containers", {"kind": "box", "name": "Loose", "rows": 9, "cols": 9}), 422
    )
    assert "takes the zone of the unit" in problem(
        await lab.post("containers", {"kind": "shelf", "name": "S2", "parent_id": unit, "zone": "-20"}), 422
    )
    assert "needs its temperature zone" in problem(await lab.post("containers", {"kind": "freezer", "name": "F"}), 422)
    small = await lab.container("rack", "Rack B", shelf, capacity=1)
    await lab.box(small["id"])
    assert "is full: 1 of 1" in problem(
        await lab.post("containers", {"kind": "box", "name": "Box 2", "parent_id": small["id"], "rows": 9, "cols": 9}),
        409,
    )
    await lab.box(rack)
    duplicate = {"kind": "box", "name": "Box 1", "parent_id": rack, "rows": 9, "cols": 9}
    assert "already a 'Box 1'" in problem(await lab.post("containers", duplicate), 409)
    children = (await lab.client.get(f"/v1/storage/containers/{shelf}/children", headers=lab.tech)).json()
    assert [(c["name"], c["child_count"], c["occupancy"]["total"]) for c in children] == [
        ("Rack A", 1, 96),
        ("Rack B", 1, 96),
    ]
    units = (await lab.client.get("/v1/storage/containers", params={"kind": "freezer"}, headers=lab.tech)).json()
    assert [u["id"] for u in units] == [unit]
    assert len(await lab.audit("create")) >= 5
    assert len(await lab.events("storage.container_created")) == 6


async def test_placing_stores_the_samples_audits_each_and_a_96_box_lists_them_in_two_queries(lab: Lab) -> None:
    unit, _, rack = await lab.freezer()
    box, other = await lab.box(rack, "Box 1"), await lab.box(rack, "Box 2", 9, 9)
    received = await lab.samples(2)
    preparing = await lab.samples(1, state=SampleState.IN_PREPARATION)
    placements = [
        {"sample_id": received[0], "box_id": box, "position": "a1"},
        {"sample_id": received[1], "box_id": box, "position": "13"},
        {"sample_id": preparing[0], "box_id": other, "position": "I9"},
    ]
    response = await lab.post("placements", {"placements": placements, "reason": "intake batch 7"})
    assert response.status_code == 200, response.text
    assert [(s["position"], s["state"]) for s in response.json()["samples"]] == [
        ("A1", "stored"),
        ("B1", "stored"),
        ("I9", "stored"),
    ]
    assert await lab.states([*received, *preparing]) == ["stored"] * 3
    assert sorted(e.record_id for e in await lab.audit("place")) == sorted([*received, *preparing])
    assert sorted(e.subject_id for e in await lab.events("storage.samples_placed")) == sorted([box, other])
    located = await lab.client.get("/v1/storage/locations", params={"sample_id": received}, headers=lab.tech)
    assert {(r["position"], r["unit_id"], r["zone"]) for r in located.json()} == {
        ("A1", unit, "-80"),
        ("B1", unit, "-80"),
    }

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "storage_" in statement:
            statements.append(statement)

    engine = lab.hub.state.db.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        grid = await lab.grid(box)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= 2, statements
    positions = grid["positions"]
    assert len(positions) == 96
    assert [p["position"] for p in positions[:13]][-2:] == ["A12", "B1"]
    assert {p["position"]: p["sample_id"] for p in positions if p["sample_id"]} == {
        "A1": received[0],
        "B1": received[1],
    }
    assert positions[12]["state"] == "stored"
    assert positions[12]["sample_type"] == "dna"
    assert positions[95]["position"] == "H12"
    assert grid["box"]["occupancy"] == {"used": 2, "total": 96, "free": 94, "pct": 2.1}
    assert grid["unit"]["name"] == "Freezer 1"
    assert grid["parent"]["name"] == "Rack A"


async def test_a_sample_that_needs_another_zone_is_refused_naming_the_sample_and_both_zones(lab: Lab) -> None:
    _, _, warm_rack = await lab.freezer("-20", "Freezer minus 20")
    _, _, cold_rack = await lab.freezer("-80", "Freezer minus 80")
    warm, cold = await lab.box(warm_rack), await lab.box(cold_rack)
    dna = await lab.samples(1, "dna")
    detail = problem(await lab.place(warm, (dna[0], "A1")), 409)
    assert "needs -80 °C (or colder); box Box 1 is in a -20 °C unit" in detail
    rna = await lab.samples(1, "rna")
    serum = await lab.samples(1, "serum")
    assert "(rna) needs -80 °C;" in problem(await lab.place(warm, (rna[0], "A1")), 409)
    assert (await lab.place(cold, (serum[0], "A1"), (rna[0], "A2"))).status_code == 200  # colder is fine for serum
    _fridge, _, fridge_rack = await lab.freezer("4", "Fridge")
    media = await lab.samples(1, "media")
    response = await lab.place(cold, (media[0], "B1"))
    assert response.json()["type"].endswith("/zone-mismatch")
    assert (await lab.place(await lab.box(fridge_rack), (media[0], "A1"))).status_code == 200
    assert await lab.states([*dna, *media]) == ["received", "stored"]


async def test_a_batch_with_a_taken_position_or_an_unplaceable_sample_places_nothing(lab: Lab) -> None:
    _, _, rack = await lab.freezer()
    box = await lab.box(rack, rows=9, cols=9)
    first, second, third = await lab.samples(3)
    registered = await lab.samples(1, state=SampleState.REGISTERED)
    assert (await lab.place(box, (first, "A1"))).status_code == 200
    detail = problem(await lab.place(box, (second, "A2"), (third, "A1")), 409)
    assert "Box 1 A1 holds sample" in detail
    assert "is already in a box (A1); move it" in problem(await lab.place(box, (first, "B1")), 409)
    assert "is registered; only received" in problem(await lab.place(box, (registered[0], "B1")), 409)
    assert "not in a 9 × 9 box: A1 to I9" in problem(await lab.place(box, (second, "J1")), 422)
    assert "named twice" in problem(await lab.place(box, (second, "B1"), (third, "b01")), 422)
    grid = await lab.grid(box)
    assert [p["position"] for p in grid["positions"] if p["sample_id"]] == ["A1"]
    assert await lab.states([second, third]) == ["received", "received"]


async def test_moves_swap_samples_and_taking_out_frees_the_position_without_changing_state(lab: Lab) -> None:
    _, _, rack = await lab.freezer()
    box, other = await lab.box(rack, "Box 1"), await lab.box(rack, "Box 2")
    first, second = await lab.samples(2)
    assert (await lab.place(box, (first, "A1"), (second, "A2"))).status_code == 200
    swap = [
        {"sample_id": first, "box_id": box, "position": "A2"},
        {"sample_id": second, "box_id": box, "position": "A1"},
    ]
    response = await lab.post("moves", {"moves": swap, "reason": "re-sorted"})
    assert response.status_code == 200, response.text
    assert {p["position"]: p["sample_id"] for p in (await lab.grid(box))["positions"] if p["sample_id"]} == {
        "A1": second,
        "A2": first,
    }
    moved = await lab.post("moves", {"moves": [{"sample_id": first, "box_id": other, "position": "H12"}]})
    assert moved.status_code == 200, moved.text
    audit = [e for e in await lab.audit("move") if e.record_id == first]
    assert len(audit) == 2
    assert "holds sample" in problem(
        await lab.post("moves", {"moves": [{"sample_id": second, "box_id": other, "position": "H12"}]}), 409
    )
    out = await lab.post("removals", {"sample_ids": [first], "reason": "to the bench"})
    assert out.status_code == 200, out.text
    assert (await lab.grid(other))["box"]["occupancy"]["used"] == 0
    assert await lab.states([first]) == ["stored"]
    assert "is not in storage" in problem(await lab.post("removals", {"sample_ids": [first]}), 409)
    assert "is not in storage; place it" in problem(
        await lab.post("moves", {"moves": [{"sample_id": first, "box_id": box, "position": "C1"}]}), 409
    )
    assert len(await lab.events("storage.samples_removed")) == 1


async def test_a_sample_used_up_or_disposed_gives_its_position_back_and_the_take_out_is_audited(lab: Lab) -> None:
    _, _, rack = await lab.freezer()
    box = await lab.box(rack)
    used, destroyed, kept = await lab.samples(3)
    assert (await lab.place(box, (used, "A1"), (destroyed, "A2"), (kept, "A3"))).status_code == 200
    for sample, target, reason in (
        (used, "consumed", "used for library prep"),
        (destroyed, "disposed", "expired consent"),
    ):
        body = {"sample_ids": [sample], "to": target, "reason": reason}
        response = await lab.client.post("/v1/samples/transitions", json=body, headers=lab.tech)
        assert response.status_code == 200, response.text
    grid = await lab.grid(box)
    assert {p["position"]: p["sample_id"] for p in grid["positions"] if p["sample_id"]} == {"A3": kept}
    assert grid["box"]["occupancy"]["used"] == 1
    taken_out = {e.record_id: e for e in await lab.audit("take_out")}
    assert set(taken_out) == {used, destroyed}
    assert b"expired consent" in taken_out[destroyed].raw
    assert await lab.states([used, destroyed, kept]) == ["consumed", "disposed", "stored"]


async def test_allocation_keeps_a_batch_in_one_box_plans_on_dry_run_and_refuses_without_room(lab: Lab) -> None:
    unit, shelf, rack = await lab.freezer()
    box1 = await lab.box(rack, "Box 1", 3, 3)
    box2 = await lab.box(rack, "Box 2", 3, 3)
    warm, _, warm_rack = await lab.freezer("-20", "Freezer 2")
    await lab.box(warm_rack, "Box W", 3, 3)
    early = await lab.samples(5)
    assert (await lab.post("allocations", {"sample_ids": early, "container_id": unit})).status_code == 200
    batch = await lab.samples(6)
    plan = await lab.post("allocations", {"sample_ids": batch, "container_id": shelf, "dry_run": True})
    assert plan.status_code == 200, plan.text
    assert plan.json()["dry_run"] is True
    assert [(s["box_id"], s["position"]) for s in plan.json()["samples"]][:2] == [(box2, "A1"), (box2, "A2")]
    assert (await lab.grid(box2))["box"]["occupancy"]["used"] == 0  # a plan places nothing
    done = await lab.post("allocations", {"sample_ids": batch, "container_id": rack, "reason": "project X"})
    assert done.status_code == 200, done.text
    assert {s["box_id"] for s in done.json()["samples"]} == {box2}
    assert (await lab.grid(box1))["box"]["occupancy"]["used"] == 5
    rest = await lab.samples(8)
    detail = problem(await lab.post("allocations", {"sample_ids": rest, "container_id": unit}), 409)
    assert "8 sample(s) need -80 °C (or colder); freezer Freezer 1 has 7 free position(s) in 2 compatible box(es)" in (
        detail
    )
    assert "need -80" in problem(await lab.post("allocations", {"sample_ids": rest[:1], "container_id": warm}), 409)
    assert await lab.states(rest) == ["received"] * 8


async def test_a_capacity_warning_is_emitted_once_per_crossing_and_flagged(lab: Lab) -> None:
    unit, _, rack = await lab.freezer()
    box = await lab.box(rack, "Small", 2, 5)
    ids = await lab.samples(10)
    for i in range(8):
        assert (await lab.place(box, (ids[i], str(i + 1)))).status_code == 200
    assert not (await lab.grid(box))["box"]["capacity_warning"]
    assert await lab.events("storage.capacity_warning") == []
    assert (await lab.place(box, (ids[8], "9"))).status_code == 200  # 90 %: the box crosses
    assert (await lab.place(box, (ids[9], "10"))).status_code == 200  # still above: no second warning
    warnings = await lab.events("storage.capacity_warning")
    assert sorted((e.subject_id, e.payload["used"], e.payload["total"]) for e in warnings) == sorted(
        [(box, 9, 10), (unit, 9, 10)]  # the box is the unit's only one: both cross
    )
    view = (await lab.client.get(f"/v1/storage/containers/{box}", headers=lab.tech)).json()
    assert view["capacity_warning"] is True
    assert view["warn_at_pct"] == 90
    assert (await lab.post("removals", {"sample_ids": ids[:5]})).status_code == 200  # back below: re-armed
    assert (await lab.place(box, *[(ids[i], str(i + 1)) for i in range(5)])).status_code == 200
    assert len(await lab.events("storage.capacity_warning")) == 4
    patched = await lab.client.patch(
        f"/v1/storage/containers/{box}", json={"reason": "tighter", "warn_at_pct": 100}, headers=lab.tech
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["warn_at_pct"] == 100
    assert patched.json()["capacity_warning"] is True
    problem(await lab.client.patch(f"/v1/storage/containers/{box}", json={"warn_at_pct": 50}, headers=lab.tech), 422)


async def test_moving_a_box_to_another_unit_moves_its_samples_and_checks_their_zone(lab: Lab) -> None:
    first, shelf, rack = await lab.freezer("-80", "Freezer 1")
    backup, _, backup_rack = await lab.freezer("-80", "Backup")
    warm, _, warm_rack = await lab.freezer("-20", "Warm")
    box = await lab.box(rack)
    ids = await lab.samples(2)
    assert (await lab.place(box, (ids[0], "A1"), (ids[1], "A2"))).status_code == 200
    refused = await lab.post(f"containers/{box}/move", {"parent_id": warm_rack, "reason": "rescue"})
    assert "would be at -20 °C" in problem(refused, 409)
    assert "cannot go in a room" in problem(
        await lab.post(
            f"containers/{box}/move", {"parent_id": (await lab.container("room", "Lab"))["id"], "reason": "xyz"}
        ),
        422,
    )
    moved = await lab.post(f"containers/{box}/move", {"parent_id": backup_rack, "reason": "freezer 1 failing"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["unit_id"], moved.json()["parent_id"]) == (backup, backup_rack)
    contents = (await lab.client.get(f"/v1/storage/containers/{backup}/contents", headers=lab.tech)).json()
    assert contents["total"] == 2
    assert {s["unit_name"] for s in contents["samples"]} == {"Backup"}
    assert (await lab.client.get(f"/v1/storage/containers/{first}/contents", headers=lab.tech)).json()["total"] == 0
    racks = {
        c["id"]: c["child_count"]
        for c in (await lab.client.get("/v1/storage/containers", params={"kind": "rack"}, headers=lab.tech)).json()
    }
    assert (racks[rack], racks[backup_rack]) == (0, 1)
    assert "inside itself" in problem(
        await lab.post(f"containers/{shelf}/move", {"parent_id": rack, "reason": "xyz"}), 422
    )
    zone = await lab.client.patch(
        f"/v1/storage/containers/{warm}", json={"reason": "re-set", "zone": "-80"}, headers=lab.tech
    )
    assert zone.status_code == 200
    assert zone.json()["zone"] == "-80"
    assert (await lab.client.get(f"/v1/storage/containers/{warm_rack}", headers=lab.tech)).json()["zone"] == "-80"
    assert "would be at -20 °C" in problem(
        await lab.client.patch(
            f"/v1/storage/containers/{backup}", json={"reason": "warmer", "zone": "-20"}, headers=lab.tech
        ),
        409,
    )


async def test_a_scientist_reads_but_cannot_change_and_another_tenant_sees_nothing(lab: Lab) -> None:
    unit, _, rack = await lab.freezer()
    box = await lab.box(rack, "=HYPERLINK(1)")
    ids = await lab.samples(2)
    assert (await lab.place(box, (ids[1], "B3"))).status_code == 200
    assert (await lab.client.get(f"/v1/storage/boxes/{box}", headers=lab.scientist)).status_code == 200
    manifest = await lab.client.get(f"/v1/storage/containers/{unit}/contents.csv", headers=lab.scientist)
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("text/csv")
    lines = manifest.text.splitlines()
    assert lines[0] == "barcode,name,type,state,unit,zone,box,position,index"
    assert lines[1].endswith(",dna,stored,Freezer 1,-80,'=HYPERLINK(1),B3,15")  # the box name is defused
    body = {"placements": [{"sample_id": ids[0], "box_id": box, "position": "A1"}]}
    assert "does not allow storage:write" in problem(await lab.post("placements", body, lab.scientist), 403)
    assert problem(await lab.post("placements", body, lab.other_tenant), 404).startswith("no box")
    for path in (f"boxes/{box}", f"containers/{unit}", f"containers/{unit}/contents", f"units/{unit}/excursions"):
        problem(await lab.client.get(f"/v1/storage/{path}", headers=lab.other_tenant), 404)
    hold = await lab.post(f"units/{unit}/hold", {"reason": "not yours"}, lab.other_tenant)
    problem(hold, 404)
    theirs = await lab.client.post(
        "/v1/storage/containers",
        json={"kind": "box", "name": "B", "parent_id": rack, "rows": 2, "cols": 2},
        headers=lab.other_tenant,
    )
    problem(theirs, 404)
    assert (await lab.client.get("/v1/storage/containers", headers=lab.other_tenant)).json() == []
    assert await lab.states(ids) == ["received", "stored"]


async def test_two_clients_placing_into_one_position_one_wins_and_the_other_gets_409(lab: Lab) -> None:
    _, _, rack = await lab.freezer()
    box = await lab.box(rack)
    ids = await lab.samples(8)
    rounds = [(ids[i], ids[i + 1], f"A{i + 1}") for i in range(0, 8, 2)]
    for first, second, position in rounds:
        answers = await asyncio.gather(lab.place(box, (first, position)), lab.place(box, (second, position)))
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        loser = next(r for r in answers if r.status_code == 409)
        assert "holds sample" in loser.json()["detail"] or "another request" in loser.json()["detail"]
    grid = await lab.grid(box)
    assert len([p for p in grid["positions"] if p["sample_id"]]) == 4
    assert sorted(await lab.states(ids)) == ["received"] * 4 + ["stored"] * 4
