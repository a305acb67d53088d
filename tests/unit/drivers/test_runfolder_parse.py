"""Run-folder parsing against three real run folders and the report an established run-scanning tool made of each.

Each folder under ``shared/data/illumina`` holds ``reference.json``: what miso-lims/runscanner reported for it.
Every key in it is either compared with what our parser extracts (``COMPARISONS``) or skipped with a reason
(``SKIPPED``): a key in neither fails the test, so nothing is left out silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import BadFrameError, DriverError
from drivers.runfolder import (
    MalformedRunFileError,
    NotARunFolderError,
    RunFolderError,
    RunFolderSnapshot,
    RunTime,
    UnsafeXmlError,
    parse_completion_status,
    parse_read_complete,
    parse_rta_complete,
    parse_run_info,
    parse_run_parameters,
    parse_time,
    read_extraction_progress,
    read_run_folder,
    scan_log,
)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "illumina"
if not DATA.is_dir():  # a checkout beside shared/, as CI lays it out
    DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
MISEQ = "130417_M00146_0021_000000000-A2WDF"
NEXTSEQ = "170609_NB551051_0017_AHLFFJBGX2"
NOVASEQ_X = "20230418_LH00130_0003_B223YTFLT3"
FOLDERS = [MISEQ, NEXTSEQ, NOVASEQ_X]

# The reference tool ran at OICR in Toronto and read zone-less times in its own zone; all three runs fall in
# summer time there (April to June), so its zone for these dates is a fixed -04:00.
SCANNER_ZONE = timezone(timedelta(hours=-4), "EDT")

SKIPPED = {
    "metrics": "QC plots computed by Illumina's InterOp C++ library (several InterOp files over 4 MiB are absent "
    "from these copies); QC summaries are not part of what the watcher reports",
    "sequencingKit": "the reference tool never sets it for Illumina runs (null in all three); no run-folder file "
    "holds it under that meaning",
    "analysis": "DRAGEN secondary analysis under Analysis/: it starts after the run, outside the run-folder life cycle",
    "analysisStatus": "DRAGEN secondary analysis status: see 'analysis'",
}
# (folder, key) -> (seconds of tolerance, why): the only place where our value may differ from the reference's.
TOLERANCE = {
    (NEXTSEQ, "completionDate"): (
        60,
        "the reference took the last extraction time from InterOp/ExtractionMetricsOut.bin, which is absent from "
        "this copy (>4 MiB); ours is RTAComplete.txt's stamp, 46 s later",
    ),
}


def copy_run(name: str, into: Path) -> Path:
    """A writable copy of a real run folder (the shared data is read-only)."""
    target = into / name
    shutil.copytree(DATA / name, target, copy_function=shutil.copyfile)
    for folder, _, _ in os.walk(target):
        Path(folder).chmod(0o755)
    return target


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunFolderSnapshot]:
    root = tmp_path_factory.mktemp("runs")
    return {name: read_run_folder(copy_run(name, root)) for name in FOLDERS}


def reference(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name / "reference.json").read_text())
    return data


# -- comparing times at the reference's precision -------------------------------------------------------------

_INSTANT = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z")


def instant(text: str) -> tuple[datetime, int, int]:
    """UTC text → (whole seconds, nanoseconds, fraction digits given)."""
    match = _INSTANT.fullmatch(text)
    assert match, text
    fraction = match.group(2) or ""
    whole = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    return whole, int(fraction.ljust(9, "0")[:9]), len(fraction)


def same_time(ours: RunTime | None, expected: str | None, tolerance_s: int) -> bool:
    if ours is None or expected is None:
        return ours is None and expected is None
    whole, nanos, digits = instant(expected)
    if ours.kind == "utc":
        our_whole, our_nanos, _ = instant(ours.text)
        unit = 10 ** (9 - digits)
        difference = (our_whole - whole).total_seconds() * 1e9 + (our_nanos // unit - nanos // unit) * unit
        return abs(difference) <= tolerance_s * 1e9
    local = whole.astimezone(SCANNER_ZONE).replace(tzinfo=None)
    if ours.kind == "date":  # the reference put a zone-less date at midnight
        return ours.text == local.date().isoformat() and local.time() == datetime.min.time()
    return abs((datetime.fromisoformat(ours.text) - local).total_seconds()) <= tolerance_s


# -- what each reference key means in our terms -------------------------------------------------------------------


def runscanner_chemistry(snap: RunFolderSnapshot) -> str:
    """The reference tool's chemistry rules (IlluminaChemistry), applied to the RunParameters fields we extract."""
    params = snap.parameters
    if params is None:
        return "UNKNOWN"
    cell = params.flow_cell_type or ""
    if params.reagent_kit_version == "Version2":
        return "V2"
    if params.reagent_kit_version == "Version3" or cell in ("HiSeq Flow Cell v3", "HiSeq Flow Cell"):
        return "V3"
    if cell == "HiSeq Flow Cell v4":
        return "V4"
    if cell.startswith("HiSeq Rapid Flow Cell"):
        return "RAPID_RUN"
    return {"NextSeq Mid": "NS_MID", "NextSeq High": "NS_HIGH"}.get(params.chemistry or "", "UNKNOWN")


HEALTH = {"COMPLETED": {"completed"}, "FAILED": {"failed"}, "RUNNING": {"running", "started"}, "STOPPED": {"stalled"}}
I5 = {"I5_REVERSE_COMPLEMENT": "reverse_complement", "NORMAL": "forward", None: None}

Check = Callable[[RunFolderSnapshot, Any], tuple[object, object]]
COMPARISONS: dict[str, Check] = {
    "platform": lambda s, v: (s.vendor, v),
    "runAlias": lambda s, v: (s.run_id, v),
    "sequencerName": lambda s, v: (s.run_info.instrument, v),
    "sequencerPosition": lambda s, v: (s.parameters.side if s.parameters else None, v),
    "containerSerialNumber": lambda s, v: (s.run_info.flow_cell, v),
    "containerModel": lambda s, v: (s.parameters.flow_cell_model if s.parameters else None, v),
    "laneCount": lambda s, v: (s.run_info.layout.lanes, v),
    "healthType": lambda s, v: (s.state in HEALTH[v], True),
    "pairedEndRun": lambda s, v: (len(s.run_info.read_lengths) > 1, v),
    "bclCount": lambda s, v: (s.run_info.layout.tiles_per_lane, v),
    "imgCycle": lambda s, v: (s.cycles_done, v),
    "callCycle": lambda s, v: (s.cycles_done, v),
    "scoreCycle": lambda s, v: (s.cycles_done, v),
    "numCycles": lambda s, v: (s.cycles_total, v),
    "chemistry": lambda s, v: (runscanner_chemistry(s), v),
    "indexLengths": lambda s, v: (list(s.run_info.index_lengths), v),
    "numReads": lambda s, v: (len(s.run_info.read_lengths), v),
    "readLength": lambda s, v: (max(s.run_info.read_lengths, default=0), v),
    "readLengths": lambda s, v: (list(s.run_info.read_lengths), v),
    "runBasesMask": lambda s, v: (s.run_info.bases_mask, v),
    "workflowType": lambda s, v: (s.parameters.workflow_type if s.parameters else None, v),
    "indexSequencing": lambda s, v: (s.run_info.i5_orientation, I5[v]),
    "consumables": lambda s, v: (
        sorted((c.type, c.lot_number) for c in s.consumables if c.lot_number),
        sorted((c["type"], c["lotNumber"]) for c in v),
    ),
}
TIMES = {"startDate": "start", "completionDate": "end"}


@pytest.mark.parametrize("name", FOLDERS)
def test_every_reference_field_the_watcher_can_know_matches(name: str, snapshots: dict[str, RunFolderSnapshot]) -> None:
    snap, mismatches = snapshots[name], []
    for key, expected in reference(name).items():
        if key in SKIPPED:
            continue
        if key in TIMES:
            tolerance = TOLERANCE.get((name, key), (0, ""))[0]
            ours = getattr(snap, TIMES[key])
            if not same_time(ours, expected, tolerance):
                mismatches.append(f"{key}: ours {ours}, reference {expected!r}")
            continue
        assert key in COMPARISONS, f"reference key {key!r} is neither compared nor skipped with a reason"
        actual, wanted = COMPARISONS[key](snap, expected)
        if actual != wanted:
            mismatches.append(f"{key}: ours {actual!r}, reference {wanted!r}")
    assert not mismatches, "\n".join(mismatches)


def test_every_skipped_key_has_a_reason_and_exists_in_some_reference() -> None:
    keys = set().union(*(reference(name) for name in FOLDERS))
    assert all(reason for reason in SKIPPED.values())
    assert set(SKIPPED) <= keys
    assert keys <= set(SKIPPED) | set(COMPARISONS) | set(TIMES)


def test_zone_less_times_stay_local_text_and_zoned_ones_become_utc(snapshots: dict[str, RunFolderSnapshot]) -> None:
    nextseq, novaseq = snapshots[NEXTSEQ], snapshots[NOVASEQ_X]
    assert nextseq.end == RunTime("2017-06-10T14:09:31", "local", "RTAComplete.txt")
    assert nextseq.start is not None
    assert nextseq.start.kind == "date"
    assert nextseq.start.utc is None
    assert novaseq.start is not None
    assert novaseq.start.text == "2023-04-18T19:26:54.8607517Z"
    assert novaseq.start.utc == datetime(2023, 4, 18, 19, 26, 54, 860751, tzinfo=UTC)


def test_both_spellings_of_run_parameters_are_read(snapshots: dict[str, RunFolderSnapshot]) -> None:
    assert snapshots[MISEQ].parameters is not None
    assert snapshots[MISEQ].parameters.file == "runParameters.xml"
    assert snapshots[NEXTSEQ].parameters is not None
    assert snapshots[NEXTSEQ].parameters.file == "RunParameters.xml"
    assert snapshots[MISEQ].rta_version == "1.17.28"
    assert snapshots[NEXTSEQ].parameters.experiment_name == "170609_HLFFJBGX2"


def test_cycle_progress_comes_from_what_each_folder_holds(snapshots: dict[str, RunFolderSnapshot]) -> None:
    assert snapshots[MISEQ].cycles_source == "InterOp/ExtractionMetricsOut.bin"
    assert snapshots[NEXTSEQ].cycles_source == "RunCompletionStatus.xml"
    assert snapshots[NOVASEQ_X].reads_completed == (1, 2, 3, 4)


def test_the_nextseq_logs_and_read_markers_are_read(tmp_path: Path) -> None:
    folder = copy_run(NEXTSEQ, tmp_path)
    (folder / "RunCompletionStatus.xml").unlink()
    (folder / "RTAComplete.txt").unlink()
    snap = read_run_folder(folder)
    assert (snap.state, snap.cycles_done, snap.cycles_source) == ("running", 158, "RTARead3Complete.txt")
    assert snap.reads_completed == (1, 2, 3)
    logs = (folder / "RTALogs" / "20170609-2057_GlobalLog_06.tsv").read_bytes()
    assert scan_log(logs, "GlobalLog").last_cycle == 158


# -- malformed files ----------------------------------------------------------------------------------------------

RUN_INFO = (DATA / NOVASEQ_X / "RunInfo.xml").read_bytes() if DATA.is_dir() else b""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (RUN_INFO[: len(RUN_INFO) // 2], "not well-formed XML"),
        (b"", "not well-formed XML"),
        (b"\x89PNG\r\n\x1a\n", "not well-formed XML"),
        (b"<RunInfo><Run Id='x'><Instrument>A1</Instrument></Run></RunInfo>", "<Flowcell> is missing"),
        (b"<RunInfo/>", "no <Run>"),
        (
            b"<RunInfo><Run Id='x'><Flowcell>F</Flowcell><Instrument>I</Instrument><Reads>"
            b"<Read Number='1' NumCycles='1e3' IsIndexedRead='N'/></Reads></Run></RunInfo>",
            "not a whole number",
        ),
        (
            b"<RunInfo><Run Id='x'><Flowcell>F</Flowcell><Instrument>I</Instrument><Reads>"
            b"<Read Number='1' NumCycles='10' IsIndexedRead='maybe'/></Reads>"
            b"<FlowcellLayout LaneCount='1'/></Run></RunInfo>",
            "expected Y or N",
        ),
    ],
)
def test_a_malformed_run_info_names_the_file_and_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedRunFileError) as caught:
        parse_run_info(data)
    assert caught.value.file == "RunInfo.xml"
    assert reason in caught.value.reason
    assert isinstance(caught.value, BadFrameError)
    assert caught.value.retryable


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<RunInfo>&lol2;</RunInfo>",
        b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><RunInfo>&e;</RunInfo>',
        b'<!DOCTYPE RunInfo SYSTEM "http://example.invalid/runinfo.dtd"><RunInfo/>',
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://example.invalid/x">%p;]><r/>',
    ],
)
def test_dtds_and_entities_are_refused_before_they_are_expanded(data: bytes) -> None:
    for parse in (parse_run_info, parse_run_parameters, parse_completion_status):
        with pytest.raises(UnsafeXmlError) as caught:
            parse(data)
        assert "DTD" in caught.value.reason
        assert not caught.value.retryable


def test_a_completion_status_without_a_status_is_malformed() -> None:
    with pytest.raises(MalformedRunFileError, match="neither <CompletionStatus> nor <RunStatus>"):
        parse_completion_status(b"<RunCompletionStatus><Version>1</Version></RunCompletionStatus>")


def test_a_run_errored_status_keeps_its_times_and_completed_cycles() -> None:
    status = parse_completion_status(
        b"<RunCompletionStatus><RunStartTime>2023-04-18T15:26:54.8607517-04:00</RunStartTime>"
        b"<RunEndTime>2023-04-18T20:00:00+02:00</RunEndTime><CompletedReads><Read ReadName='Read1' Cycles='151'/>"
        b"<Read ReadName='Index1' Cycles='3'/></CompletedReads><RunStatus>RunErrored</RunStatus></RunCompletionStatus>"
    )
    assert (status.status, status.succeeded, status.completed_cycles) == ("RunErrored", False, 154)
    assert status.end_time is not None
    assert status.end_time.text == "2023-04-18T18:00:00Z"


def test_a_folder_without_run_info_is_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(NotARunFolderError):
        read_run_folder(tmp_path)
    with pytest.raises(NotARunFolderError):
        read_run_folder(tmp_path / "missing")


def test_a_malformed_run_info_fails_the_folder_and_other_files_become_problems(tmp_path: Path) -> None:
    folder = copy_run(NEXTSEQ, tmp_path)
    (folder / "RunParameters.xml").write_bytes(b"<RunParameters><Setup>")
    snap = read_run_folder(folder)
    assert [(p.file, "not well-formed" in p.reason) for p in snap.problems] == [("RunParameters.xml", True)]
    assert snap.state == "completed"
    (folder / "RunInfo.xml").write_bytes(RUN_INFO[:100])
    with pytest.raises(MalformedRunFileError) as caught:
        read_run_folder(folder)
    assert caught.value.file == "RunInfo.xml"


def test_extraction_metrics_with_a_wrong_record_size_are_malformed(tmp_path: Path) -> None:
    path = tmp_path / "ExtractionMetricsOut.bin"
    path.write_bytes(bytes([2, 40]) + b"\x00" * 80)
    with pytest.raises(MalformedRunFileError, match="version 2 records are 38 bytes"):
        read_extraction_progress(path)
    path.write_bytes(bytes([9, 38]))
    assert read_extraction_progress(path) is None


def test_errors_are_driver_errors() -> None:
    assert issubclass(MalformedRunFileError, RunFolderError)
    assert issubclass(RunFolderError, DriverError)
    assert issubclass(NotARunFolderError, RunFolderError)


# -- times --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("130417", "2013-04-17", "date"),
        ("20230418", "2023-04-18", "date"),
        ("4/18/2023 11:55:11 PM", "2023-04-18T23:55:11", "local"),
        ("6/10/2017 12:09:31 AM", "2017-06-10T00:09:31", "local"),
        ("11/14/2013,14:02:13.123", "2013-11-14T14:02:13.123", "local"),
        ("2023-04-18T23:55:11Z", "2023-04-18T23:55:11Z", "utc"),
        ("2023-04-19T14:43:18.7105002-04:00", "2023-04-19T18:43:18.7105002Z", "utc"),
        ("2023-04-19T01:00:00+0530", "2023-04-18T19:30:00Z", "utc"),
        ("2023-04-19T01:00:00", "2023-04-19T01:00:00", "local"),
    ],
)
def test_instrument_time_formats(text: str, expected: str, kind: str) -> None:
    time = parse_time(text, "x")
    assert time is not None
    assert (time.text, time.kind) == (expected, kind)
    assert (time.utc is not None) == (kind == "utc")


@pytest.mark.parametrize("text", ["", "yesterday", "13/40/2020 1:00:00 PM", "2023-02-30T00:00:00Z", "991332"])
def test_impossible_times_are_none(text: str) -> None:
    assert parse_time(text, "x") is None


def test_markers_keep_their_wall_clock_text() -> None:
    rta = parse_rta_complete(b"RTA 2.4.11 completed on 6/10/2017 2:09:31 PM\r\n")
    assert (rta.rta_version, rta.time and rta.time.text) == ("2.4.11", "2017-06-10T14:09:31")
    old = parse_rta_complete(b"11/14/2013,14:02:13.123,Illumina RTA 1.17.21.3\r\n")
    assert (old.rta_version, old.time and old.time.kind) == ("1.17.21.3", "local")
    assert parse_rta_complete(b"").time is None
    read = parse_read_complete(b"Read 1 complete 6/10/2017 5:29:35 AM", 1)
    assert read.time is not None
    assert read.time.text == "2017-06-10T05:29:35"
    with pytest.raises(MalformedRunFileError):
        parse_rta_complete(b"\x00\x00\x00")


# -- fuzzing: random input gives a result or a RunFolderError, never another exception ----------------------------

PARSERS: list[Callable[[bytes], object]] = [
    parse_run_info,
    parse_run_parameters,
    parse_completion_status,
    parse_rta_complete,
    lambda data: parse_read_complete(data, 1),
]


def _survives(data: bytes) -> None:
    for parse in PARSERS:
        with contextlib.suppress(RunFolderError):
            parse(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_never_escape_as_other_exceptions(data: bytes) -> None:
    _survives(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4000), st.integers(0, 200), st.binary(max_size=40))
def test_damaged_real_files_never_escape_as_other_exceptions(at: int, cut: int, junk: bytes) -> None:
    for name in ("RunInfo.xml", "RunParameters.xml", "RunCompletionStatus.xml"):
        original = (DATA / NOVASEQ_X / name).read_bytes()[:6000]
        position = at % (len(original) + 1)
        _survives(original[:position] + junk + original[position + cut :])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_time_parsing_never_raises(text: str) -> None:
    parse_time(text, "x")
    scan_log(text.encode(), "log")
