"""QC over HTTP on SQLite and PostgreSQL: a failed result keeps a sample out of preparation and sequencing until
someone else releases it with an electronic signature (password again, meaning, reason) bound to the result."""

from __future__ import annotations

import hashlib
import json

import pytest

from hub.db.sample_models import QcResult, Sample
from hub.domain.permissions import Role
from hub.domain.sample_qc import release_content
from tests.integration.hub.harness import PASSWORD
from tests.integration.hub.sample_lab import Lab, hub, lab, problem_of

__all__ = ["hub", "lab"]
pytestmark = pytest.mark.anyio


async def test_a_failed_qc_blocks_preparation_until_a_signed_release(lab: Lab) -> None:
    blood = await lab.sample_type()
    good, bad = await lab.stored(blood, 2)
    qc_url = f"/v1/samples/{bad['id']}/qc"
    failed = await lab.ok(
        "POST",
        qc_url,
        json={"assay": "Qubit", "value": "0.2", "unit": "ng/µl", "passed": False, "reason": "below 1 ng/µl"},
    )
    await lab.ok("POST", qc_url, json={"assay": "Qubit", "value": "1.5", "passed": True, "reason": "re-test"})
    assert (await lab.ok("GET", f"/v1/samples/{bad['id']}"))["qc_status"] == "failed"  # a pass does not undo it

    gated = problem_of(await lab.move([good["id"], bad["id"]], "in_preparation"), 409)
    assert gated["problems"] == [
        f"sample {bad['barcode']} failed QC (Qubit, QC result {failed['id']}) and cannot go to in_preparation "
        "until the failure is released with an electronic signature"
    ]
    assert (await lab.ok("GET", f"/v1/samples/{good['id']}"))["state"] == "stored"

    release = f"{qc_url}/{failed['id']}/release"
    body = {"password": PASSWORD, "reason": "customer accepts low yield", "meaning": "approval"}
    problem_of(await lab.call("POST", release, Role.TECHNICIAN, json=body), 403)  # who recorded the failure
    problem_of(await lab.call("POST", release, Role.SCIENTIST, json=body), 403)  # may sign, may not write samples
    problem_of(await lab.call("POST", release, Role.LAB_MANAGER, json={**body, "password": "wrong"}), 401)
    problem_of(await lab.call("POST", release, Role.LAB_MANAGER, json={**body, "meaning": "review"}), 422)
    problem_of(await lab.call("POST", release, Role.LAB_MANAGER, json={"password": PASSWORD}), 422)  # no reason
    problem_of(await lab.call("POST", release, Role.ADMIN, tenant="b", json=body), 404)

    released = await lab.ok("POST", release, Role.LAB_MANAGER, json=body)
    assert released["qc_status"] == "released"
    signature = released["release"]
    assert (signature["signer_name"], signature["meaning"]) == ("Alpha Lab Manager", "approval")
    problem_of(await lab.call("POST", release, Role.LAB_MANAGER, json=body), 409)

    async with lab.hub.state.db.read() as session:
        qc = await session.get(QcResult, failed["id"])
        sample = await session.get(Sample, bad["id"])
        assert qc is not None
        assert sample is not None
        assert qc.released_signature_id == signature["id"]
        expected = hashlib.sha256(release_content(sample, qc, body["reason"]).encode()).hexdigest()
    assert signature["record_hash"] == expected
    signatures = await lab.ok(
        "GET", "/v1/esignatures", Role.AUDITOR, params={"record_type": "qc_result", "record_id": failed["id"]}
    )
    assert [(s["id"], s["record_hash"]) for s in signatures] == [(signature["id"], expected)]
    trail = await lab.ok(
        "GET", "/v1/audit/entries", Role.AUDITOR, params={"record_type": "sample", "record_id": bad["id"]}
    )
    entry = json.loads(next(e["entry"] for e in trail if e["action"] == "release"))["payload"]
    assert entry["reason"] == "customer accepts low yield"
    assert entry["actor"] == f"user:{lab.username(Role.LAB_MANAGER)}"
    assert entry["new"]["signature"] == signature["id"]

    results = await lab.ok("GET", qc_url, Role.AUDITOR)
    assert [(r["passed"], r["release"] is not None) for r in results] == [(False, True), (True, False)]
    assert (await lab.move([good["id"], bad["id"]], "in_preparation")).status_code == 200


async def test_only_a_failed_result_is_released(lab: Lab) -> None:
    blood = await lab.sample_type()
    (sample,) = await lab.stored(blood)
    passed = await lab.ok(
        "POST",
        f"/v1/samples/{sample['id']}/qc",
        json={"assay": "RIN", "value": "8", "passed": True, "reason": "above 7"},
    )
    body = {"password": PASSWORD, "reason": "nothing to release"}
    url = f"/v1/samples/{sample['id']}/qc/{passed['id']}/release"
    problem_of(await lab.call("POST", url, Role.LAB_MANAGER, json=body), 409)
    problem_of(await lab.call("POST", f"/v1/samples/{sample['id']}/qc/nope/release", Role.LAB_MANAGER, json=body), 404)
    assert (await lab.ok("GET", f"/v1/samples/{sample['id']}"))["qc_status"] == "passed"
