"""The sequencing submission saga's forward path, on SQLite and PostgreSQL, with a real enrolled edge that syncs its
run-folder events through the sync endpoint: the sheet goes to the sequencer PC as one ``write_samplesheet``
command, the saga waits until the instrument reports the run (its pivot), follows it to its end and notifies once.
A run that fails after it started is past the pivot: the saga completes with a warning, nothing is undone. A run
that never starts is compensated at its deadline (the sheet removed, the plan cancelled, the job queued again).

The runner is driven in the test with a clock the test moves (``SagaRunner(clock=...)``): the waits poll every
5 s (the start) and 30 s (the end), which the clock skips instead of the test sleeping through them. The ingest's
device-event handlers and the saga's event query are the hub's own; nothing of ours is replaced.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.db.base import utcnow
from hub.db.ingest_models import DeviceCommand
from hub.db.notifications_models import Notification
from hub.db.sample_models import Sample
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.samples import NewSample
from hub.domain.storage.placement import Placement
from hub.sagas import REGISTRY, SagaRunner
from hub.sagas.workflows import sequencing as workflow
from protocol import ChainWriter, CheckpointBody, SigningKey, entry_hash, sign_checkpoint
from sync import MEDIA_TYPE, BatchHeader, encode_batch
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed
from tests.integration.hub.sweep_seeds.sagas import SAMPLE_TYPE, SagaLab, build_lab

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

RUN_NAME = "SAGA-RUN-1"
FLOW_CELL = "22SAGAFC1"
FOLDER = f"20260203_LH00130_0042_B{FLOW_CELL}"
STEPS = ["validate", "reserve_lanes", "generate_sheet", "send_to_edge", "wait_run_started", "track", "notify"]
WAIT_START, TRACK, NOTIFY = STEPS.index("wait_run_started"), STEPS.index("track"), STEPS.index("notify")
START_POLL = timedelta(seconds=6)  # just past the start wait's 5 s poll
TRACK_POLL = timedelta(seconds=31)  # just past the track wait's 30 s poll


class Clock:
    """Aware UTC now, moved forward by the test."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class Edge:
    """The sequencer PC's edge: enrolled through the API, its signed log written and synced by hand (the few lines
    of ``Instrument`` in test_sequencing_tracking.py it needs, for a ``RunningHub``)."""

    def __init__(self, hub: RunningHub, admin: dict[str, str], name: str = "novaseq-x-1") -> None:
        self.hub = hub
        self.admin = admin
        self.name = name
        self.origin = f"tracseq.test/edge/{name}"
        self.key = SigningKey.generate(self.origin)
        self.writer = ChainWriter(self.origin)
        self.t0 = utcnow()
        self.raws: list[bytes] = []
        self.token = ""
        self.device_id = ""
        self.sent = 0

    async def enroll(self) -> str:
        client = self.hub.client
        token = (await client.post("/v1/devices/enrollment-tokens", headers=self.admin)).json()["token"]
        body = {"token": token, "name": self.name, "origin": self.origin, "public_key": self.key.verifier.vkey}
        response = await client.post("/v1/sync/enroll", json=body)
        assert response.status_code == 201, response.text
        self.token, self.device_id = response.json()["device_token"], response.json()["device_id"]
        return self.device_id

    def event(self, kind: str, severity: str = "info", **attrs: Any) -> None:
        """A run-folder watcher's event about the run in ``FOLDER``."""
        payload = {
            "type": kind,
            "severity": severity,
            "device": self.name,
            "channel": FOLDER,
            "message": f"{kind} {FOLDER}",
            "attrs": {"run_id": FOLDER, "folder": FOLDER, "state": "running", **attrs},
        }
        self.raw("event", payload)

    def applied(self, command: dict[str, Any]) -> None:
        """What the agent logs once it applied a command (``edge.uplink.apply_command``)."""
        self.raw(
            "event",
            {
                "type": "command_applied",
                "severity": "info",
                "message": f"{command['type']}: applied {command['args'].get('filename', '')}",
                "attrs": {"command_id": command["id"], "command": command["type"], "ok": True},
            },
        )

    def raw(self, kind: str, payload: dict[str, Any]) -> None:
        seq = self.writer.next_seq
        self.raws.append(self.writer.append(kind, payload, self.t0 + timedelta(seconds=seq), seq).raw)

    async def sync(self) -> dict[str, Any]:
        """Send the entries not sent yet with a checkpoint of them all; the hub's answer (``SyncAck``)."""
        start, end = self.sent, len(self.raws)
        note = sign_checkpoint(CheckpointBody(self.origin, end, entry_hash(self.raws[end - 1])), [self.key]).render()
        header = BatchHeader(origin=self.origin, first_seq=start, count=end - start, checkpoint=note)
        response = await self.hub.client.post(
            "/v1/sync/batches",
            content=encode_batch(header, self.raws[start:end]),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"},
        )
        assert response.status_code == 200, response.text
        self.sent = end
        answer: dict[str, Any] = response.json()
        return answer


def started(**attrs: Any) -> dict[str, Any]:
    """RunInfo / RunParameters as the watcher reports them; the experiment name is not the plan's run name, so the
    run is found by the flow cell the lab entered."""
    return {
        "instrument": "LH00130",
        "platform": "NovaSeq X Plus",
        "run_number": 42,
        "flow_cell": FLOW_CELL,
        "lanes": 8,
        "reads": "151,10,10,151",
        "cycles_total": 322,
        "experiment": "bench run",
        **attrs,
    }


@dataclass
class World:
    hub: RunningHub
    tenant: SeededTenant
    lab: SagaLab
    edge: Edge
    clock: Clock
    runner: SagaRunner

    def headers(self, role: Role = Role.LAB_MANAGER) -> dict[str, str]:
        return self.hub.auth(self.tenant.users[role])

    async def ok(self, method: str, url: str, role: Role = Role.LAB_MANAGER, **kwargs: Any) -> Any:
        response = await self.hub.client.request(method, url, headers=self.headers(role), **kwargs)
        assert response.is_success, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()

    async def saga(self, saga_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = await self.ok("GET", f"/v1/sagas/{saga_id}", Role.ADMIN)
        return shown

    async def tick(self, delta: timedelta = timedelta(0)) -> None:
        """Move the runner's clock on, then advance every saga as far as it goes now."""
        self.clock.advance(delta)
        await self.runner.drain()

    async def stored_samples(self, count: int) -> list[str]:
        """Libraries registered, received and stored in the lab's box (as the e2e saga harness seeds them)."""
        state, manager = self.hub.state, self.lab.manager
        async with state.db.transaction() as session:
            types = await state.samples.sample_types(session, self.tenant.id)
            type_id = next(t.id for t in types if t.name == SAMPLE_TYPE)
            specs = [NewSample(f"library {n}", type_id, barcode=f"SEQ-{n}") for n in range(1, count + 1)]
            ids = [s.id for s in await state.samples.register_many(session, manager, specs)]
            await state.samples.transition_many(session, manager, ids, SampleState.RECEIVED, reason="arrived")
            await state.storage.place(
                session, manager, [Placement(i, self.lab.box_id, f"A{n}") for n, i in enumerate(ids, start=1)]
            )
        return ids

    async def job(self, sample_ids: list[str]) -> dict[str, Any]:
        indexes = [("ACGTACGTAC", "TTGGCCAATT"), ("GGTTAACCGG", "CAGTCAGTCA")]
        body = {
            "name": "saga job",
            "platform": "novaseq_x",
            "read_lengths": "2x151",
            "libraries": [
                {"sample_id": s, "index": i7, "index2": i5, "requested_reads": 2_000_000}
                for s, (i7, i5) in zip(sample_ids, indexes, strict=False)
            ],
        }
        job: dict[str, Any] = await self.ok("POST", "/v1/sequencing/jobs", json=body)
        return job

    async def submit(self, job_id: str, **extra: Any) -> str:
        body = {
            "name": RUN_NAME,
            "platform": "novaseq_x",
            "flowcell_type": "10B",
            "job_ids": [job_id],
            "device_id": self.edge.device_id,
            **extra,
        }
        response = await self.hub.client.post("/v1/sagas/sequencing-submission", json=body, headers=self.headers())
        assert response.status_code == 202, response.text
        saga_id: str = response.json()["id"]
        return saga_id

    async def sample_states(self, ids: list[str]) -> list[str]:
        async with self.hub.state.db.read() as session:
            states = dict((await session.execute(select(Sample.id, Sample.state).where(Sample.id.in_(ids)))).all())
        return [states[i] for i in ids]

    async def commands(self, saga_id: str) -> list[DeviceCommand]:
        """The edge commands the saga's steps created, oldest first."""
        async with self.hub.state.db.read() as session:
            rows = await session.execute(
                select(DeviceCommand)
                .where(DeviceCommand.tenant_id == self.tenant.id)
                .order_by(DeviceCommand.created_at)
            )
            return [c for c in rows.scalars() if str(c.args.get("idempotency_key", "")).startswith(f"saga:{saga_id}:")]

    async def notifications(self, saga_id: str) -> list[Notification]:
        async with self.hub.state.db.read() as session:
            rows = await session.execute(select(Notification).where(Notification.dedup_key.like(f"saga:{saga_id}:%")))
            return list(rows.scalars())

    async def notification_groups(self, saga_id: str) -> list[int]:
        """How many messages each (dedup key, user, channel) of the saga has."""
        async with self.hub.state.db.read() as session:
            rows = await session.execute(
                select(func.count())
                .select_from(Notification)
                .where(Notification.dedup_key.like(f"saga:{saga_id}:%"))
                .group_by(Notification.dedup_key, Notification.user_id, Notification.channel_id)
            )
            return list(rows.scalars())


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    # the test drives its own runner; messages are queued, not sent
    settings = hub_settings(db_url, tmp_path, notify_in_process=False, sagas_in_process=False)
    async with running_hub(settings) as hub:
        # the app's ingest passes device events to sequencing itself (build_state): not added a second time here
        assert hub.state.sequencing.on_device_events in hub.state.ingest.event_handlers
        tenants = await seed(hub.state, slugs=("alpha-lab",), roles=(Role.ADMIN, Role.LAB_MANAGER, Role.TECHNICIAN))
        tenant = tenants["alpha-lab"]
        edge = Edge(hub, hub.auth(tenant.users[Role.ADMIN]))
        device_id = await edge.enroll()
        lab = await build_lab(hub.state, tenant, device_id=device_id)
        clock = Clock()
        runner = SagaRunner(hub.state.db, hub.state, REGISTRY, poll_s=0.05, clock=clock)
        yield World(hub, tenant, lab, edge, clock, runner)


async def submitted_and_waiting(world: World, **extra: Any) -> tuple[str, dict[str, Any], list[str]]:
    """Two stored libraries in a job, the saga started and run up to its wait for the run to start; the edge has
    received the sheet, checked it and logged it applied. Returns the saga id, the job and the samples."""
    samples = await world.stored_samples(2)
    job = await world.job(samples)
    saga_id = await world.submit(job["id"], **extra)
    await world.tick()

    shown = await world.saga(saga_id)
    assert (shown["state"], shown["current_step"], shown["pivot_passed"]) == ("waiting", WAIT_START, False), shown
    assert [s["state"] for s in shown["steps"]] == ["done"] * 4 + ["pending"] * 3
    assert shown["steps"][WAIT_START]["wait_until"] is not None
    run_id = shown["steps"][STEPS.index("reserve_lanes")]["output"]["run_id"]
    sha256 = shown["steps"][STEPS.index("generate_sheet")]["output"]["sha256"]
    run = await world.ok("GET", f"/v1/sequencing/runs/{run_id}")
    assert (run["name"], run["state"], run["flow_cell"]) == (RUN_NAME, "planned", None)
    assert (await world.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "planned"
    assert await world.sample_states(samples) == ["stored", "stored"]  # they move when the run starts

    # one write_samplesheet command for the saga's step, to the enrolled edge, carrying the planned run's sheet
    (write,) = await world.commands(saga_id)
    sheet = await world.hub.client.get(f"/v1/sequencing/runs/{run_id}/samplesheet", headers=world.headers())
    assert sheet.status_code == 200, sheet.text
    assert (write.type, write.device_id) == (workflow.WRITE_SHEET, world.edge.device_id)
    assert write.args["idempotency_key"] == shown["steps"][STEPS.index("send_to_edge")]["idempotency_key"]
    assert write.args["sha256"] == sha256 == hashlib.sha256(sheet.content).hexdigest()
    assert write.args["sheet"] == sheet.text
    assert (write.args["run_id"], write.args["filename"]) == (run_id, f"{RUN_NAME}.csv")

    # without an event the wait polls on and creates nothing more
    await world.tick(START_POLL)
    assert ((await world.saga(saga_id))["state"], len(await world.commands(saga_id))) == ("waiting", 1)

    # the edge hears of the command at its next sync, checks the sheet and logs it applied
    world.edge.raw("event", {"type": "agent_started", "severity": "info", "message": "agent up"})
    answer = await world.edge.sync()
    (command,) = [c for c in answer["commands"] if c["type"] == workflow.WRITE_SHEET]
    assert command["id"] == write.id
    assert hashlib.sha256(command["args"]["sheet"].encode()).hexdigest() == command["args"]["sha256"] == sha256
    world.edge.applied(command)
    assert not [c for c in (await world.edge.sync())["commands"] if c["id"] == write.id]
    return saga_id, job, samples


async def run_started(world: World, saga_id: str, job: dict[str, Any], samples: list[str]) -> str:
    """The lab enters the flow cell, the instrument starts the run: the saga passes its pivot and tracks it."""
    run_id: str = (await world.saga(saga_id))["steps"][STEPS.index("reserve_lanes")]["output"]["run_id"]
    await world.ok("PATCH", f"/v1/sequencing/runs/{run_id}", json={"flow_cell": FLOW_CELL, "reason": "loaded"})
    world.edge.event("run_started", **started())
    world.edge.event("run_progress", cycles_done=12, cycles_total=322, percent=4, source="InterOp")
    await world.edge.sync()

    run = await world.ok("GET", f"/v1/sequencing/runs/{run_id}")
    assert (run["state"], run["instrument_run_id"], run["device_id"]) == ("running", FOLDER, world.edge.device_id)
    assert (await world.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "sequencing"
    assert await world.sample_states(samples) == ["sequencing", "sequencing"]  # stored → in preparation → sequencing

    await world.tick(START_POLL)
    shown = await world.saga(saga_id)
    assert (shown["state"], shown["current_step"], shown["pivot_passed"]) == ("waiting", TRACK, True), shown
    assert shown["steps"][WAIT_START]["state"] == "done"
    assert shown["steps"][WAIT_START]["output"]["event"] == "sequencing.run_running"
    await world.tick(TRACK_POLL)  # still running: the saga waits on
    still = await world.saga(saga_id)
    assert (still["state"], still["current_step"]) == ("waiting", TRACK)
    return run_id


async def test_a_submitted_run_is_sent_to_the_edge_followed_to_its_end_and_notified_once(world: World) -> None:
    saga_id, job, samples = await submitted_and_waiting(world)
    run_id = await run_started(world, saga_id, job, samples)

    qc = {"qc_yield_gb": "812.4", "qc_percent_q30": "93.1"}
    world.edge.event("run_completed", state="completed", completed_by="RunCompletionStatus.xml: RunCompleted", **qc)
    await world.edge.sync()
    await world.tick(TRACK_POLL)

    shown = await world.saga(saga_id)
    assert (shown["state"], shown["error"]) == ("completed", None), shown
    assert [s["state"] for s in shown["steps"]] == ["done"] * len(STEPS)
    assert [s["name"] for s in shown["steps"]] == STEPS
    assert shown["steps"][TRACK]["output"]["event"] == "sequencing.run_completed"
    assert shown["steps"][NOTIFY]["output"] == {"messages": 1}
    assert [t["transition"] for t in shown["history"]][-1] == "completed"

    run = await world.ok("GET", f"/v1/sequencing/runs/{run_id}")
    assert (run["state"], run["qc"]) == ("completed", {"summary": {"yield_gb": "812.4", "percent_q30": "93.1"}})
    assert (await world.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "completed"
    assert await world.sample_states(samples) == ["completed", "completed"]

    # one message, to the lab manager who submitted, on the lab's e-mail channel, about the completed run
    (note,) = await world.notifications(saga_id)
    assert await world.notification_groups(saga_id) == [1]
    assert (note.dedup_key, note.user_id) == (shown["steps"][NOTIFY]["idempotency_key"], world.lab.manager.id)
    assert (note.kind, note.severity, note.channel_kind) == ("saga.sequencing_submission", "info", "email")
    assert note.context["title"] == f"run {RUN_NAME} completed"
    assert f"run {RUN_NAME} completed" in note.subject
    commands = await world.commands(saga_id)
    assert [c.type for c in commands] == [workflow.WRITE_SHEET]  # never a remove_samplesheet

    # a second runner, later, finds nothing left to do and repeats nothing
    await SagaRunner(world.hub.state.db, world.hub.state, REGISTRY, clock=world.clock).drain()
    await world.tick(TRACK_POLL)
    assert (await world.saga(saga_id))["state"] == "completed"
    assert (len(await world.notifications(saga_id)), len(await world.commands(saga_id))) == (1, 1)


async def test_a_run_that_fails_after_it_started_is_not_undone_and_the_saga_warns(world: World) -> None:
    saga_id, job, samples = await submitted_and_waiting(world)
    run_id = await run_started(world, saga_id, job, samples)

    world.edge.event("run_failed", severity="alarm", state="failed", reason="RunCompletionStatus.xml: RunErrored")
    await world.edge.sync()
    await world.tick(TRACK_POLL)

    shown = await world.saga(saga_id)
    assert (shown["state"], shown["error"], shown["pivot_passed"]) == ("completed", None, True), shown
    assert [s["state"] for s in shown["steps"]] == ["done"] * len(STEPS)  # nothing compensated past the pivot
    assert shown["steps"][TRACK]["output"]["event"] == "sequencing.run_failed"
    assert shown["steps"][NOTIFY]["output"] == {"messages": 1}
    assert "compensating" not in [t["transition"] for t in shown["history"]]

    run = await world.ok("GET", f"/v1/sequencing/runs/{run_id}")
    assert run["state"] == "failed"
    assert "RunErrored" in run["state_reason"]
    failed_job = await world.ok("GET", f"/v1/sequencing/jobs/{job['id']}")
    assert (failed_job["state"], failed_job["run_id"]) == ("failed", run_id)  # not cancelled, not queued by the saga
    assert await world.sample_states(samples) == ["in_preparation", "in_preparation"]  # back from sequencing

    (note,) = await world.notifications(saga_id)
    assert await world.notification_groups(saga_id) == [1]
    assert (note.severity, note.context["title"]) == ("warning", f"run {RUN_NAME} failed")
    assert f"run {RUN_NAME} failed" in note.subject
    assert [c.type for c in await world.commands(saga_id)] == [workflow.WRITE_SHEET]  # the sheet stays


async def test_a_run_that_never_starts_is_undone_at_its_deadline(world: World) -> None:
    samples = await world.stored_samples(2)
    job = await world.job(samples)
    saga_id = await world.submit(job["id"], start_deadline_s=60)
    await world.tick()
    assert (await world.saga(saga_id))["state"] == "waiting"
    await world.tick(timedelta(seconds=30))
    assert (await world.saga(saga_id))["state"] == "waiting"  # before its deadline, it waits on
    await world.tick(timedelta(seconds=31))

    shown = await world.saga(saga_id)
    assert shown["state"] == "compensated", shown
    assert [s["state"] for s in shown["steps"]] == [
        "done",
        "compensated",
        "done",
        "compensated",
        "failed",
        "pending",
        "pending",
    ]
    assert "StepTimeoutError" in (shown["error"] or "")
    run_id = shown["steps"][STEPS.index("reserve_lanes")]["output"]["run_id"]
    write, remove = await world.commands(saga_id)
    assert (write.type, remove.type) == (workflow.WRITE_SHEET, workflow.REMOVE_SHEET)
    assert (remove.device_id, remove.args["run_id"], remove.args["filename"]) == (
        world.edge.device_id,
        run_id,
        f"{RUN_NAME}.csv",
    )
    assert (await world.ok("GET", f"/v1/sequencing/runs/{run_id}"))["state"] == "cancelled"
    queued = await world.ok("GET", f"/v1/sequencing/jobs/{job['id']}")
    assert (queued["state"], queued["run_id"]) == ("queued", None)
    assert await world.sample_states(samples) == ["stored", "stored"]
    assert await world.notifications(saga_id) == []

    # the edge, back online, is told to write the sheet and then to remove it, in that order
    world.edge.raw("event", {"type": "agent_started", "severity": "info", "message": "agent up"})
    answer = await world.edge.sync()
    assert [c["type"] for c in answer["commands"]] == [workflow.WRITE_SHEET, workflow.REMOVE_SHEET]
