"""The saga crash harness: the hub process (API and saga runner, ``python -m hub.sagas serve``) kills itself with
SIGKILL at a step boundary (before the action, after the action but before the log write, after the log write),
is started again without the crash point, and every saga ends completed or compensated with exactly one set of
side effects: samples registered once, positions allocated once, one notification per step, user and channel,
one edge command per step.

In the suite: every boundary of the excursion response, and one boundary each of the sample intake and the
sequencing submission (about a minute). ``TRACSEQ_SAGA_CRASH_CAMPAIGN=full`` runs every boundary of every
workflow the harness can reach (``make crash-sagas``; see ``_reachable``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from hub.sagas.workflows import REGISTRY
from tests.e2e.hub_harness import Database, Hub

pytestmark = pytest.mark.e2e

FULL = os.environ.get("TRACSEQ_SAGA_CRASH_CAMPAIGN") == "full"
BOUNDARIES = ("before", "after_action", "after_log")
INTAKE_ROWS = 3


class SagaHub(Hub):
    """The hub with its saga runner in one process; ``crash_at`` sets the crash point of the next start."""

    crash_at: str | None = None
    runner: bool = True

    def start(self, timeout: float = 60) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the hub is running already"
        log = (self.folder / f"hub-{self.starts}.log").open("wb")
        self.starts += 1
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env.pop("TRACSEQ_SAGA_CRASH_AT", None)
        if self.crash_at:
            env["TRACSEQ_SAGA_CRASH_AT"] = self.crash_at
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub.sagas",
                "serve",
                "--port",
                str(self.port),
                "--poll-s",
                "0.05",
                *([] if self.runner else ["--no-runner"]),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the hub did not answer /healthz within {timeout} s: {self.log_tail()}")


@pytest.fixture(scope="module")
def hub(
    require_service: Callable[[str], tuple[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SagaHub]:
    host, port = require_service("postgresql")
    db = Database.create(host, port, "tracseq_e2e_sagas")
    server = SagaHub(db, tmp_path_factory.mktemp("hub"))
    try:
        server.migrate()
        server.seed({"lab-one": "ana"})
        yield server
    finally:
        server.stop()
        db.drop()


# -- the lab, seeded in this process through the domain calls ----------------------------------------------------


def _run(hub: SagaHub, work: Callable[[Any], Any]) -> Any:
    from hub.api.app import build_state
    from hub.settings import HubSettings
    from tests.e2e.hub_harness import JWT_SECRET

    settings = HubSettings(
        environment="test",
        jwt_secret=JWT_SECRET,
        database_url=hub.db.url,
        audit_key_file=hub.folder / "audit.key",
        witness_key_file=hub.folder / "witness.key",
    )

    async def run() -> Any:
        state = build_state(settings)
        try:
            return await work(state)
        finally:
            await state.db.dispose()

    return asyncio.run(run())


@dataclass
class World:
    lab: Any
    prefix: str
    token: str = ""


def _worlds(hub: SagaHub, count: int) -> list[World]:
    """``count`` labs (a template, a freezer with a box, a sequencer PC each) run by one lab manager."""
    from sqlalchemy import select

    from hub.db.models import Tenant, User
    from hub.domain.permissions import Role
    from tests.integration.hub.sweep_seeds.sagas import build_lab

    prefixes = [f"C{uuid.uuid4().hex[:6].upper()}" for _ in range(count)]

    async def work(state: Any) -> list[Any]:
        async with state.db.transaction() as session:
            tenant_id = (await session.execute(select(Tenant.id).where(Tenant.slug == "lab-one"))).scalar_one()
            users = {}
            for role in (Role.LAB_MANAGER, Role.TECHNICIAN):
                user = await state.identity.create_user(
                    session,
                    tenant_id=tenant_id,
                    username=f"{prefixes[0].lower()}.{role.value}",
                    display_name=f"{prefixes[0]} {role.value}",
                    password="Correct-Horse-Battery-42",
                    role=role,
                    actor="e2e",
                )
                users[role] = SimpleNamespace(id=user.id, username=user.username)
            ana = (await session.execute(select(User).where(User.username == "ana"))).scalar_one()
            ana.email = ana.email or "ana@lab.test"
        tenant = SimpleNamespace(id=tenant_id, users=users)
        return [await build_lab(state, tenant, prefix) for prefix in prefixes]

    labs = _run(hub, work)
    return [World(lab, prefix) for lab, prefix in zip(labs, prefixes, strict=True)]


def _stored_samples(hub: SagaHub, world: World, count: int) -> list[str]:
    from hub.domain.lifecycle import SampleState
    from hub.domain.samples import NewSample
    from hub.domain.storage.placement import Placement

    async def work(state: Any) -> list[str]:
        async with state.db.transaction() as session:
            types = await state.samples.sample_types(session, world.lab.manager.tenant_id)
            type_id = next(t.id for t in types if t.name == "saga-dna")
            specs = [
                NewSample(name=f"{world.prefix} s{n}", sample_type_id=type_id, barcode=f"{world.prefix}-S{n}")
                for n in range(count)
            ]
            samples = await state.samples.register_many(session, world.lab.manager, specs)
            ids = [s.id for s in samples]
            await state.samples.transition_many(session, world.lab.manager, ids, SampleState.RECEIVED, reason="e2e")
            await state.storage.place(
                session, world.lab.manager, [Placement(i, world.lab.box_id, f"A{n + 1}") for n, i in enumerate(ids)]
            )
        return ids

    ids: list[str] = _run(hub, work)
    return ids


def _job(hub: SagaHub, world: World) -> str:
    from hub.domain.sequencing import NewJob, NewLibrary
    from hub.domain.sequencing_platforms import SequencingPlatform

    ids = _stored_samples(hub, world, 2)

    async def work(state: Any) -> str:
        async with state.db.transaction() as session:
            spec = NewJob(
                name=f"{world.prefix} job",
                platform=SequencingPlatform.NOVASEQ_X,
                libraries=[
                    NewLibrary(ids[0], "ACGTACGTAC", "TTGGCCAATT"),
                    NewLibrary(ids[1], "GGTTAACCGG", "CAGTCAGTCA"),
                ],
                read_lengths="2x151",
                requested_reads=2_000_000,
            )
            view = await state.sequencing.create_job(session, world.lab.manager, spec)
            return str(view.job.id)

    job_id: str = _run(hub, work)
    return job_id


# -- starting a workflow, and what it left behind -----------------------------------------------------------------


def _start(hub: SagaHub, world: World, saga_type: str, key: str) -> str:
    headers = {"Authorization": f"Bearer {world.token}"}
    lab = world.lab
    from tests.integration.hub.sweep_seeds.sagas import sheet

    if saga_type == "sample_intake":
        path = "sample-intake"
        body: dict[str, Any] = {
            "template_id": lab.template_id,
            "container_id": lab.container_id,
            "sheet_base64": sheet(world.prefix, INTAKE_ROWS),
            "notify_user_ids": [lab.manager.id],
        }
    elif saga_type == "excursion_response":
        _stored_samples(hub, world, 2)
        path, body = "excursion-response", {"unit_id": lab.unit_id, "reason": "door left open"}
    else:
        job_id = _job(hub, world)
        path = "sequencing-submission"
        body = {
            "name": f"{world.prefix}-RUN",
            "platform": "novaseq_x",
            "flowcell_type": "10B",
            "job_ids": [job_id],
            "device_id": lab.device_id,
            "start_deadline_s": 2,
        }
    answer = httpx.post(f"{hub.url}/v1/sagas/{path}", json={**body, "key": key}, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text
    saga_id: str = answer.json()["id"]
    return saga_id


def _check(hub: SagaHub, world: World, saga_type: str, saga_id: str) -> None:
    db = hub.db
    state = db.value("SELECT state FROM sagas WHERE id = $1", saga_id)
    notes = db.fetch(
        "SELECT dedup_key, user_id, channel_id, count(*) AS n FROM notifications WHERE dedup_key LIKE $1 "
        "GROUP BY dedup_key, user_id, channel_id",
        f"saga:{saga_id}:%",
    )
    assert all(row["n"] == 1 for row in notes), notes
    like = f"{world.prefix}-%"
    if saga_type == "sample_intake":
        assert state == "completed"
        assert db.value("SELECT count(*) FROM samples WHERE barcode LIKE $1", like) == INTAKE_ROWS
        assert db.value("SELECT count(*) FROM samples WHERE barcode LIKE $1 AND state = 'stored'", like) == INTAKE_ROWS
        placed = db.value(
            "SELECT count(*) FROM storage_positions p JOIN samples s ON s.id = p.sample_id WHERE s.barcode LIKE $1",
            like,
        )
        assert placed == INTAKE_ROWS
        assert (
            db.value(
                "SELECT count(*) FROM intake_uploads WHERE status = 'registered' AND filename = 'sheet.csv' "
                "AND id IN (SELECT intake_upload_id FROM samples WHERE barcode LIKE $1)",
                like,
            )
            == 1
        )
        assert len(notes) == 1
    elif saga_type == "excursion_response":
        assert state == "completed"
        assert db.value("SELECT count(*) FROM samples WHERE barcode LIKE $1 AND state = 'on_hold'", like) == 2
        assert db.value("SELECT count(*) FROM corrective_actions WHERE saga_id = $1", saga_id) == 1
        assert len(notes) == 2  # the samples' custodian and the person who started the response
    else:
        assert state == "compensated"  # the run never started: the deadline passed
        commands = db.fetch(
            "SELECT type, count(*) AS n FROM device_commands WHERE args->>'idempotency_key' LIKE $1 GROUP BY type",
            f"saga:{saga_id}:%",
        )
        assert {row["type"]: row["n"] for row in commands} == {"write_samplesheet": 1, "remove_samplesheet": 1}
        assert db.value("SELECT state FROM sequencing_runs WHERE name = $1", f"{world.prefix}-RUN") == "cancelled"
        assert db.value("SELECT state FROM sequencing_jobs WHERE name = $1", f"{world.prefix} job") == "queued"
    steps = [
        row["state"] for row in db.fetch("SELECT state FROM saga_steps WHERE saga_id = $1 ORDER BY position", saga_id)
    ]
    if state == "completed":
        assert set(steps) == {"done"}, steps
    else:  # compensated: what ran is undone (or had nothing to undo), the failed step is marked, the rest never ran
        assert "failed" in steps, steps
        failed = steps.index("failed")
        assert set(steps[:failed]) <= {"done", "compensated"}, steps
        assert set(steps[failed + 1 :]) <= {"pending"}, steps


def _reachable(saga_type: str) -> list[str]:
    """The steps of ``saga_type`` this harness can crash at: not the waits, and for the sequencing submission none
    after its pivot (no instrument reports a run here, so every submission ends at its deadline, compensated; its
    forward path is tests/integration/hub/test_sagas_sequencing.py)."""
    steps = REGISTRY[saga_type].steps
    if saga_type == "sequencing_submission":
        steps = steps[: next(i for i, s in enumerate(steps) if s.pivot)]
    return [s.name for s in steps if s.wait is None]


def _cases() -> list[tuple[str, str, str]]:
    if FULL:
        return [(t, step, b) for t in REGISTRY for step in _reachable(t) for b in BOUNDARIES]
    every = [("excursion_response", s.name, b) for s in REGISTRY["excursion_response"].steps for b in BOUNDARIES]
    return [
        *every,
        ("sample_intake", "register_samples", "after_action"),
        ("sequencing_submission", "send_to_edge", "after_log"),
    ]


def test_a_hub_killed_at_every_step_boundary_ends_each_saga_once(hub: SagaHub, tmp_path: Path) -> None:
    """One saga per crash point, all started at once; each point fires once (a marker file), so the hub dies once
    per point and is started again with the same environment until every saga has finished."""
    cases = _cases()
    keys = [f"crash-{n}" for n in range(len(cases))]
    hub.crash_at = ",".join(f"{t}:{s}:{b}@{k}" for (t, s, b), k in zip(cases, keys, strict=True))
    hub.extra_env["TRACSEQ_SAGA_CRASH_MARKS"] = str(tmp_path / "marks")
    worlds = _worlds(hub, len(cases))
    hub.runner = False  # the API alone while the sagas are started, so that none runs before all exist
    hub.start()
    token = hub.login("lab-one")
    sagas = []
    for (saga_type, _, _), key, world in zip(cases, keys, worlds, strict=True):
        world.token = token
        sagas.append(_start(hub, world, saga_type, key))
    hub.stop()
    hub.runner = True
    started = time.monotonic()
    hub.start()
    deaths = 0
    deadline = time.monotonic() + 60 + 15 * len(cases)
    while not _all_finished(hub, sagas):
        assert time.monotonic() < deadline, f"sagas still running after {deaths} kills: {hub.log_tail()}"
        assert hub.proc is not None
        if hub.proc.poll() is None:
            time.sleep(0.1)
            continue
        assert hub.proc.returncode == -signal.SIGKILL, hub.log_tail()
        deaths += 1
        hub.start()
    hub.stop()
    print(f"{len(cases)} crash points, {deaths} kills, all sagas finished in {time.monotonic() - started:.1f} s")
    fired = {p.read_text().strip() for p in (tmp_path / "marks").iterdir()}
    failures = [
        f"crash point {t}:{s}:{b}@{k} never fired"
        for (t, s, b), k in zip(cases, keys, strict=True)
        if f"{t}:{s}:{b}@{k}" not in fired
    ]
    for (saga_type, step, boundary), world, saga_id in zip(cases, worlds, sagas, strict=True):
        try:
            _check(hub, world, saga_type, saga_id)
        except AssertionError as exc:
            failures.append(f"{saga_type}:{step}:{boundary} (saga {saga_id}): {exc}")
    assert not failures, "\n".join(failures)
    assert deaths == len(cases)


def _all_finished(hub: SagaHub, sagas: list[str]) -> bool:
    rows = hub.db.fetch("SELECT state FROM sagas WHERE id = ANY($1::varchar[])", sagas)
    return len(rows) == len(sagas) and all(
        r["state"] in ("completed", "compensated", "failed", "compensation_failed") for r in rows
    )


def test_the_full_campaign_names_every_boundary_of_every_workflow() -> None:
    full = [(t, s.name, b) for t, d in REGISTRY.items() for s in d.steps if s.wait is None for b in BOUNDARIES]
    assert len(full) == 3 * (5 + 5 + 3)
    assert set(_cases()) <= set(full)
