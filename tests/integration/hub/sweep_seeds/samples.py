"""Tenant A's samples for the sweep: types, a project, a stored sample with a failed QC result, samples to move,
pool and send, and two hand-overs (one sample, one consignment) waiting for tenant A's admin to receive them.

Every mutating route gets a sample of its own, so each of the sweep's first calls can succeed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hub.domain.custody import Custody
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.sample_qc import QualityControl
from hub.domain.samples import NewSample
from tests.integration.hub.harness import PASSWORD, RunningHub, SeededTenant

# the main sample's version once seeded (registered, received, stored, failed QC): PATCH names it
SEEDED_VERSION = 4


def _person(tenant: SeededTenant, role: Role) -> Principal:
    user = tenant.users[role]
    return Principal("user", user.id, tenant.id, user.username, role)


async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]:
    state = hub.state
    technician = _person(tenant, Role.TECHNICIAN)
    admin_name = tenant.users[Role.ADMIN].username
    async with state.db.transaction() as session:
        blood = await state.samples.create_sample_type(session, technician, name="Blood", zone="-80")
        dna = await state.samples.create_sample_type(session, technician, name="DNA", zone="-20")
        project = await state.samples.create_project(session, technician, "SWEEP-1", "Sweep project")
        specs = [
            NewSample(name=f"sweep {i}", sample_type_id=blood.id, project_id=project.id, volume_ul=Decimal(500))
            for i in range(7)
        ]
        main, pool_a, pool_b, to_move, to_send, single, consignment = await state.samples.register_many(
            session, technician, specs
        )
        stored = [main.id, pool_a.id, pool_b.id]
        for target in (SampleState.RECEIVED, SampleState.STORED):
            await state.samples.transition_many(session, technician, stored, target, reason="sweep seed")
        qc = await QualityControl(state.audit, state.samples).record(
            session, technician, main.id, assay="Qubit", passed=False, reason="too little DNA", value="0.1"
        )
        custody = Custody(state.audit, state.samples)
        sent = await custody.send(session, technician, [single.id], to_party=admin_name, reason="sweep seed")
        batch = await custody.send(session, technician, [consignment.id], to_party=admin_name, reason="sweep seed")
        assert main.version == SEEDED_VERSION
    return {
        "sample_id": main.id,
        "qc_id": qc.id,
        "transfer_id": sent[0].id,
        "custody_batch_id": batch[0].batch_id,
        "samples_sample_type_id": blood.id,
        "samples_derived_type_id": dna.id,
        "samples_project_id": project.id,
        "samples_pool_a": pool_a.id,
        "samples_pool_b": pool_b.id,
        "samples_to_move": to_move.id,
        "samples_to_send": to_send.id,
    }


def _ids(world: Any) -> dict[str, str]:
    ids: dict[str, str] = world.path_ids
    return ids


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/samples"): lambda w: {
        "samples": [{"name": "swept", "sample_type_id": _ids(w)["samples_sample_type_id"]}],
    },
    ("PATCH", "/v1/samples/{sample_id}"): lambda w: {
        "reason": "tenant sweep",
        "name": "swept name",
        "version": SEEDED_VERSION,
    },
    ("POST", "/v1/samples/transitions"): lambda w: {
        "sample_ids": [_ids(w)["samples_to_move"]],
        "to": "received",
        "reason": "tenant sweep",
    },
    ("POST", "/v1/samples/{sample_id}/aliquots"): lambda w: {"count": 2, "volume_ul": "10"},
    ("POST", "/v1/samples/{sample_id}/derivatives"): lambda w: {
        "sample_type_id": _ids(w)["samples_derived_type_id"],
        "volume_taken_ul": "20",
        "volume_ul": "50",
    },
    ("POST", "/v1/pools"): lambda w: {
        "name": "sweep pool",
        "parents": [
            {"sample_id": _ids(w)["samples_pool_a"], "volume_ul": "5"},
            {"sample_id": _ids(w)["samples_pool_b"], "volume_ul": "5"},
        ],
    },
    ("POST", "/v1/custody/transfers"): lambda w: {
        "sample_ids": [_ids(w)["samples_to_send"]],
        "to_party": w.a.users[Role.LAB_MANAGER].username,
        "reason": "tenant sweep",
    },
    ("POST", "/v1/custody/transfers/{transfer_id}/receipt"): lambda w: {"accepted": True, "note": "arrived"},
    ("POST", "/v1/custody/batches/{custody_batch_id}/receipt"): lambda w: {"accepted": True},
    ("POST", "/v1/samples/{sample_id}/qc"): lambda w: {
        "assay": "TapeStation RIN",
        "value": "8.1",
        "passed": True,
        "reason": "RIN above 7",
    },
    ("POST", "/v1/samples/{sample_id}/qc/{qc_id}/release"): lambda w: {
        "password": PASSWORD,
        "reason": "approved for use by the lab manager",
        "meaning": "approval",
    },
}
