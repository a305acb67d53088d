"""Run-folder events read defensively (missing keys kept unknown, wrong types dropped, other events ignored), QC
summaries in the shapes an edge may send, matching a run to its plan, and the lifecycle paths a run's samples take."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.lifecycle import SampleState
from hub.domain.sequencing_moves import forward_path
from hub.domain.sequencing_reports import (
    PlannedRun,
    RunReport,
    folder_flow_cell,
    match_planned,
    parse_report,
    parse_reports,
    read_qc,
)

TS = datetime(2026, 4, 18, 19, 26, tzinfo=UTC)
FOLDER = "20230418_LH00130_0003_B223YTFLT3"


def event(kind: str, seq: int = 1, **attrs: Any) -> dict[str, Any]:
    base = {"run_id": FOLDER, "folder": FOLDER, "state": "running"}
    return {
        "device_id": "d1",
        "seq": seq,
        "tenant_id": "t1",
        "kind": "event",
        "type": kind,
        "severity": "info",
        "payload": {"type": kind, "severity": "info", "message": "m", "channel": FOLDER, "attrs": base | attrs},
        "ts": TS,
    }


def test_run_started_keeps_its_metadata_and_flow_cell() -> None:
    report = parse_report(
        event(
            "run_started",
            instrument="LH00130",
            platform="NovaSeq X Plus",
            flow_cell="223YTFLT3",
            lanes=8,
            reads="151,8,8,151",
            cycles_total=318,
            experiment="20230418_OICR-run",
        )
    )
    assert report is not None
    assert (report.run_id, report.instrument, report.flow_cell, report.lanes) == (FOLDER, "LH00130", "223YTFLT3", 8)
    assert report.cycles_total == 318
    assert report.metadata["reads"] == "151,8,8,151"
    assert report.at == TS
    assert report.flow_cell_keys() == {"223YTFLT3", "B223YTFLT3"}


def test_events_that_are_not_about_a_run_or_name_no_run_are_ignored() -> None:
    assert parse_report({**event("run_started"), "kind": "observation"}) is None
    assert parse_report(event("door_open")) is None
    assert parse_report({**event("run_started"), "payload": "not a dict"}) is None
    nameless = event("run_progress")
    nameless["payload"] = {"type": "run_progress", "attrs": {"cycles_done": 3}}
    assert parse_report(nameless) is None
    assert parse_report({**event("run_started"), "seq": "7"}) is None


def test_missing_and_wrongly_typed_values_are_recorded_as_unknown() -> None:
    odd = event("run_progress", cycles_done="twelve", cycles_total=True, lanes=-1, instrument=["x"])
    odd["payload"]["attrs"]["folder"] = None
    report = parse_report(odd)
    assert report is not None
    assert (report.cycles_done, report.cycles_total, report.lanes, report.instrument) == (None, None, None, None)
    bare = event("run_completed")
    bare["payload"] = {"type": "run_completed", "channel": FOLDER}
    bare["ts"] = "yesterday"
    report = parse_report(bare)
    assert report is not None
    assert report.run_id == FOLDER
    assert report.qc is None
    assert report.at is None


def test_reports_come_back_in_log_order() -> None:
    found = parse_reports([event("run_progress", 5), event("run_started", 2), event("door_open", 3)])
    assert [(r.type, r.seq) for r in found] == [("run_started", 2), ("run_progress", 5)]


def test_qc_is_read_from_flat_attrs_and_from_a_nested_object_as_decimal_text() -> None:
    flat = read_qc(
        {"qc_yield_gb": "812.4", "qc_percent_q30": 93, "lane1_percent_pf": "80.1", "lane_2_cluster_density": "2400"},
        {},
    )
    assert flat == {
        "summary": {"yield_gb": "812.4", "percent_q30": "93"},
        "lanes": {"1": {"percent_pf": "80.1"}, "2": {"cluster_density": "2400"}},
    }
    nested = read_qc(
        {},
        {"qc": {"pct_q30": 91.5, "lanes": [{"lane": 1, "yield": "100.5", "bogus": "x"}, {"lane": "x"}]}},
    )
    assert nested == {"summary": {"percent_q30": "91.5"}, "lanes": {"1": {"yield_gb": "100.5"}}}
    assert read_qc({"qc_percent_q30": "NaN", "lane0_yield": "1", "qc_unknown": "1"}, {}) is None


@given(st.dictionaries(st.text(max_size=20), st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))))
def test_any_attrs_are_read_without_an_error(attrs: dict[str, Any]) -> None:
    raw = event("run_completed")
    raw["payload"]["attrs"] = {"run_id": FOLDER, **attrs}
    report = parse_report(raw)
    assert report is None or isinstance(report, RunReport)


def test_folder_names_give_their_flow_cell() -> None:
    assert folder_flow_cell(FOLDER) == "B223YTFLT3"
    assert folder_flow_cell("130417_M00146_0021_000000000-A2WDF") == "000000000-A2WDF"
    assert folder_flow_cell("not a run folder") is None


def report(**changes: Any) -> RunReport:
    values: dict[str, Any] = {"type": "run_started", "seq": 1, "at": TS, "run_id": FOLDER, "folder": FOLDER}
    return RunReport(**(values | changes))


def test_a_run_matches_its_plan_by_flow_cell_in_any_spelling() -> None:
    plans = [PlannedRun("p1", "Other", "HLFFJBGX2"), PlannedRun("p2", "Mine", "b223ytflt3")]
    assert match_planned(report(flow_cell="223YTFLT3"), plans) == "p2"
    assert match_planned(report(), [PlannedRun("p3", "Mine", "223YTFLT3")]) == "p3"
    miseq = report(run_id="130417_M00146_0021_000000000-A2WDF", folder=None, flow_cell="000000000-A2WDF")
    assert match_planned(miseq, [PlannedRun("p4", "MiSeq run", "A2WDF")]) == "p4"


def test_a_run_matches_by_run_name_unless_the_plan_names_another_flow_cell() -> None:
    named = report(flow_cell="223YTFLT3", experiment="Run-42")
    assert match_planned(named, [PlannedRun("p1", "Run-42", None)]) == "p1"
    assert match_planned(named, [PlannedRun("p1", "Run-42", "HLFFJBGX2")]) is None
    assert match_planned(report(run_id="Run-42", folder=None), [PlannedRun("p1", "run-42", None)]) == "p1"


def test_a_run_matches_by_most_of_its_sample_ids_and_an_ambiguous_match_is_none() -> None:
    ids = ("S-1", "S-2", "S-3", "S-4")
    plans = [
        PlannedRun("p1", "A", None, frozenset({"S-1", "S-2", "S-3"})),
        PlannedRun("p2", "B", None, frozenset({"S-4"})),
    ]
    assert match_planned(report(run_id="x", folder=None, sample_ids=ids), plans) == "p1"
    assert match_planned(report(run_id="x", folder=None, sample_ids=("S-9",)), plans) is None
    tie = [PlannedRun("p1", "A", None, frozenset(ids[:2])), PlannedRun("p2", "B", None, frozenset(ids[2:]))]
    assert match_planned(report(run_id="x", folder=None, sample_ids=ids), tie) is None
    two = [PlannedRun("p1", "A", "223YTFLT3"), PlannedRun("p2", "B", "B223YTFLT3")]
    assert match_planned(report(flow_cell="223YTFLT3"), two) is None


def test_samples_go_forward_through_the_lifecycle_only() -> None:
    S = SampleState
    assert forward_path(S.STORED, S.SEQUENCING) == [S.IN_PREPARATION, S.SEQUENCING]
    assert forward_path(S.IN_PREPARATION, S.COMPLETED) == [S.SEQUENCING, S.COMPLETED]
    assert forward_path(S.SEQUENCING, S.SEQUENCING) == []
    assert forward_path(S.COMPLETED, S.SEQUENCING) is None
    assert forward_path(S.ON_HOLD, S.SEQUENCING) is None
    assert forward_path(S.REGISTERED, S.SEQUENCING) is None
