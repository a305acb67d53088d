"""Samples over HTTP on SQLite and PostgreSQL: batch registration and moves (all or nothing), the lifecycle the
server enforces, corrections with versions and reasons, cursor-paged lists with filters, role checks, and other
tenants' ids answered with 404."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.db.models import AuditEntry, OutboxEvent
from hub.domain.permissions import Role
from tests.integration.hub.sample_lab import Lab, hub, lab, problem_of

__all__ = ["hub", "lab"]
pytestmark = pytest.mark.anyio


async def _counts(lab: Lab) -> tuple[int, int]:
    async with lab.hub.state.db.read() as session:
        audit = (await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one()
        events = (await session.execute(select(func.count()).select_from(OutboxEvent))).scalar_one()
    return audit, events


async def test_a_batch_of_500_with_one_illegal_move_changes_nothing(lab: Lab) -> None:
    blood = await lab.sample_type()
    samples = await lab.register(blood, 500)
    assert len({s["barcode"] for s in samples}) == 500
    assert all(s["state"] == "registered" and s["barcode"].startswith("S-") for s in samples)
    odd_one = samples[250]
    assert (await lab.move([odd_one["id"]], "received")).status_code == 200
    before = await _counts(lab)

    refused = problem_of(await lab.move([s["id"] for s in samples], "received"), 409)

    assert refused["problems"] == [
        f"sample {odd_one['barcode']} is received and cannot become received; "
        "allowed: disposed, in_preparation, on_hold, rejected, stored"
    ]
    assert await _counts(lab) == before, "no audit entry and no event for a refused batch"
    page = await lab.ok("GET", "/v1/samples", params={"state": "registered", "limit": 500})
    assert len(page["samples"]) == 499
    assert page["next_cursor"] is None
    assert {s["version"] for s in page["samples"]} == {1}


async def test_a_registration_batch_with_any_bad_sample_registers_none(lab: Lab) -> None:
    blood = await lab.sample_type()
    await lab.register(blood, 1, barcode="TUBE-1")
    body = {
        "samples": [
            {"name": "new", "sample_type_id": blood, "barcode": "TUBE-2"},
            {"name": "again", "sample_type_id": blood, "barcode": "TUBE-1"},
            {"name": "twice", "sample_type_id": blood, "barcode": "TUBE-3"},
            {"name": "twice", "sample_type_id": blood, "barcode": "TUBE-3"},
        ]
    }
    refused = problem_of(await lab.call("POST", "/v1/samples", json=body), 422)
    assert refused["problems"] == ["barcode TUBE-3 appears twice in the batch", "barcode TUBE-1 is already registered"]
    unknown = problem_of(
        await lab.call("POST", "/v1/samples", json={"samples": [{"name": "x", "sample_type_id": "nope"}]}), 404
    )
    assert unknown["problems"] == ["no sample type nope"]
    too_many = {"samples": [{"name": "x", "sample_type_id": blood}] * 1001}
    problem_of(await lab.call("POST", "/v1/samples", json=too_many), 422)
    page = await lab.ok("GET", "/v1/samples")
    assert [s["barcode"] for s in page["samples"]] == ["TUBE-1"]


async def test_generated_barcodes_skip_ones_given_by_hand(lab: Lab) -> None:
    blood = await lab.sample_type()
    await lab.register(blood, 1, barcode="S-000002")
    generated = await lab.register(blood, 3)
    assert [s["barcode"] for s in generated] == ["S-000001", "S-000003", "S-000004"]


async def test_the_server_enforces_the_lifecycle_with_holds_and_releases(lab: Lab) -> None:
    blood = await lab.sample_type()
    (sample,) = await lab.register(blood)
    sid = sample["id"]
    assert sample["allowed_moves"] == ["disposed", "on_hold", "received", "rejected"]
    refused = problem_of(await lab.move([sid], "sequencing"), 409)
    assert "allowed: disposed, on_hold, received, rejected" in refused["detail"]
    for to in ("received", "stored", "in_preparation", "on_hold"):
        assert (await lab.move([sid], to)).status_code == 200
    held = await lab.ok("GET", f"/v1/samples/{sid}")
    assert (held["state"], held["held_from"]) == ("on_hold", "in_preparation")
    problem_of(await lab.move([sid], "stored"), 409)
    released = (await lab.move([sid], "in_preparation", reason="investigation closed")).json()[0]
    assert (released["state"], released["held_from"]) == ("in_preparation", None)
    for to in ("sequencing", "completed", "stored", "consumed"):
        assert (await lab.move([sid], to)).status_code == 200
    final = problem_of(await lab.move([sid], "disposed"), 409)
    assert final["samples"] == [{"id": sid, "barcode": sample["barcode"], "state": "consumed", "allowed": []}]
    trail = await lab.ok(
        "GET", "/v1/audit/entries", Role.AUDITOR, params={"record_type": "sample", "record_id": sid, "limit": 100}
    )
    actions = [e["action"] for e in trail]
    assert actions.count("release") == 1
    assert actions[0] == "create"
    release = json.loads(next(e["entry"] for e in trail if e["action"] == "release"))
    assert release["payload"]["reason"] == "investigation closed"


async def test_a_correction_needs_the_version_read_and_keeps_old_and_new_values(lab: Lab) -> None:
    blood = await lab.sample_type()
    (sample,) = await lab.register(blood, volume_ul="100.5")
    url = f"/v1/samples/{sample['id']}"
    got = await lab.call("GET", url)
    assert got.headers["etag"] == '"1"'
    change = {"reason": "pipetting error corrected", "volume_ul": "90.25", "attributes": {"donor": "D-7"}}
    problem_of(await lab.call("PATCH", url, json=change), 428)
    problem_of(await lab.call("PATCH", url, json=change, headers={"If-Match": '"7"'}), 412)
    problem_of(await lab.call("PATCH", url, json={**change, "version": 3}), 409)
    problem_of(await lab.call("PATCH", url, json={"volume_ul": "1", "version": 1}), 422)  # no reason
    changed = await lab.call("PATCH", url, json=change, headers={"If-Match": got.headers["etag"]})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    body = changed.json()
    assert (body["volume_ul"], body["attributes"], body["name"]) == ("90.250", {"donor": "D-7"}, "sample 0")
    problem_of(await lab.call("PATCH", url, json={**change, "version": 1}), 409)  # the version read is stale
    trail = await lab.ok(
        "GET", "/v1/audit/entries", Role.ADMIN, params={"record_type": "sample", "record_id": body["id"]}
    )
    update = json.loads(trail[-1]["entry"])["payload"]
    assert update["action"] == "update"
    assert update["reason"] == "pipetting error corrected"
    assert update["old"] == {"volume_ul": "100.500", "attributes": {}}
    assert update["new"] == {"volume_ul": "90.250", "attributes": {"donor": "D-7"}}


async def test_lists_page_by_cursor_and_filter_by_state_project_barcode_and_name(lab: Lab) -> None:
    blood = await lab.sample_type()
    project = await lab.ok("POST", "/v1/projects", json={"code": "P-1", "name": "Cohort"})
    problem_of(await lab.call("POST", "/v1/projects", json={"code": "P-1", "name": "Again"}), 409)
    body = {
        "samples": [
            {"name": f"Plasma {i:02d}", "sample_type_id": blood, "barcode": f"PL-{i:02d}", "project_id": project["id"]}
            for i in range(12)
        ]
        + [{"name": "Serum 100%_x", "sample_type_id": blood, "barcode": "SE-01"}]
    }
    await lab.ok("POST", "/v1/samples", json=body)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 5, "order": "oldest"} | ({"cursor": cursor} if cursor else {})
        page = await lab.ok("GET", "/v1/samples", params=params)
        seen += [s["barcode"] for s in page["samples"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"PL-{i:02d}" for i in range(12)] + ["SE-01"]
    newest = await lab.ok("GET", "/v1/samples", params={"limit": 2})
    assert [s["barcode"] for s in newest["samples"]] == ["SE-01", "PL-11"]

    async def barcodes(**params: Any) -> list[str]:
        page = await lab.ok("GET", "/v1/samples", params={"order": "oldest", **params})
        return [s["barcode"] for s in page["samples"]]

    assert await barcodes(project_id=project["id"], barcode_prefix="PL-1") == ["PL-10", "PL-11"]
    assert await barcodes(q="asma 0", barcode_prefix="PL-0") == [f"PL-{i:02d}" for i in range(10)]
    assert await barcodes(q="100%_") == ["SE-01"]
    assert await barcodes(q="0%x") == []  # % and _ are text, not wildcards
    assert await barcodes(state="received") == []
    problem_of(await lab.call("GET", "/v1/samples", params={"cursor": "not-a-cursor"}), 422)


async def test_roles_decide_who_reads_and_who_writes(lab: Lab) -> None:
    blood = await lab.sample_type()
    (sample,) = await lab.register(blood)
    for role in (Role.AUDITOR, Role.SCIENTIST, Role.LAB_MANAGER):
        assert (await lab.call("GET", f"/v1/samples/{sample['id']}", role)).status_code == 200
    problem_of(await lab.call("GET", "/v1/samples", Role.FACILITIES), 403)
    for role in (Role.AUDITOR, Role.SCIENTIST, Role.FACILITIES):
        refused = problem_of(
            await lab.call(
                "POST",
                "/v1/samples/transitions",
                role,
                json={"sample_ids": [sample["id"]], "to": "received", "reason": "not mine to do"},
            ),
            403,
        )
        assert "samples:write" in refused["detail"]
    assert (await lab.call("GET", f"/v1/samples/{sample['id']}")).json()["state"] == "registered"


async def test_another_tenants_samples_are_not_found(lab: Lab) -> None:
    blood = await lab.sample_type()
    (sample,) = await lab.register(blood)
    sid = sample["id"]
    b_admin = {"role": Role.ADMIN, "tenant": "b"}
    problem_of(await lab.call("GET", f"/v1/samples/{sid}", **b_admin), 404)
    problem_of(await lab.call("PATCH", f"/v1/samples/{sid}", json={"reason": "take", "version": 1}, **b_admin), 404)
    moved = await lab.call(
        "POST", "/v1/samples/transitions", json={"sample_ids": [sid], "to": "received", "reason": "take"}, **b_admin
    )
    assert problem_of(moved, 404)["missing"] == [sid]
    registered = await lab.call(
        "POST", "/v1/samples", json={"samples": [{"name": "x", "sample_type_id": blood}]}, **b_admin
    )
    problem_of(registered, 404)
    for path in ("lineage", "custody", "custody.csv", "qc"):
        problem_of(await lab.call("GET", f"/v1/samples/{sid}/{path}", **b_admin), 404)
    assert (await lab.ok("GET", "/v1/samples", Role.ADMIN, tenant="b"))["samples"] == []
    assert (await lab.call("GET", f"/v1/samples/{sid}")).json()["version"] == 1
