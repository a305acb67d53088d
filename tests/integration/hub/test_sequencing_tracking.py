"""Runs followed from the run-folder events an edge syncs, through the real sync endpoint, on SQLite and
PostgreSQL: a planned run found by its flow cell or its name goes running → completed with its QC, its job and
samples with it; a failed run fails its jobs (or queues them again) and sends samples back to preparation; a run no
plan matches is recorded and linked later; a resent batch changes nothing twice; odd events refuse nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from hub.db.sample_models import Sample
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from protocol import ChainWriter, CheckpointBody, SigningKey, entry_hash, sign_checkpoint
from sync import MEDIA_TYPE, BatchHeader, encode_batch
from tests.integration.hub.test_sequencing_api import Lab, open_lab

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

T0 = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
FOLDER = "20260203_LH00130_0042_B22TESTFC3"
FLOW_CELL = "22TESTFC3"


class Instrument:
    """An edge whose run-folder watcher reports one instrument's runs, its log written and synced by hand."""

    def __init__(self, lab: Lab, name: str = "novaseq-x-1") -> None:
        self.lab = lab
        self.name = name
        self.origin = f"tracseq.test/edge/{name}"
        self.key = SigningKey.generate(self.origin)
        self.writer = ChainWriter(self.origin)
        self.raws: list[bytes] = []
        self.token = ""
        self.sent = 0

    async def enroll(self) -> None:
        admin = self.lab.hub.auth(self.lab.a.users[Role.ADMIN])
        client = self.lab.hub.client
        token = (await client.post("/v1/devices/enrollment-tokens", headers=admin)).json()["token"]
        body = {"token": token, "name": self.name, "origin": self.origin, "public_key": self.key.verifier.vkey}
        response = await client.post("/v1/sync/enroll", json=body)
        assert response.status_code == 201, response.text
        self.token = response.json()["device_token"]

    def event(self, kind: str, folder: str = FOLDER, severity: str = "info", **attrs: Any) -> None:
        payload = {
            "type": kind,
            "severity": severity,
            "device": self.name,
            "channel": folder,
            "message": f"{kind} {folder}",
            "attrs": {"run_id": folder, "folder": folder, "state": "running", **attrs},
        }
        self.raw("event", payload)

    def raw(self, kind: str, payload: dict[str, Any]) -> None:
        seq = self.writer.next_seq
        self.raws.append(self.writer.append(kind, payload, T0 + timedelta(minutes=seq), seq).raw)

    async def sync(self, first: int | None = None) -> httpx.Response:
        """Send the entries from ``first`` (default: those not sent yet) with a checkpoint of them all."""
        start = self.sent if first is None else first
        end = len(self.raws)
        head = entry_hash(self.raws[end - 1])
        note = sign_checkpoint(CheckpointBody(self.origin, end, head), [self.key]).render()
        header = BatchHeader(origin=self.origin, first_seq=start, count=end - start, checkpoint=note)
        response = await self.lab.hub.client.post(
            "/v1/sync/batches",
            content=encode_batch(header, self.raws[start:end]),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"},
        )
        assert response.status_code == 200, response.text
        self.sent = end
        return response


def started(flow_cell: str = FLOW_CELL, **attrs: Any) -> dict[str, Any]:
    return {
        "instrument": "LH00130",
        "platform": "NovaSeq X Plus",
        "run_number": 42,
        "flow_cell": flow_cell,
        "lanes": 8,
        "reads": "151,8,8,151",
        "cycles_total": 318,
        "experiment": "training run",
        "start_time": "2026-02-03T04:05:06Z",
        "start_time_zone": "utc",
        **attrs,
    }


@pytest.fixture
async def lab(db_url: str, tmp_path: Path) -> AsyncIterator[Lab]:
    async with open_lab(db_url, tmp_path) as running:
        # build_state has the ingest pass each batch's events to sequencing, once
        handlers = running.hub.state.ingest.event_handlers
        assert handlers.count(running.hub.state.sequencing.on_device_events) == 1
        yield running


async def planned_run(lab: Lab, name: str, samples: list[str], **plan: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    job = await lab.job(f"job for {name}", samples, **plan.pop("job", {}))
    body = {"name": name, "platform": "novaseq_x", "flowcell_type": "10B", "job_ids": [job["id"]], **plan}
    run = await lab.ok("POST", "/v1/sequencing/runs", json=body)
    return job, run


async def counts(lab: Lab) -> tuple[int, int]:
    """Audit entries and events so far (events once the relay has published them)."""
    await lab.hub.published()
    admin = Role.ADMIN
    audit = await lab.ok("GET", "/v1/audit/entries", admin, params={"limit": 1000})
    events = await lab.ok("GET", "/v1/events", admin, params={"limit": 1000})
    return len(audit), len(events["events"])


async def sequencing_events(lab: Lab) -> list[str]:
    await lab.hub.published()
    page = await lab.ok("GET", "/v1/events", Role.ADMIN, params={"limit": 1000})
    return [e["type"] for e in page["events"] if e["type"].startswith("sequencing.run_")]


async def test_a_planned_run_follows_its_instrument_from_start_to_a_completed_job(lab: Lab) -> None:
    samples = await lab.libraries(2, state=SampleState.STORED)
    job, run = await planned_run(lab, "RUN-X", samples, flow_cell=FLOW_CELL)
    edge = Instrument(lab)
    await edge.enroll()

    edge.event("run_started", **started())
    edge.event("run_progress", cycles_done=10, cycles_total=318, percent=3, source="InterOp")
    await edge.sync()
    seen = await lab.ok("GET", f"/v1/sequencing/runs/{run['id']}")
    assert (seen["state"], seen["instrument_run_id"], seen["cycles_done"], seen["percent"]) == (
        "running",
        FOLDER,
        10,
        3,
    )
    assert seen["metadata"]["reads"] == "151,8,8,151"
    assert seen["device_id"] is not None
    assert seen["started_at"] == "2026-02-03T04:05:06Z"
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "sequencing"
    assert await lab.sample_states(samples) == ["sequencing", "sequencing"]  # stored → in preparation → sequencing

    before = await counts(lab)
    await edge.sync(first=0)  # the edge did not hear the answer and sends the whole batch again
    assert await counts(lab) == before

    edge.event("read_completed", read=1, cycles=151, index=False)
    edge.event("run_stalled", severity="warning", idle_s=3600, cycles_done=151, cycles_total=318)
    await edge.sync()
    stalled = await lab.ok("GET", f"/v1/sequencing/runs/{run['id']}")
    assert stalled["stalled"]
    assert stalled["reads_completed"] == [1]
    edge.event("run_resumed", cycles_done=160)
    edge.event("run_progress", cycles_done=318, cycles_total=318, percent=100, source="InterOp")
    qc = {"qc_yield_gb": "812.4", "qc_percent_q30": "93.1", "lane1_percent_pf": "80.5", "lane1_cluster_density": "2400"}
    edge.event("run_completed", state="completed", completed_by="RunCompletionStatus.xml: RunCompleted", **qc)
    edge.event("run_progress", cycles_done=318)  # after the end: ignored
    await edge.sync()

    done = await lab.ok("GET", f"/v1/sequencing/runs/{run['id']}")
    assert done["state"] == "completed"
    assert not done["stalled"]
    assert done["cycles_done"] == 318
    assert done["qc"] == {
        "summary": {"yield_gb": "812.4", "percent_q30": "93.1"},
        "lanes": {"1": {"percent_pf": "80.5", "cluster_density": "2400"}},
    }
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "completed"
    assert await lab.sample_states(samples) == ["completed", "completed"]
    assert await sequencing_events(lab) == [
        "sequencing.run_planned",
        "sequencing.run_matched",
        "sequencing.run_running",
        "sequencing.run_stalled",
        "sequencing.run_resumed",
        "sequencing.run_completed",
    ]
    trail = await lab.ok(
        "GET", "/v1/audit/entries", Role.ADMIN, params={"record_type": "sequencing_run", "record_id": run["id"]}
    )
    assert len(trail) == 6
    assert all(e["actor"] == "device:novaseq-x-1" for e in trail[1:])


async def test_a_failed_run_fails_its_jobs_queues_again_those_that_asked_and_sends_samples_back(lab: Lab) -> None:
    samples = await lab.libraries(2)
    failing = await lab.job("stays failed", samples[:1])
    again = await lab.job("requeue me", samples[1:], requeue_on_failure=True)
    run = await lab.ok(
        "POST",
        "/v1/sequencing/runs",
        json={
            "name": "Run-Fail",
            "platform": "novaseq_x",
            "flowcell_type": "10B",
            "job_ids": [failing["id"], again["id"]],
        },
    )
    edge = Instrument(lab)
    await edge.enroll()
    edge.event("run_started", **started(flow_cell="OTHERFC01", experiment="Run-Fail"))  # found by its run name
    await edge.sync()
    assert await lab.sample_states(samples) == ["sequencing", "sequencing"]
    edge.event("run_failed", severity="alarm", state="failed", reason="RunCompletionStatus.xml: RunErrored")
    await edge.sync()

    failed = await lab.ok("GET", f"/v1/sequencing/runs/{run['id']}")
    assert failed["state"] == "failed"
    assert "RunErrored" in failed["state_reason"]
    first = await lab.ok("GET", f"/v1/sequencing/jobs/{failing['id']}")
    assert (first["state"], first["run_id"]) == ("failed", run["id"])
    second = await lab.ok("GET", f"/v1/sequencing/jobs/{again['id']}")
    assert (second["state"], second["run_id"]) == ("queued", None)
    assert await lab.sample_states(samples) == ["in_preparation", "in_preparation"]
    queue = await lab.ok("GET", "/v1/sequencing/queue")
    assert [j["job_id"] for j in queue["jobs"]] == [again["id"]]
    requeued = await lab.ok("POST", f"/v1/sequencing/jobs/{failing['id']}/requeue", json={"reason": "run again"})
    assert requeued["state"] == "queued"
    assert requeued["queued_at"] == failing["queued_at"]  # it keeps its place


async def test_a_run_no_plan_matches_is_recorded_and_linked_to_its_plan_later(lab: Lab) -> None:
    samples = await lab.libraries(1)
    job, plan = await planned_run(lab, "RUN-LATE", samples)
    edge = Instrument(lab)
    await edge.enroll()
    edge.event("run_started", **started(flow_cell="UNPLANNED1"), folder="20260203_LH00130_0043_AUNPLANNED1")
    edge.event(
        "run_completed",
        folder="20260203_LH00130_0043_AUNPLANNED1",
        state="completed",
        qc_percent_q30="91.0",
    )
    await edge.sync()

    (recorded,) = await lab.ok("GET", "/v1/sequencing/runs", params={"unmatched": "true"})
    assert recorded["origin"] == "instrument"
    assert recorded["state"] == "completed"
    assert recorded["platform"] == "novaseq_x"
    assert recorded["name"] == "20260203_LH00130_0043_AUNPLANNED1"
    assert recorded["qc"] == {"summary": {"percent_q30": "91.0"}}
    assert recorded["lanes"] is None
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "planned"

    wrong = await lab.call(
        "POST", f"/v1/sequencing/runs/{plan['id']}/link", json={"planned_run_id": recorded["id"], "reason": "oops"}
    )
    assert wrong.status_code == 409
    linked = await lab.ok(
        "POST",
        f"/v1/sequencing/runs/{recorded['id']}/link",
        json={"planned_run_id": plan["id"], "reason": "flow cell not entered before the run"},
    )
    assert (linked["id"], linked["state"], linked["flow_cell"]) == (plan["id"], "completed", "UNPLANNED1")
    assert linked["instrument_run_id"] == "20260203_LH00130_0043_AUNPLANNED1"
    assert linked["qc"] == {"summary": {"percent_q30": "91.0"}}
    merged = await lab.ok("GET", f"/v1/sequencing/runs/{recorded['id']}")
    assert (merged["state"], merged["merged_into"], merged["instrument_run_id"]) == ("merged", plan["id"], None)
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "completed"
    assert await lab.sample_states(samples) == ["completed"]


async def test_odd_events_are_recorded_as_far_as_they_go_and_refuse_no_batch(lab: Lab) -> None:
    edge = Instrument(lab)
    await edge.enroll()
    edge.raw("event", {"type": "door_open", "severity": "warning", "message": "door"})
    edge.raw("event", {"type": "run_progress", "message": "no attrs, no channel"})
    edge.raw("event", {"type": "run_started", "attrs": "not a mapping", "channel": "240101_X_1_FCODD"})
    edge.raw("event", {"type": "run_stalled", "attrs": {"run_id": "240101_X_1_FCODD", "cycles_done": "many"}})
    edge.raw("observation", {"device": "f1", "channel": "temp", "value": "-80.1", "unit": "Cel"})
    await edge.sync()
    (odd,) = await lab.ok("GET", "/v1/sequencing/runs")
    assert (odd["name"], odd["state"], odd["stalled"], odd["cycles_done"]) == ("240101_X_1_FCODD", "running", True, 0)
    assert odd["platform"] is None


async def test_a_sample_on_hold_or_with_failed_qc_stays_put_and_the_others_go_on(lab: Lab) -> None:
    samples = await lab.libraries(3)
    job, run = await planned_run(lab, "RUN-HOLD", samples, flow_cell=FLOW_CELL)
    held, failed_qc, _ = samples
    async with lab.hub.state.db.transaction() as session:
        technician = lab.person()
        await lab.hub.state.samples.transition_many(
            session, technician, [held], SampleState.ON_HOLD, reason="contamination suspected"
        )
        await session.execute(update(Sample).where(Sample.id == failed_qc).values(qc_status="failed"))
    edge = Instrument(lab)
    await edge.enroll()
    edge.event("run_started", **started())
    await edge.sync()
    assert await lab.sample_states(samples) == ["on_hold", "in_preparation", "sequencing"]
    edge.event("run_completed", state="completed")
    await edge.sync()
    assert await lab.sample_states(samples) == ["on_hold", "in_preparation", "completed"]
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "completed"
    await lab.hub.published()
    page = await lab.ok("GET", "/v1/events", Role.ADMIN, params={"limit": 1000, "type": "sequencing.run_running"})
    (running,) = page["events"]
    assert running["subject_id"] == run["id"]
    assert len(running["payload"]["samples_not_moved"]) == 2
