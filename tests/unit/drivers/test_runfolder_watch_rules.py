"""The watcher's rules on a run folder built step by step in tmp_path, with a clock the test moves."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from drivers import Driver, DriverUnavailableError
from drivers.runfolder import RunFolderDeviceSettings, RunFolderWatcher, create_driver
from drivers.runfolder.cli import register
from protocol.models import Event

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "illumina"
if not DATA.is_dir():
    DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
NOVASEQ_X = DATA / "20230418_LH00130_0003_B223YTFLT3"
RUN = "20230418_LH00130_0003_B223YTFLT3"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def watcher(watch: Path, clock: Clock, **settings: object) -> RunFolderWatcher:
    options: dict[str, object] = {"settle_s": 0, "stall_after_s": 600, "completion_grace_s": 300} | settings
    driver = RunFolderWatcher("sequencer-1", RunFolderDeviceSettings(watch_dir=watch, **options), clock=clock)
    asyncio.run(driver.open())
    return driver


def start_run(watch: Path, name: str = RUN) -> Path:
    run = watch / name
    run.mkdir()
    shutil.copyfile(NOVASEQ_X / "RunInfo.xml", run / "RunInfo.xml")
    shutil.copyfile(NOVASEQ_X / "RunParameters.xml", run / "RunParameters.xml")
    return run


def cycles(run: Path, first: int, last: int) -> None:
    for n in range(first, last + 1):
        (run / "InterOp" / f"C{n}.1").mkdir(parents=True)


def kinds(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def test_the_watcher_is_a_driver_and_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    driver = create_driver("seq", RunFolderDeviceSettings(watch_dir=tmp_path / "absent"))
    assert isinstance(driver, Driver)
    with pytest.raises(DriverUnavailableError):
        asyncio.run(driver.poll())
    with pytest.raises(DriverUnavailableError, match="cannot list"):
        asyncio.run(driver.open())
    assert driver.status().state == "unavailable"
    asyncio.run(driver.close())
    asyncio.run(driver.close())


def test_a_watch_directory_that_vanishes_makes_polls_fail(tmp_path: Path) -> None:
    watch = tmp_path / "runs"
    watch.mkdir()
    driver = watcher(watch, Clock())
    assert asyncio.run(driver.poll()) == []
    watch.rmdir()
    with pytest.raises(DriverUnavailableError):
        asyncio.run(driver.poll())
    assert (driver.status().state, driver.status().errors) == ("unavailable", 1)


def test_a_run_reports_each_milestone_once_in_order(tmp_path: Path) -> None:
    clock = Clock()
    driver = watcher(tmp_path, clock)
    assert driver.scan() == []
    run = start_run(tmp_path)
    started = driver.scan()
    assert kinds(started) == ["run_started"]
    attrs = started[0].attrs
    assert (attrs["reads"], attrs["read_lengths"], attrs["index_lengths"]) == ("151,8,8,151", "151,151", "8,8")
    assert (attrs["lanes"], attrs["flow_cell"], attrs["instrument"], attrs["platform"]) == (
        8,
        "223YTFLT3",
        "LH00130",
        "NovaSeq X Plus",
    )
    assert (attrs["start_time"], attrs["start_time_zone"]) == ("2023-04-18T23:55:11Z", "utc")
    assert started[0].channel == RUN
    cycles(run, 1, 9)
    assert driver.scan() == []  # fewer than progress_every_cycles
    cycles(run, 10, 160)
    found = driver.scan()
    assert kinds(found) == ["run_progress", "read_completed", "read_completed"]
    assert (found[0].attrs["cycles_done"], found[0].attrs["percent"]) == (160, 50)
    assert [e.attrs["read"] for e in found[1:]] == [1, 2]
    cycles(run, 161, 318)
    found = driver.scan()
    assert kinds(found) == ["run_progress", "read_completed", "read_completed"]
    shutil.copyfile(NOVASEQ_X / "RunCompletionStatus.xml", run / "RunCompletionStatus.xml")
    found = driver.scan()
    assert kinds(found) == ["run_completed"]
    done = found[0].attrs
    assert (done["end_time"], done["end_time_zone"], done["duration_s"]) == (
        "2023-04-19T18:43:18.7105002Z",
        "utc",
        83783,
    )
    assert done["start_time"] == "2023-04-18T19:26:54.8607517Z"
    (run / "CopyComplete.txt").write_bytes(b"")
    clock.advance(7200)
    assert driver.scan() == []  # a finished run is not looked at again, and never stalls


def test_attribute_values_are_never_floats(tmp_path: Path) -> None:
    driver = watcher(tmp_path, Clock())
    driver.scan()
    run = start_run(tmp_path)
    cycles(run, 1, 318)
    shutil.copyfile(NOVASEQ_X / "RunCompletionStatus.xml", run / "RunCompletionStatus.xml")
    found = driver.scan()
    assert kinds(found)[0] == "run_started"
    assert kinds(found)[-1] == "run_completed"
    for event in found:
        assert all(value is None or isinstance(value, str | int) for value in event.attrs.values())
        json.dumps(event.payload())


def test_files_are_parsed_only_once_they_have_settled(tmp_path: Path) -> None:
    clock = Clock()
    driver = watcher(tmp_path, clock, settle_s=5)
    driver.scan()
    run = tmp_path / RUN
    run.mkdir()
    whole = (NOVASEQ_X / "RunInfo.xml").read_bytes()
    (run / "RunInfo.xml").write_bytes(whole[:5000])
    assert driver.scan() == []
    clock.advance(4)
    assert driver.scan() == []
    clock.advance(2)
    bad = driver.scan()  # unchanged for 6 s: it is what the instrument wrote, and it is broken
    assert kinds(bad) == ["bad_frame"]
    assert bad[0].attrs["file"] == "RunInfo.xml"
    assert "not well-formed" in str(bad[0].attrs["reason"])
    assert driver.scan() == []  # reported once
    (run / "RunInfo.xml").write_bytes(whole)
    clock.advance(1)
    assert driver.scan() == []
    clock.advance(5)
    assert kinds(driver.scan()) == ["run_started"]


def test_poll_counts_bad_files_and_keeps_watching(tmp_path: Path) -> None:
    driver = watcher(tmp_path, Clock())
    asyncio.run(driver.poll())
    run = start_run(tmp_path)
    (run / "RunParameters.xml").write_bytes(b'<!DOCTYPE x [<!ENTITY a "b">]><RunParameters>&a;</RunParameters>')
    found = asyncio.run(driver.poll())
    assert kinds(found) == ["bad_frame", "run_started"]
    assert "DTD" in str(found[0].attrs["reason"])
    assert driver.status().bad_frames == 1
    cycles(run, 1, 20)
    assert kinds(asyncio.run(driver.poll())) == ["run_progress"]


def test_a_quiet_run_is_stalled_once_and_resumes(tmp_path: Path) -> None:
    clock = Clock()
    driver = watcher(tmp_path, clock, stall_after_s=600)
    driver.scan()
    run = start_run(tmp_path)
    cycles(run, 1, 30)
    assert kinds(driver.scan()) == ["run_started", "run_progress"]
    clock.advance(599)
    assert driver.scan() == []
    clock.advance(2)
    stalled = driver.scan()
    assert kinds(stalled) == ["run_stalled"]
    assert (stalled[0].severity, stalled[0].attrs["idle_s"], stalled[0].attrs["cycles_done"]) == ("warning", 601, 30)
    clock.advance(3600)
    assert driver.scan() == []
    cycles(run, 31, 45)
    assert kinds(driver.scan()) == ["run_progress", "run_resumed"]


def test_all_cycles_without_a_completion_file_complete_after_the_grace(tmp_path: Path) -> None:
    clock = Clock()
    driver = watcher(tmp_path, clock, completion_grace_s=300, stall_after_s=3600)
    driver.scan()
    run = start_run(tmp_path)
    cycles(run, 1, 318)
    assert kinds(driver.scan())[-1] == "read_completed"
    clock.advance(299)
    assert driver.scan() == []
    clock.advance(1)
    done = driver.scan()
    assert kinds(done) == ["run_completed"]
    assert "no completion file" in str(done[0].attrs["completed_by"])


def test_run_errored_is_a_failure_alarm(tmp_path: Path) -> None:
    driver = watcher(tmp_path, Clock())
    driver.scan()
    run = start_run(tmp_path)
    cycles(run, 1, 100)
    driver.scan()
    (run / "RunCompletionStatus.xml").write_bytes(
        b"<RunCompletionStatus><RunEndTime>2023-04-19T01:00:00-04:00</RunEndTime><CompletedReads>"
        b"<Read ReadName='Read1' Cycles='100'/></CompletedReads><RunStatus>RunErrored</RunStatus></RunCompletionStatus>"
    )
    failed = driver.scan()
    assert kinds(failed) == ["run_failed"]
    assert (failed[0].severity, failed[0].attrs["reason"]) == ("alarm", "RunCompletionStatus.xml: RunErrored")
    assert failed[0].attrs["end_time"] == "2023-04-19T05:00:00Z"


def test_with_a_state_file_a_restart_neither_repeats_nor_loses_milestones(tmp_path: Path) -> None:
    watch, state = tmp_path / "runs", tmp_path / "edge" / "runfolder-state.json"
    watch.mkdir()
    first = watcher(watch, Clock(), state_file=state)
    first.scan()
    run = start_run(watch)
    cycles(run, 1, 100)
    assert kinds(first.scan()) == ["run_started", "run_progress"]
    asyncio.run(first.close())
    cycles(run, 101, 318)  # the run finishes while nobody watches
    shutil.copyfile(NOVASEQ_X / "RunCompletionStatus.xml", run / "RunCompletionStatus.xml")
    second = watcher(watch, Clock(), state_file=state)
    found = second.scan()
    assert kinds(found) == ["run_progress", *["read_completed"] * 4, "run_completed"]
    third = watcher(watch, Clock(), state_file=state)
    assert third.scan() == []


def test_without_a_state_file_runs_found_at_start_are_seen_not_replayed(tmp_path: Path) -> None:
    run = start_run(tmp_path)
    cycles(run, 1, 318)
    shutil.copyfile(NOVASEQ_X / "RunCompletionStatus.xml", run / "RunCompletionStatus.xml")
    found = watcher(tmp_path, Clock()).scan()
    assert kinds(found) == ["run_seen"]
    assert (found[0].attrs["state"], found[0].attrs["cycles_done"]) == ("completed", 318)


def test_only_the_newest_runs_are_watched(tmp_path: Path) -> None:
    driver = watcher(tmp_path, Clock(), max_runs=2)
    driver.scan()
    for name in ("230101_LH00130_0001_A", "20230301_LH00130_0003_C", "20230201_LH00130_0002_B"):
        start_run(tmp_path, name)
    found = driver.scan()
    assert sorted(event.attrs["folder"] for event in found) == ["20230201_LH00130_0002_B", "20230301_LH00130_0003_C"]


def test_inspect_prints_the_run_and_exits_by_what_it_found(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    run = start_run(tmp_path)
    cycles(run, 1, 40)
    text = runner.invoke(app, ["runfolder", "inspect", str(run)])
    assert text.exit_code == 0, text.output
    assert "151, I8, I8, 151" in text.output
    assert "40 of 318" in text.output
    assert "state      running" in text.output
    data = json.loads(runner.invoke(app, ["runfolder", "inspect", str(run), "--json"]).output)
    assert (data["ok"], data["run"]["flow_cell"], data["run"]["state"]) == (True, "223YTFLT3", "running")
    not_a_run = runner.invoke(app, ["runfolder", "inspect", str(tmp_path)])
    assert not_a_run.exit_code == 2
    assert "no RunInfo.xml" in not_a_run.output
    (run / "RunParameters.xml").write_bytes(b"<RunParameters>")
    broken = runner.invoke(app, ["runfolder", "inspect", str(run)])
    assert broken.exit_code == 3
    assert "FAIL: RunParameters.xml: not well-formed XML" in broken.output
    (run / "RunInfo.xml").write_bytes(b"<RunInfo>")
    malformed = runner.invoke(app, ["runfolder", "inspect", str(run), "--json"])
    assert malformed.exit_code == 3
    assert json.loads(malformed.output)["ok"] is False
