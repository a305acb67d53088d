"""From a sequencer writing a run folder to a completed job, with every part a process: the hub on PostgreSQL, an
edge agent whose run-folder driver watches the instrument's output directory, and the sequencer simulator replaying
the real NovaSeq X run (318 cycles in a few seconds).

A lab plans a run for a queued job with the flow cell it will load; the instrument runs; the edge reports the run
started, its progress and its completion; the hub matches the run by its flow cell and moves the run, the job and
its samples along. What a user sees is checked over the API, what the hub stored with SQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import start_agent, stop_agent, tracseq
from tests.e2e.hub_harness import JWT_SECRET, Database, Hub, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SEQUENCER = ROOT / "firmware-sim" / "sequencer" / "sim.py"
DATA = ROOT.parent / "shared" / "data" / "illumina"
if not DATA.is_dir():
    DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
RUN = "20230418_LH00130_0003_B223YTFLT3"  # NovaSeq X, flow cell 223YTFLT3, 8 lanes, 151+8+8+151 cycles
SPEED = "25000"  # 300 simulated seconds a cycle: the run's 318 cycles and its ending in about 4 s
I7 = ("CCGCGGTT", "TTATAACC", "GGACTTGG")
I5 = ("AGCGCTAG", "GATATCGA", "CGCAGACG")


@pytest.fixture(scope="module")
def hub(require_service: Callable[[str], tuple[str, int]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    host, port = require_service("postgresql")
    db = Database.create(host, port)
    server = Hub(db, tmp_path_factory.mktemp("hub"))
    try:
        server.migrate()
        server.seed({"genomics-core": "ana"})
        server.start()
        yield server
    finally:
        server.stop()
        db.drop()


def library_samples(hub: Hub, count: int) -> list[str]:
    """Library samples in preparation, registered through the same domain calls the API makes."""
    from hub.api.app import build_state
    from hub.domain.identity import Principal
    from hub.domain.lifecycle import SampleState
    from hub.domain.permissions import Role
    from hub.domain.samples import NewSample
    from hub.settings import HubSettings

    settings = HubSettings(
        environment="test",
        jwt_secret=JWT_SECRET,
        database_url=hub.db.url,
        audit_key_file=hub.folder / "audit.key",
        witness_key_file=hub.folder / "witness.key",
    )
    row = hub.db.fetch("SELECT id, tenant_id FROM users WHERE username = 'ana'")[0]
    ana = Principal("user", row["id"], row["tenant_id"], "ana", Role.ADMIN)

    async def run() -> list[str]:
        state = build_state(settings)
        try:
            async with state.db.transaction() as session:
                kind = await state.samples.create_sample_type(session, ana, name="Library", zone="-20")
                specs = [NewSample(f"library {n}", kind.id, barcode=f"LIB-{n:03d}") for n in range(1, count + 1)]
                samples = await state.samples.register_many(session, ana, specs)
                ids = [s.id for s in samples]
                for target in (SampleState.RECEIVED, SampleState.STORED):
                    await state.samples.transition_many(session, ana, ids, target, reason="library prep done")
                return ids
        finally:
            await state.db.dispose()

    return asyncio.run(run())


def edge_config(folder: Path, watch: Path) -> Path:
    config = folder / "edge.toml"
    config.write_text(
        f"""
[edge]
id = "novaseq-pc"
data_dir = "data"
checkpoint_interval_s = 0.5
flush_interval_s = 0.1
status_interval_s = 0.2

[[devices]]
id = "novaseq-x-1"
driver = "runfolder"
poll_interval_s = 0.2
watch_dir = "{watch}"
state_file = "{folder / "data" / "novaseq-x-1.runs.json"}"
settle_s = 0.05
progress_every_cycles = 40
completion_grace_s = 5
stall_after_s = 600
""",
        encoding="utf-8",
    )
    return config


def polled_once(data: Path) -> bool:
    """The watcher has looked at the empty output directory: a run that appears now is reported from its start."""
    try:
        status = json.loads((data / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(d.get("last_ok") for d in status.get("devices", []))


def start_sequencer(out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(SEQUENCER), "--source", str(DATA / RUN), "--out", str(out), "--speed", SPEED]
    proc = subprocess.Popen([*command, "--log-level", "WARNING"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    assert ready, "the sequencer printed no ready line"
    assert json.loads(proc.stdout.readline())["run"] == RUN
    return proc


def test_a_run_on_the_sequencer_completes_its_job_through_the_edge_and_the_hub(hub: Hub, tmp_path: Path) -> None:
    samples = library_samples(hub, 3)
    token = hub.login("genomics-core", "ana")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=hub.url, headers=headers, timeout=30) as api:
        job = api.post(
            "/v1/sequencing/jobs",
            json={
                "name": "WGS batch 7",
                "platform": "novaseq_x",
                "priority": "high",
                "read_lengths": "2x151",
                "requested_reads": 900_000_000,
                "libraries": [{"sample_id": s, "index": I7[n], "index2": I5[n]} for n, s in enumerate(samples)],
            },
        )
        assert job.status_code == 201, job.text
        job_id = job.json()["id"]
        run = api.post(
            "/v1/sequencing/runs",
            json={
                "name": "NVX-2023-0418",
                "platform": "novaseq_x",
                "flowcell_type": "10B",
                "lanes": 1,
                "job_ids": [job_id],
                "flow_cell": "223YTFLT3",
            },
        )
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]
        sheet = api.get(f"/v1/sequencing/runs/{run_id}/samplesheet")
        assert sheet.status_code == 200
        assert "FileFormatVersion,2" in sheet.text

        watch = tmp_path / "runs"
        watch.mkdir()
        config = edge_config(tmp_path, watch)
        enrolled = tracseq("edge", "enroll", "-c", config, "--hub", hub.url, "--token", hub.enrollment_token(token))
        assert enrolled.returncode == 0, enrolled.stderr
        agent = start_agent(config)
        sequencer: subprocess.Popen[bytes] | None = None
        try:
            wait_until(lambda: polled_once(tmp_path / "data"), 30, "the run-folder watcher's first look")
            sequencer = start_sequencer(watch)

            def completed() -> bool:
                return bool(api.get(f"/v1/sequencing/jobs/{job_id}").json()["state"] == "completed")

            wait_until(completed, 40, "the job to complete")
            assert sequencer.wait(timeout=30) == 0
        finally:
            if sequencer is not None:
                if sequencer.poll() is None:
                    sequencer.send_signal(signal.SIGTERM)
                    sequencer.wait(10)
                if sequencer.stdout is not None:
                    sequencer.stdout.close()
            err = stop_agent(agent)
        assert agent.returncode == 0, err
        assert "Traceback" not in err

        done: dict[str, Any] = api.get(f"/v1/sequencing/runs/{run_id}").json()
        assert done["state"] == "completed"
        assert done["instrument_run_id"] == RUN
        assert done["instrument"] == "LH00130"
        assert done["instrument_platform"] == "NovaSeq X Plus"
        assert (done["cycles_done"], done["cycles_total"], done["percent"]) == (318, 318, 100)
        assert done["reads_completed"] == [1, 2, 3, 4]
        assert done["metadata"]["reads"] == "151,8,8,151"
        # the instrument's own times (RunCompletionStatus.xml's start and end), not when the hub heard of them
        assert done["started_at"] == "2023-04-18T19:26:54.860751Z"
        assert done["ended_at"] == "2023-04-19T18:43:18.710500Z"
        assert {lib["sample_id"] for lane in done["lanes"] for lib in lane["libraries"]} == set(samples)

        states = hub.db.fetch("SELECT state FROM samples WHERE id = ANY($1::varchar[])", samples)
        assert [r["state"] for r in states] == ["completed"] * 3
        events = [e["type"] for e in hub.events(token) if e["type"].startswith("sequencing.")]
        assert [e for e in events if e.startswith("sequencing.run_")] == [
            "sequencing.run_planned",
            "sequencing.run_matched",
            "sequencing.run_running",
            "sequencing.run_completed",
        ]
        assert [e for e in events if e.startswith("sequencing.job_")] == [
            "sequencing.job_queued",
            "sequencing.job_planned",
            "sequencing.job_sequencing",
            "sequencing.job_completed",
        ]
        actors = hub.db.fetch("SELECT DISTINCT actor FROM audit_entries WHERE record_id = $1", run_id)
        assert {r["actor"] for r in actors} == {"user:ana", "device:novaseq-pc"}
