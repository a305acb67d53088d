"""Sequencing over the API on SQLite and PostgreSQL: jobs queue by priority with ageing, job requests are refused
with every problem named, a run plan refuses every index collision and then packs lanes, its sample sheet passes
BCL Convert's checks with i5 written for the instrument, roles and tenants are kept apart, and the tables' own
constraints hold."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from hub.db.base import new_id, utcnow
from hub.db.sample_models import Sample
from hub.db.sequencing_models import SequencingJob, SequencingLibrary, SequencingRun, SequencingRunLibrary
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.samples import NewSample
from hub.samplesheet import check_text, reverse_complement
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

# IDT for Illumina UD indexes, set A: i7 and i5 (forward) of wells 1-8, far apart from each other
I7 = ("CCGCGGTT", "TTATAACC", "GGACTTGG", "AAGTCCAA", "ATCCACTG", "GCTTGTCA", "CAAGCTAG", "TGGATCGA")
I5 = ("AGCGCTAG", "GATATCGA", "CGCAGACG", "TATGAGTA", "AGGTGCGT", "GAACATAC", "ACATAGCG", "GTGCGATA")


@dataclass
class Lab:
    """A hub with two tenants (a user per role each), a clock the test moves, and short calls."""

    hub: RunningHub
    a: SeededTenant
    b: SeededTenant
    now: datetime = field(default_factory=utcnow)
    made: int = 0
    types: dict[str, str] = field(default_factory=dict)

    def tenant(self, which: str) -> SeededTenant:
        return self.a if which == "a" else self.b

    def person(self, role: Role = Role.TECHNICIAN, tenant: str = "a") -> Principal:
        user = self.tenant(tenant).users[role]
        return Principal("user", user.id, user.tenant_id, user.username, role)

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    async def call(
        self, method: str, url: str, role: Role = Role.TECHNICIAN, tenant: str = "a", **kwargs: Any
    ) -> httpx.Response:
        headers = self.hub.auth(self.tenant(tenant).users[role])
        return await self.hub.client.request(method, url, headers=headers, **kwargs)

    async def ok(self, method: str, url: str, role: Role = Role.TECHNICIAN, **kwargs: Any) -> Any:
        response = await self.call(method, url, role, **kwargs)
        assert response.is_success, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()

    async def libraries(
        self, count: int, *, state: SampleState = SampleState.IN_PREPARATION, tenant: str = "a"
    ) -> list[str]:
        """Library samples, registered and moved to ``state`` through the samples domain."""
        technician = self.person(tenant=tenant)
        samples = self.hub.state.samples
        async with self.hub.state.db.transaction() as session:
            if tenant not in self.types:
                kind = await samples.create_sample_type(session, technician, name="Library", zone="-20")
                self.types[tenant] = kind.id
            specs = []
            for _ in range(count):
                self.made += 1
                specs.append(NewSample(f"library {self.made}", self.types[tenant], barcode=f"LIB-{self.made:03d}"))
            made = await samples.register_many(session, technician, specs)
            ids = [s.id for s in made]
            path = {
                SampleState.REGISTERED: [],
                SampleState.RECEIVED: [SampleState.RECEIVED],
                SampleState.STORED: [SampleState.RECEIVED, SampleState.STORED],
                SampleState.IN_PREPARATION: [SampleState.RECEIVED, SampleState.IN_PREPARATION],
            }[state]
            for target in path:
                await samples.transition_many(session, technician, ids, target, reason="library prep")
        return ids

    async def job(
        self,
        name: str,
        sample_ids: list[str],
        *,
        platform: str = "novaseq_x",
        priority: str = "normal",
        indexes: list[tuple[str, str]] | None = None,
        reads: int = 100_000_000,
        **extra: Any,
    ) -> dict[str, Any]:
        pairs = indexes or list(zip(I7, I5, strict=True))
        body = {
            "name": name,
            "platform": platform,
            "priority": priority,
            "read_lengths": "2x151",
            "libraries": [
                {"sample_id": s, "index": pairs[n][0], "index2": pairs[n][1], "requested_reads": reads}
                for n, s in enumerate(sample_ids)
            ],
            **extra,
        }
        response = await self.call("POST", "/v1/sequencing/jobs", json=body)
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    async def sample_states(self, sample_ids: list[str]) -> list[str]:
        async with self.hub.state.db.read() as session:
            rows = await session.execute(select(Sample.id, Sample.state).where(Sample.id.in_(sample_ids)))
            states = dict(rows.all())
        return [states[i] for i in sample_ids]


@contextlib.asynccontextmanager
async def open_lab(db_url: str, tmp_path: Path) -> AsyncIterator[Lab]:
    async with running_hub(hub_settings(db_url, tmp_path)) as hub:
        tenants = await seed(hub.state)
        lab = Lab(hub, tenants["alpha-lab"], tenants["beta-lab"])
        hub.state.sequencing.clock = lambda: lab.now
        yield lab


@pytest.fixture
async def lab(db_url: str, tmp_path: Path) -> AsyncIterator[Lab]:
    async with open_lab(db_url, tmp_path) as running:
        yield running


async def test_jobs_wait_in_a_queue_ordered_by_priority_and_low_priority_work_ages_upwards(lab: Lab) -> None:
    samples = await lab.libraries(5)
    urgent = await lab.job("urgent", samples[:1], priority="urgent")
    normal = await lab.job("normal", samples[1:2], priority="normal")
    low = await lab.job("low", samples[2:3], priority="low")
    assert low["state"] == "queued"
    assert low["read_lengths"] == "2x151"
    assert low["requested_reads"] == 100_000_000
    lab.advance(timedelta(hours=25))
    fresh = await lab.job("fresh normal", samples[3:4], priority="normal")
    miseq = await lab.job("small", samples[4:5], platform="miseq", reads=1_000_000)

    queue = await lab.ok("GET", "/v1/sequencing/queue", params={"platform": "novaseq_x"})
    assert [j["name"] for j in queue["jobs"]] == ["urgent", "normal", "low", "fresh normal"]
    by_name = {j["name"]: j for j in queue["jobs"]}
    assert by_name["normal"]["effective_priority"] == "high"
    assert by_name["normal"]["promoted_by"] == 1
    assert by_name["low"]["effective_priority"] == "normal"
    assert by_name["low"]["waited_s"] == 25 * 3600
    assert by_name["fresh normal"]["waited_s"] == 0
    assert queue["ageing_every_hours"] == 24
    assert queue["ageing_ceiling"] == "high"
    everything = await lab.ok("GET", "/v1/sequencing/queue")
    assert {j["job_id"] for j in everything["jobs"]} == {
        urgent["id"],
        normal["id"],
        low["id"],
        fresh["id"],
        miseq["id"],
    }

    cancelled = await lab.ok("POST", f"/v1/sequencing/jobs/{low['id']}/cancel", json={"reason": "library failed QC"})
    assert cancelled["state"] == "cancelled"
    assert cancelled["state_reason"] == "library failed QC"
    again = await lab.call("POST", f"/v1/sequencing/jobs/{low['id']}/cancel", json={"reason": "twice"})
    assert again.status_code == 409
    assert again.json()["allowed"] == []
    queue = await lab.ok("GET", "/v1/sequencing/queue", params={"platform": "novaseq_x"})
    assert low["id"] not in {j["job_id"] for j in queue["jobs"]}
    # the sample of a cancelled job is free for a new one
    await lab.job("low again", samples[2:3], priority="low")
    listed = await lab.ok("GET", "/v1/sequencing/jobs", params={"state": "cancelled"})
    assert [j["id"] for j in listed] == [low["id"]]
    audit = await lab.ok(
        "GET",
        "/v1/audit/entries",
        Role.ADMIN,
        params={"record_type": "sequencing_job", "record_id": low["id"]},
    )
    assert [e["action"] for e in audit] == ["create", "update"]


async def test_a_job_request_is_refused_with_every_problem_named(lab: Lab) -> None:
    ready = await lab.libraries(3)
    registered = await lab.libraries(1, state=SampleState.REGISTERED)
    theirs = await lab.libraries(1, tenant="b")
    base = {"name": "bad", "platform": "novaseq_x", "read_lengths": "2x151"}

    bad = await lab.call(
        "POST",
        "/v1/sequencing/jobs",
        json={
            **base,
            "requested_reads": 5,
            "libraries": [
                {"sample_id": ready[0], "index": "ACGTNNXA", "requested_reads": 1},
                {"sample_id": ready[0], "index": "ACG", "requested_reads": 1},
            ],
        },
    )
    assert bad.status_code == 422
    problems = bad.json()["problems"]
    assert len(problems) == 4, problems  # repeated sample, two bad indexes, reads that do not add up
    no_lengths = await lab.call(
        "POST",
        "/v1/sequencing/jobs",
        json={
            "name": "x",
            "platform": "miseq",
            "requested_reads": 9,
            "libraries": [{"sample_id": ready[0], "index": "ACGTACGT"}],
        },
    )
    assert no_lengths.status_code == 422
    assert "read_lengths" in no_lengths.json()["detail"]

    for missing in ("no-such-sample", theirs[0]):
        response = await lab.call(
            "POST",
            "/v1/sequencing/jobs",
            json={**base, "requested_reads": 9, "libraries": [{"sample_id": missing, "index": "ACGTACGT"}]},
        )
        assert response.status_code == 404, response.text

    not_ready = await lab.call(
        "POST",
        "/v1/sequencing/jobs",
        json={**base, "requested_reads": 9, "libraries": [{"sample_id": registered[0], "index": "ACGTACGT"}]},
    )
    assert not_ready.status_code == 409
    assert "registered" in not_ready.json()["detail"]

    first = await lab.job("first", ready[:2], indexes=[("AAAAAAAA", "CCCCCCCC"), ("AAAAAAAT", "CCCCCCCA")])
    assert len(first["warnings"]) == 1
    assert "collide" in first["warnings"][0]
    assert [lib["index"] for lib in first["libraries"]] == ["AAAAAAAA", "AAAAAAAT"]
    busy = await lab.call(
        "POST",
        "/v1/sequencing/jobs",
        json={**base, "requested_reads": 9, "libraries": [{"sample_id": ready[1], "index": "ACGTACGT"}]},
    )
    assert busy.status_code == 409
    assert "first" in busy.json()["detail"]

    shared = await lab.call(
        "POST",
        "/v1/sequencing/jobs",
        json={
            "name": "nanopore",
            "platform": "nanopore",
            "requested_reads": 1001,
            "libraries": [{"sample_id": ready[2], "index": "barcode01"}],
        },
    )
    assert shared.status_code == 201, shared.text
    assert shared.json()["read_lengths"] is None
    assert shared.json()["libraries"][0]["requested_reads"] == 1001


async def test_a_run_plan_refuses_every_collision_then_packs_lanes_and_gives_a_sheet_bcl_convert_accepts(
    lab: Lab,
) -> None:
    samples = await lab.libraries(4)
    colliding = [("AAAAAAAA", "CCCCCCCC"), ("AAAAAAAT", "CCCCCCCA"), ("GGGGGGGG", "TTTTTTTT"), ("GGGGGGGC", "TTTTTTTA")]
    job = await lab.job("WGS batch 1", samples, indexes=colliding, reads=200_000_000)
    plan = {"name": "RUN-001", "platform": "novaseq_x", "flowcell_type": "1.5B", "job_ids": [job["id"]], "lanes": 1}

    refused = await lab.call("POST", "/v1/sequencing/runs", json=plan)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["type"].endswith("/run-plan-refused")
    assert sorted(tuple(p["samples"]) for p in body["problems"]) == [("LIB-001", "LIB-002"), ("LIB-003", "LIB-004")]
    assert all(p["lane"] == 1 for p in body["problems"])
    preview = await lab.call("POST", "/v1/sequencing/runs", json={**plan, "dry_run": True})
    assert preview.status_code == 200
    assert not preview.json()["ok"]
    assert len(preview.json()["problems"]) == 2
    assert await lab.ok("GET", "/v1/sequencing/runs") == []
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "queued"

    planned = await lab.call("POST", "/v1/sequencing/runs", json={**plan, "lanes": 2, "flow_cell": "22FLOWCELL"})
    assert planned.status_code == 201, planned.text
    run = planned.json()
    assert run["state"] == "planned"
    assert run["origin"] == "planned"
    assert run["job_ids"] == [job["id"]]
    assert run["cycles"] == {"read1": 151, "index1": 8, "index2": 8, "read2": 151}
    lanes = [[lib["sheet_sample_id"] for lib in lane["libraries"]] for lane in run["lanes"]]
    assert lanes == [["LIB-001", "LIB-003"], ["LIB-002", "LIB-004"]]
    assert run["lanes"][0]["fill"] == 0.5
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "planned"
    assert (
        await lab.call("POST", "/v1/sequencing/runs", json={**plan, "name": "RUN-002", "lanes": 2})
    ).status_code == 409

    sheet = await lab.call("GET", f"/v1/sequencing/runs/{run['id']}/samplesheet")
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("text/csv")
    report = check_text(sheet.text)
    assert report.ok, report.problems
    assert report.sheet.header_value("RunName") == "RUN-001"
    assert report.sheet.header_value("InstrumentPlatform") == "NovaSeqXSeries"
    rows = {row.sample_id: row for row in report.sheet.rows}
    assert (rows["LIB-002"].lane, rows["LIB-002"].index2) == (2, "CCCCCCCA")  # NovaSeq X sheets take i5 forward
    assert rows["LIB-001"].sample_project == "WGS_batch_1"

    renamed = await lab.ok(
        "PATCH", f"/v1/sequencing/runs/{run['id']}", json={"reason": "flow cell scanned", "flow_cell": "22FLOWCEL2"}
    )
    assert renamed["flow_cell"] == "22FLOWCEL2"
    assert renamed["version"] == 2
    cancelled = await lab.ok("POST", f"/v1/sequencing/runs/{run['id']}/cancel", json={"reason": "instrument down"})
    assert cancelled["state"] == "cancelled"
    assert (await lab.ok("GET", f"/v1/sequencing/jobs/{job['id']}"))["state"] == "queued"
    assert (await lab.call("GET", f"/v1/sequencing/runs/{run['id']}/samplesheet")).status_code == 200


async def test_a_pooled_nextseq_run_has_one_pool_no_lane_column_and_i5_reverse_complemented(lab: Lab) -> None:
    samples = await lab.libraries(2)
    job = await lab.job("panel", samples, platform="nextseq_550", reads=50_000_000)
    run = await lab.ok(
        "POST",
        "/v1/sequencing/runs",
        json={"name": "NS-1", "platform": "nextseq_550", "flowcell_type": "high", "job_ids": [job["id"]]},
    )
    assert run["pooled"]
    assert run["lane_count"] == 4
    assert len(run["lanes"]) == 1
    assert run["lanes"][0]["capacity_reads"] == 400_000_000
    report = check_text((await lab.call("GET", f"/v1/sequencing/runs/{run['id']}/samplesheet")).text)
    assert report.ok, report.problems
    assert report.sheet.data is not None
    assert not report.sheet.data.has("Lane")
    assert report.sheet.rows[0].index2 == reverse_complement(I5[0])


async def test_roles_and_tenants_are_kept_apart(lab: Lab) -> None:
    samples = await lab.libraries(2)
    job = await lab.job("mine", samples[:1])
    run = await lab.ok(
        "POST",
        "/v1/sequencing/runs",
        json={"name": "RUN-A", "platform": "novaseq_x", "flowcell_type": "10B", "job_ids": [job["id"]]},
    )
    scientist = await lab.call(
        "POST",
        "/v1/sequencing/jobs",
        Role.SCIENTIST,
        json={
            "name": "sci",
            "platform": "novaseq_x",
            "read_lengths": "2x151",
            "requested_reads": 10,
            "libraries": [{"sample_id": samples[1], "index": "ACGTACGT"}],
        },
    )
    assert scientist.status_code == 201
    assert (await lab.call("GET", "/v1/sequencing/queue", Role.AUDITOR)).status_code == 200
    refused = await lab.call("POST", f"/v1/sequencing/runs/{run['id']}/cancel", Role.AUDITOR, json={"reason": "no"})
    assert refused.status_code == 403
    assert (await lab.call("GET", "/v1/sequencing/jobs", Role.FACILITIES)).status_code == 403

    for url in (
        f"/v1/sequencing/jobs/{job['id']}",
        f"/v1/sequencing/runs/{run['id']}",
        f"/v1/sequencing/runs/{run['id']}/samplesheet",
    ):
        assert (await lab.call("GET", url, Role.ADMIN, tenant="b")).status_code == 404
    other = await lab.call(
        "POST",
        "/v1/sequencing/runs",
        Role.ADMIN,
        tenant="b",
        json={"name": "RUN-B", "platform": "novaseq_x", "flowcell_type": "10B", "job_ids": [job["id"]]},
    )
    assert other.status_code == 404
    assert (await lab.ok("GET", "/v1/sequencing/queue", Role.ADMIN, tenant="b"))["jobs"] == []
    assert await lab.ok("GET", "/v1/sequencing/runs", Role.ADMIN, tenant="b") == []


async def test_the_tables_refuse_a_second_library_of_a_sample_in_a_job_lane_zero_and_a_repeated_run_name(
    lab: Lab,
) -> None:
    samples = await lab.libraries(2)
    job = await lab.job("one", samples[:1])
    waiting = await lab.job("two", samples[1:])
    run = await lab.ok(
        "POST",
        "/v1/sequencing/runs",
        json={"name": "RUN-C", "platform": "novaseq_x", "flowcell_type": "10B", "job_ids": [job["id"]]},
    )
    library_id = waiting["libraries"][0]["id"]
    now = utcnow()
    rows: list[tuple[Any, dict[str, Any]]] = [
        (
            SequencingLibrary,
            {
                "id": new_id(),
                "tenant_id": lab.a.id,
                "job_id": job["id"],
                "sample_id": samples[0],
                "position": 2,
                "i7": "ACGTACGT",
                "i5": "",
                "requested_reads": 1,
            },
        ),
        (
            SequencingRunLibrary,
            {
                "run_id": run["id"],
                "library_id": library_id,
                "tenant_id": lab.a.id,
                "job_id": waiting["id"],
                "lane": 0,
                "sheet_sample_id": "X",
            },
        ),
        (
            SequencingRun,
            {
                "id": new_id(),
                "tenant_id": lab.a.id,
                "name": "RUN-C",
                "origin": "planned",
                "state": "planned",
                "pooled": False,
                "mismatches1": 1,
                "mismatches2": 1,
                "cycles_done": 0,
                "reads_completed": {},
                "stalled": False,
                "instrument_metadata": {},
                "version": 1,
                "created_by": "t",
                "created_at": now,
                "updated_at": now,
            },
        ),
        (
            SequencingJob,
            {
                "id": new_id(),
                "tenant_id": lab.a.id,
                "name": "zero",
                "platform": "miseq",
                "priority": "normal",
                "state": "queued",
                "requested_reads": 0,
                "read2_cycles": 0,
                "requeue_on_failure": False,
                "queued_at": now,
                "version": 1,
                "created_by": "t",
                "created_at": now,
                "updated_at": now,
            },
        ),
    ]
    for model, values in rows:
        with pytest.raises(IntegrityError):
            async with lab.hub.state.db.transaction() as session:
                await session.execute(insert(model).values(**values))
