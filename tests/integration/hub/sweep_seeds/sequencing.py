"""Tenant A's sequencing records for the sweep: a queued job, a planned run (with a job of its own), and a spare
library sample for creating a job.

The queue shows each job's wait, which grows while the sweep runs; the sweep compares tenant A's reads before and
after its refusals, so the sequencing clock stands still from here on (the clock is injectable for this)."""

from __future__ import annotations

from typing import Any

from hub.db.base import utcnow
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.samples import NewSample
from hub.domain.sequencing import NewJob, NewLibrary
from hub.domain.sequencing_platforms import SequencingPlatform
from hub.domain.sequencing_runs import RunSpec, RunView
from tests.integration.hub.harness import RunningHub, SeededTenant

INDEXES = ("CCGCGGTT", "TTATAACC", "GGACTTGG", "AAGTCCAA")


async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]:
    state = hub.state
    frozen = utcnow()
    state.sequencing.clock = lambda: frozen
    user = tenant.users[Role.TECHNICIAN]
    technician = Principal("user", user.id, tenant.id, user.username, Role.TECHNICIAN)
    async with state.db.transaction() as session:
        kind = await state.samples.create_sample_type(
            session, technician, name="Library (sequencing sweep)", zone="-20"
        )
        specs = [NewSample(name=f"library {i}", sample_type_id=kind.id, barcode=f"SEQ-SWEEP-{i}") for i in range(4)]
        queued, planned_a, planned_b, spare = await state.samples.register_many(session, technician, specs)
        ids = [queued.id, planned_a.id, planned_b.id, spare.id]
        for target in (SampleState.RECEIVED, SampleState.IN_PREPARATION):
            await state.samples.transition_many(session, technician, ids, target, reason="sweep seed")
        sequencing = state.sequencing

        def job(name: str, *samples: Any) -> NewJob:
            libraries = [NewLibrary(s.id, INDEXES[n]) for n, s in enumerate(samples)]
            return NewJob(name, SequencingPlatform.MISEQ, libraries, read_lengths="2x151", requested_reads=1000)

        waiting = await sequencing.create_job(session, technician, job("sweep queued", queued))
        on_run = await sequencing.create_job(session, technician, job("sweep planned", planned_a, planned_b))
        spec = RunSpec("sweep-planned-run", SequencingPlatform.MISEQ, [on_run.job.id], flowcell_type="v2")
        run = await sequencing.runs.plan(session, technician, spec)
        assert isinstance(run, RunView)
    return {
        "job_id": waiting.job.id,
        "run_id": run.run.id,
        "sequencing_planned_job": on_run.job.id,
        "sequencing_spare_sample": spare.id,
    }


def _ids(world: Any) -> dict[str, str]:
    ids: dict[str, str] = world.path_ids
    return ids


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/sequencing/jobs"): lambda w: {
        "name": "sweep job",
        "platform": "miseq",
        "read_lengths": "2x151",
        "requested_reads": 1000,
        "libraries": [{"sample_id": _ids(w)["sequencing_spare_sample"], "index": "ACGTACGT"}],
    },
    ("POST", "/v1/sequencing/runs"): lambda w: {
        "name": "sweep-run",
        "platform": "miseq",
        "flowcell_type": "v2",
        "job_ids": [_ids(w)["job_id"]],
    },
    ("PATCH", "/v1/sequencing/runs/{run_id}"): lambda w: {"reason": "tenant sweep", "flow_cell": "SWEEPFC1"},
    ("POST", "/v1/sequencing/runs/{run_id}/link"): lambda w: {
        "planned_run_id": _ids(w)["run_id"],
        "reason": "tenant sweep",
    },
}
