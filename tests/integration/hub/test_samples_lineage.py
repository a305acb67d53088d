"""Lineage over HTTP on SQLite and PostgreSQL: aliquots take their volume from the parent (or are refused),
derivatives change type, pools join parents, and the family tree reads both ways."""

from __future__ import annotations

import pytest

from tests.integration.hub.sample_lab import Lab, hub, lab, problem_of

__all__ = ["hub", "lab"]
pytestmark = pytest.mark.anyio


async def test_aliquots_take_volume_from_the_parent_or_are_refused(lab: Lab) -> None:
    blood = await lab.sample_type()
    (parent,) = await lab.stored(blood, volume_ul="100", attributes={"donor": "D-1"})
    url = f"/v1/samples/{parent['id']}/aliquots"
    too_much = problem_of(await lab.call("POST", url, json={"count": 3, "volume_ul": "40"}), 409)
    assert too_much["detail"] == f"sample {parent['barcode']} holds 100.000 µl, less than the 120 µl asked"
    aliquots = await lab.ok("POST", url, json={"count": 3, "volume_ul": "30", "barcodes": ["AL-1", "AL-2", "AL-3"]})
    assert [(a["barcode"], a["state"], a["volume_ul"], a["attributes"]) for a in aliquots] == [
        (f"AL-{i}", "received", "30.000", {"donor": "D-1"}) for i in (1, 2, 3)
    ]
    after = await lab.ok("GET", f"/v1/samples/{parent['id']}")
    assert (after["volume_ul"], after["version"]) == ("10.000", parent["version"] + 1)
    problem_of(await lab.call("POST", url, json={"count": 2, "barcodes": ["X"], "volume_ul": "1"}), 422)


async def test_no_children_from_a_sample_on_hold_used_up_or_not_yet_received(lab: Lab) -> None:
    blood = await lab.sample_type()
    held, fresh = await lab.register(blood, 2, volume_ul="50")
    for to in ("received", "on_hold"):
        await lab.move([held["id"]], to)
    for parent, state in ((held, "on_hold"), (fresh, "registered")):
        refused = problem_of(
            await lab.call("POST", f"/v1/samples/{parent['id']}/aliquots", json={"volume_ul": "1"}), 409
        )
        assert refused["detail"].startswith(f"sample {parent['barcode']} is {state}: children are made only from")
    page = await lab.ok("GET", "/v1/samples")
    assert len(page["samples"]) == 2


async def test_derivatives_pools_and_the_family_tree(lab: Lab) -> None:
    blood = await lab.sample_type()
    dna = await lab.sample_type("DNA", "-20")
    first, second = await lab.stored(blood, 2, volume_ul="200")
    (extract,) = await lab.ok(
        "POST",
        f"/v1/samples/{first['id']}/derivatives",
        json={"sample_type_id": dna, "volume_taken_ul": "150", "volume_ul": "50", "concentration": "12.5"},
    )
    assert (extract["sample_type_id"], extract["volume_ul"], extract["concentration"]) == (dna, "50.000", "12.5000")
    (other,) = await lab.ok(
        "POST",
        f"/v1/samples/{second['id']}/derivatives",
        json={"sample_type_id": dna, "consume_parent": True, "reason": "whole tube extracted"},
    )
    assert (await lab.ok("GET", f"/v1/samples/{second['id']}"))["state"] == "consumed"
    pool = await lab.ok(
        "POST",
        "/v1/pools",
        json={
            "name": "DNA pool",
            "parents": [{"sample_id": extract["id"], "volume_ul": "10"}, {"sample_id": other["id"]}],
        },
    )
    assert (pool["sample_type_id"], pool["volume_ul"]) == (dna, None)
    problem_of(
        await lab.call(
            "POST",
            "/v1/pools",
            json={"name": "mixed", "parents": [{"sample_id": first["id"]}, {"sample_id": extract["id"]}]},
        ),
        422,
    )

    tree = await lab.ok("GET", f"/v1/samples/{extract['id']}/lineage")
    generations = {s["barcode"]: s["generation"] for s in tree["samples"]}
    assert generations == {first["barcode"]: -1, extract["barcode"]: 0, pool["barcode"]: 1}
    from_pool = await lab.ok("GET", f"/v1/samples/{pool['id']}/lineage", params={"depth": 1})
    assert {s["barcode"]: s["generation"] for s in from_pool["samples"]} == {
        extract["barcode"]: -1,
        other["barcode"]: -1,
        pool["barcode"]: 0,
    }
    assert from_pool["truncated"] is True  # the blood tubes are one generation further
    kinds = {(link["kind"], link["volume_ul"]) for link in from_pool["links"]}
    assert kinds == {("pool", None), ("pool", "10.000")}
    deep = await lab.ok("GET", f"/v1/samples/{pool['id']}/lineage", params={"depth": 5})
    assert len(deep["samples"]) == 5
    assert deep["truncated"] is False
