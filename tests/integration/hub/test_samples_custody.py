"""Chain of custody over HTTP on SQLite and PostgreSQL: a hand-over stays open until the named receiver confirms
it, a sample travels once at a time, the history is one call away and exports as a CSV safe to open."""

from __future__ import annotations

import csv
import io

import pytest

from hub.domain.permissions import Role
from tests.integration.hub.sample_lab import Lab, hub, lab, problem_of

__all__ = ["hub", "lab"]
pytestmark = pytest.mark.anyio


async def test_only_the_named_receiver_confirms_and_then_the_custodian_changes(lab: Lab) -> None:
    blood = await lab.sample_type()
    (sample,) = await lab.register(blood)
    manager = lab.username(Role.LAB_MANAGER)
    assert sample["custodian"] == lab.username(Role.TECHNICIAN)
    send = {"sample_ids": [sample["id"]], "to_party": manager, "reason": '=HYPERLINK("http://x")'}
    consignment = await lab.ok("POST", "/v1/custody/transfers", json=send)
    (transfer,) = consignment["transfers"]
    assert (transfer["from_party"], transfer["to_party"], transfer["status"]) == (
        lab.username(Role.TECHNICIAN),
        manager,
        "in_transit",
    )
    again = problem_of(await lab.call("POST", "/v1/custody/transfers", Role.ADMIN, json=send), 409)
    assert "already on its way" in again["detail"]

    receipt = f"/v1/custody/transfers/{transfer['id']}/receipt"
    problem_of(await lab.call("POST", receipt, Role.TECHNICIAN, json={"accepted": True}), 403)  # the sender
    problem_of(await lab.call("POST", receipt, Role.ADMIN, json={"accepted": True}), 403)  # not the receiver
    problem_of(await lab.call("POST", receipt, Role.ADMIN, tenant="b", json={"accepted": True}), 404)
    assert (await lab.ok("GET", f"/v1/samples/{sample['id']}"))["custodian"] == lab.username(Role.TECHNICIAN)
    inbox = await lab.ok(
        "GET", "/v1/custody/transfers", Role.LAB_MANAGER, params={"mine": True, "status": "in_transit"}
    )
    assert [t["id"] for t in inbox] == [transfer["id"]]

    received = await lab.ok("POST", receipt, Role.LAB_MANAGER, json={"accepted": True, "note": "box intact"})
    assert (received["status"], received["received_by"]) == ("received", f"user:{manager}")
    problem_of(await lab.call("POST", receipt, Role.LAB_MANAGER, json={"accepted": True}), 409)
    assert (await lab.ok("GET", f"/v1/samples/{sample['id']}"))["custodian"] == manager

    history = await lab.ok("GET", f"/v1/samples/{sample['id']}/custody", Role.AUDITOR)
    assert (history["custodian"], history["in_transit"]) == (manager, False)
    assert [(s["event"], s["from_party"], s["to_party"]) for s in history["steps"]] == [
        ("registered", None, lab.username(Role.TECHNICIAN)),
        ("received", lab.username(Role.TECHNICIAN), manager),
    ]
    exported = await lab.call("GET", f"/v1/samples/{sample['id']}/custody.csv", Role.AUDITOR)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["event"] for r in rows] == ["registered", "received"]
    assert rows[1]["reason"] == '\'=HYPERLINK("http://x")'  # defused: a spreadsheet shows it as text
    assert rows[1]["received_by"] == f"user:{manager}"
    assert rows[1]["note"] == "box intact"


async def test_a_refused_receipt_needs_a_reason_and_leaves_the_custodian(lab: Lab) -> None:
    blood = await lab.sample_type()
    samples = await lab.register(blood, 3)
    admin = lab.username(Role.ADMIN)
    send = {"sample_ids": [s["id"] for s in samples], "to_party": admin, "reason": "to the core facility"}
    consignment = await lab.ok("POST", "/v1/custody/transfers", json=send)
    batch = f"/v1/custody/batches/{consignment['batch_id']}/receipt"
    problem_of(await lab.call("POST", batch, Role.ADMIN, json={"accepted": False}), 422)
    first = consignment["transfers"][0]["id"]
    await lab.ok("POST", f"/v1/custody/transfers/{first}/receipt", Role.ADMIN, json={"accepted": True})
    refused = await lab.ok("POST", batch, Role.ADMIN, json={"accepted": False, "note": "tubes thawed"})
    assert [t["status"] for t in refused["transfers"]] == ["refused", "refused"]
    custodians = [(await lab.ok("GET", f"/v1/samples/{s['id']}"))["custodian"] for s in samples]
    assert sorted(custodians) == sorted([admin, lab.username(Role.TECHNICIAN), lab.username(Role.TECHNICIAN)])
    problem_of(await lab.call("POST", batch, Role.ADMIN, json={"accepted": True}), 409)
    # refused samples are back with the sender and can travel again
    again = {"sample_ids": [refused["transfers"][0]["sample_id"]], "to_party": admin, "reason": "second try"}
    assert (await lab.call("POST", "/v1/custody/transfers", json=again)).status_code == 201


async def test_sending_is_refused_to_oneself_to_strangers_and_to_the_holder(lab: Lab) -> None:
    blood = await lab.sample_type()
    (sample,) = await lab.register(blood)
    body = {"sample_ids": [sample["id"]], "reason": "move"}
    problem_of(
        await lab.call("POST", "/v1/custody/transfers", json={**body, "to_party": lab.username(Role.TECHNICIAN)}), 422
    )
    problem_of(
        await lab.call("POST", "/v1/custody/transfers", json={**body, "to_party": lab.username(Role.ADMIN, "b")}), 404
    )
    held = problem_of(
        await lab.call(
            "POST", "/v1/custody/transfers", Role.ADMIN, json={**body, "to_party": lab.username(Role.TECHNICIAN)}
        ),
        409,
    )
    assert "already held by" in held["detail"]
    problem_of(
        await lab.call("POST", "/v1/custody/transfers", Role.AUDITOR, json={**body, "to_party": "alpha.admin"}), 403
    )
