"""The run-folder watcher against the sequencer simulator, a separate process replaying real run folders.

Each test starts ``firmware-sim/sequencer/sim.py`` at high speed into tmp_path and polls the watcher (real clock,
real files) until the run ends, then checks what a lab would see in the edge's log.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers.runfolder import RunFolderDeviceSettings, RunFolderWatcher
from protocol.models import Event

ROOT = Path(__file__).resolve().parents[3]
SIM = ROOT / "firmware-sim" / "sequencer" / "sim.py"
DATA = ROOT.parent / "shared" / "data" / "illumina"
if not DATA.is_dir():
    DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
RUNS = {
    "miseq": "130417_M00146_0021_000000000-A2WDF",
    "nextseq": "170609_NB551051_0017_AHLFFJBGX2",
    "novaseqx": "20230418_LH00130_0003_B223YTFLT3",
}
READS = {"miseq": [1, 2], "nextseq": [1, 2, 3], "novaseqx": [1, 2, 3, 4]}
SPEED = "100000"  # a 318-cycle run (300 simulated seconds a cycle) in about a second


@contextmanager
def simulator(run: str, out: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    command = [sys.executable, str(SIM), "--source", str(DATA / RUNS[run]), "--out", str(out), "--speed", SPEED]
    proc = subprocess.Popen([*command, "--log-level", "WARNING", *args], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "the simulator printed no ready line"
        yield proc, json.loads(proc.stdout.readline())
    finally:
        if proc.poll() is None:
            proc.terminate()
        code = proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        assert code == 0


def settings(watch: Path, **changes: Any) -> RunFolderDeviceSettings:
    options: dict[str, Any] = {"settle_s": 0.02, "progress_every_cycles": 5, "completion_grace_s": 60} | changes
    return RunFolderDeviceSettings(watch_dir=watch, **options)


def watch(
    driver: RunFolderWatcher, until: Callable[[list[Event]], bool], timeout: float = 10.0, *, close: bool = True
) -> list[Event]:
    """Poll every 10 ms until ``until(events so far)`` or the timeout; every event polled, in order."""

    async def run() -> list[Event]:
        await driver.open()
        found: list[Event] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(found):
            found.extend(await driver.poll())
            await asyncio.sleep(0.01)
        found.extend(await driver.poll())
        if close:
            await driver.close()
        return found

    return asyncio.run(run())


def kinds(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def ended(events: list[Event]) -> bool:
    return any(event.type in ("run_completed", "run_failed") for event in events)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_a_replayed_run_reports_started_progress_reads_and_completed_once_each(run: str, tmp_path: Path) -> None:
    driver = RunFolderWatcher("sequencer-1", settings(tmp_path))
    asyncio.run(driver.open())
    assert asyncio.run(driver.poll()) == []  # watching begins before the run does
    with simulator(run, tmp_path) as (proc, ready):
        found = watch(driver, ended, close=False)
        proc.wait(timeout=10)
    assert ready["family"] == run
    names = kinds(found)
    assert names[0] == "run_started", names
    assert names[-1] == "run_completed", names
    assert names.count("run_started") == names.count("run_completed") == 1
    assert not {"bad_frame", "run_failed", "run_stalled", "run_seen"} & set(names)
    progress = [event.attrs["cycles_done"] for event in found if event.type == "run_progress"]
    assert len(progress) >= 3
    assert progress == sorted(set(progress))
    assert progress[-1] == ready["cycles"]
    assert [event.attrs["read"] for event in found if event.type == "read_completed"] == READS[run]
    done = found[-1].attrs
    assert done["run_id"] == RUNS[run]
    assert done["cycles_total"] == ready["cycles"]
    assert done["end_time"]
    assert asyncio.run(driver.poll()) == []


@pytest.mark.parametrize("run", sorted(RUNS))
def test_a_failed_run_reports_run_failed(run: str, tmp_path: Path) -> None:
    driver = RunFolderWatcher("sequencer-1", settings(tmp_path))
    with simulator(run, tmp_path, "--scenario", "fail", "--fail-at", "0.4") as (proc, ready):
        found = watch(driver, ended)
        proc.wait(timeout=10)
    names = kinds(found)
    assert names[-1] == "run_failed", names
    assert "run_completed" not in names
    failed = found[-1]
    assert failed.severity == "alarm"
    assert failed.attrs["cycles_done"] == ready["last_cycle"] or run == "miseq"  # MiSeq: extraction lags by a tile
    reason = str(failed.attrs["reason"])
    by_log, by_status = "exited before completion" in reason, reason.startswith("RunCompletionStatus.xml")
    # MiSeq says it in its RTA log, NovaSeq X in RunCompletionStatus.xml, a NextSeq in both (whichever is seen first)
    assert {"miseq": by_log, "novaseqx": by_status, "nextseq": by_log or by_status}[run], reason


def test_a_run_that_stops_writing_is_reported_stalled(tmp_path: Path) -> None:
    driver = RunFolderWatcher("sequencer-1", settings(tmp_path, stall_after_s=0.5))
    with simulator("novaseqx", tmp_path, "--scenario", "stall") as (_, ready):
        found = watch(driver, lambda events: "run_stalled" in kinds(events))
    names = kinds(found)
    assert names.count("run_stalled") == 1, names
    assert not ended(found)
    stalled = found[names.index("run_stalled")]
    assert stalled.severity == "warning"
    assert stalled.attrs["cycles_done"] == ready["last_cycle"]


def test_a_restart_with_state_reports_a_completion_it_missed_exactly_once(tmp_path: Path) -> None:
    watch_dir, state = tmp_path / "runs", tmp_path / "edge" / "runfolder.json"
    watch_dir.mkdir()
    first = RunFolderWatcher("sequencer-1", settings(watch_dir, state_file=state))
    asyncio.run(first.open())
    asyncio.run(first.poll())
    with simulator("nextseq", watch_dir, "--cycle-seconds", "1200") as (proc, _):
        before = watch(first, lambda events: "read_completed" in kinds(events))  # read 1 done, then it stops
        assert proc.wait(timeout=20) == 0  # the run finishes while no watcher runs
    assert not ended(before)
    second = RunFolderWatcher("sequencer-1", settings(watch_dir, state_file=state))
    after = watch(second, ended, timeout=2)
    names = kinds(before) + kinds(after)
    assert names.count("run_started") == 1, names
    assert names.count("run_completed") == 1, names
    assert [e.attrs["read"] for e in before + after if e.type == "read_completed"] == [1, 2, 3]
    assert "run_seen" not in names
    third = RunFolderWatcher("sequencer-1", settings(watch_dir, state_file=state))
    assert watch(third, lambda events: False, timeout=0.1) == []


def test_a_restart_after_completion_does_not_repeat_the_terminal_event(tmp_path: Path) -> None:
    watch_dir, state = tmp_path / "runs", tmp_path / "runfolder.json"
    watch_dir.mkdir()
    first = RunFolderWatcher("sequencer-1", settings(watch_dir, state_file=state))
    asyncio.run(first.open())
    asyncio.run(first.poll())
    with simulator("miseq", watch_dir) as (proc, _):
        found = watch(first, ended)
        proc.wait(timeout=10)
    assert kinds(found).count("run_completed") == 1
    again = RunFolderWatcher("sequencer-1", settings(watch_dir, state_file=state))
    assert watch(again, lambda events: False, timeout=0.1) == []
    # Without a state file a watcher cannot know what was reported: it says once what it finds.
    stateless = RunFolderWatcher("sequencer-1", settings(watch_dir))
    seen = watch(stateless, lambda events: False, timeout=0.1)
    assert kinds(seen) == ["run_seen"]
    assert seen[0].attrs["state"] == "completed"
