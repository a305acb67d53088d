"""Planning a run without a database: libraries packed into lanes by requested reads, colliding indexes kept apart
where lanes allow and listed per lane where they do not, pooled flow cells planned as one pool with no Lane column,
a sheet BCL Convert's checks accept, and Nanopore barcodes checked by name."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.sequencing import parse_read_lengths
from hub.domain.sequencing_plan import (
    Cycles,
    FlowCellSpec,
    PlanLibrary,
    plan_run,
    run_cycles,
    sheet_name,
    sheet_request,
)
from hub.domain.sequencing_platforms import (
    FACTS,
    SequencingPlatform,
    index_problem,
    platform_for_instrument,
)
from hub.samplesheet import build_sheet, check_text, render_sheet

X = SequencingPlatform.NOVASEQ_X
PAIRED = [(151, 151)]


def lib(name: str, reads: int, i7: str, i5: str = "", job: str = "job-1") -> PlanLibrary:
    return PlanLibrary(f"lib-{name}", job, name, i7, i5, reads, "Project_A")


def test_libraries_fill_lanes_largest_first_and_every_library_is_placed_once() -> None:
    libraries = [
        lib("S1", 300, "AAAAAAAA", "CCCCCCCC"),
        lib("S2", 700, "GGGGGGGG", "TTTTTTTT"),
        lib("S3", 500, "ACACACAC", "GTGTGTGT"),
    ]
    plan = plan_run("Run1", X, libraries, FlowCellSpec(2, 1000), PAIRED)
    assert plan.ok, plan.problems
    assert [[x.sheet_id for x in lane.libraries] for lane in plan.lanes] == [["S2", "S1"], ["S3"]]
    assert plan.cycles == Cycles(151, 151, 8, 8)


def test_colliding_libraries_are_split_across_lanes_when_the_flow_cell_has_them() -> None:
    libraries = [lib("S1", 100, "AAAAAAAA", "CCCCCCCC"), lib("S2", 100, "AAAAAAAT", "CCCCCCCA")]
    plan = plan_run("Run1", X, libraries, FlowCellSpec(2, 1000), PAIRED)
    assert plan.ok
    assert len(plan.lanes) == 2


def test_every_collision_in_a_lane_is_listed_with_its_lane_and_both_samples() -> None:
    libraries = [
        lib("S1", 100, "AAAAAAAA", "CCCCCCCC"),
        lib("S2", 100, "AAAAAAAT", "CCCCCCCA"),
        lib("S3", 100, "GGGGGGGG", "TTTTTTTT"),
        lib("S4", 100, "GGGGGGGC", "TTTTTTTA"),
    ]
    plan = plan_run("Run1", X, libraries, FlowCellSpec(1, 1000), PAIRED)
    collisions = [p for p in plan.problems if p.code == "index-collision"]
    assert {p.samples for p in collisions} == {("S1", "S2"), ("S3", "S4")}
    assert all(p.lane == 1 and "lane 1" in p.message for p in collisions)


def test_one_well_separated_index_is_enough_and_zero_mismatches_allows_closer_indexes() -> None:
    apart_on_i5 = [lib("S1", 100, "AAAAAAAA", "CCCCCCCC"), lib("S2", 100, "AAAAAAAT", "GGGGGGGG")]
    assert plan_run("Run1", X, apart_on_i5, FlowCellSpec(1, 1000), PAIRED).ok
    close = [lib("S1", 100, "AAAAAAAA", "CCCCCCCC"), lib("S2", 100, "AAAAAATT", "CCCCCCGG")]
    assert not plan_run("Run1", X, close, FlowCellSpec(1, 1000), PAIRED).ok
    assert plan_run("Run1", X, close, FlowCellSpec(1, 1000), PAIRED, mismatches=(0, 0)).ok


def test_a_library_larger_than_a_lane_and_too_few_lanes_are_problems_not_exceptions() -> None:
    big = plan_run("Run1", X, [lib("S1", 2000, "AAAAAAAA")], FlowCellSpec(1, 1000), PAIRED)
    assert [p.code for p in big.problems] == ["library-too-large"]
    many = [lib(f"S{n}", 600, "ACGTACGT"[n:] + "ACGTACGT"[:n]) for n in range(3)]
    full = plan_run("Run1", X, many, FlowCellSpec(2, 1000), PAIRED)
    assert [p.code for p in full.problems] == ["lanes-exhausted"]


def test_what_the_sample_sheet_check_refuses_is_a_problem_of_the_plan() -> None:
    libraries = [lib("S1", 100, "AAAAAAAA", "CCCCCCCC"), lib("S2", 100, "")]
    plan = plan_run("Run1", X, libraries, FlowCellSpec(1, 1000), PAIRED)
    assert {p.code for p in plan.problems} == {"index-collision", "index-required"}


def test_a_pooled_flow_cell_is_packed_as_one_pool_and_its_sheet_has_no_lane_column() -> None:
    flow = FlowCellSpec(4, 100, pooled=True)
    libraries = [lib("S1", 250, "AAAAAAAA"), lib("S2", 150, "GGGGGGGG")]
    plan = plan_run("Run1", SequencingPlatform.NEXTSEQ_550, libraries, flow, [(75, 75)])
    assert plan.ok, plan.problems
    assert len(plan.lanes) == 1
    assert plan.lanes[0].capacity == 400
    request = sheet_request(
        "Run1", SequencingPlatform.NEXTSEQ_550, plan.cycles or Cycles(75), plan.lanes, pooled=True, mismatches=(1, 1)
    )
    sheet = build_sheet(request)
    assert sheet.data is not None
    assert "Lane" not in sheet.data.columns


def test_the_generated_sheet_writes_i5_as_the_instrument_needs_it_and_passes_the_check() -> None:
    libraries = [lib("S1", 100, "AAAAAAAA", "AACCGGTT"), lib("S2", 100, "GGGGGGGG", "CCAATTGG")]
    for platform, expected in (
        (X, "AACCGGTT"),
        (SequencingPlatform.NEXTSEQ_550, "AACCGGTT"[::-1].translate(str.maketrans("ACGT", "TGCA"))),
    ):
        plan = plan_run("Run1", platform, libraries, FlowCellSpec(1, 1000), PAIRED)
        assert plan.cycles is not None
        text = render_sheet(
            build_sheet(sheet_request("Run1", platform, plan.cycles, plan.lanes, pooled=False, mismatches=(1, 1)))
        )
        report = check_text(text)
        assert report.ok, report.problems
        assert report.sheet.rows[0].index2 == expected


def test_the_run_reads_the_longest_read_and_index_any_job_asks_for() -> None:
    libraries = [lib("S1", 1, "AAAAAAAA", "CCCCCCCC"), lib("S2", 1, "GGGGGGGGTT")]
    assert run_cycles([(151, 151), (101, 0)], libraries) == Cycles(151, 151, 10, 8)


def test_nanopore_barcodes_must_differ_by_name_and_fit_the_flow_cell() -> None:
    ont = SequencingPlatform.NANOPORE
    ok = plan_run("Run1", ont, [lib("S1", 10, "barcode01"), lib("S2", 10, "barcode02")], FlowCellSpec(1, 100), [])
    assert ok.ok
    twice = plan_run("Run1", ont, [lib("S1", 10, "barcode01"), lib("S2", 95, "BARCODE01")], FlowCellSpec(1, 100), [])
    assert {p.code for p in twice.problems} == {"index-collision", "over-capacity"}


def test_read_lengths_are_read_as_labs_write_them() -> None:
    assert parse_read_lengths("2x151") == (151, 151)
    assert parse_read_lengths("1x75") == (75, 0)
    assert parse_read_lengths("151,101") == (151, 101)
    assert parse_read_lengths(" 75 ") == (75, 0)


def test_platform_facts_indexes_and_instrument_names() -> None:
    assert platform_for_instrument("NovaSeq X Plus") == SequencingPlatform.NOVASEQ_X
    assert platform_for_instrument("NextSeq 550") == SequencingPlatform.NEXTSEQ_550
    assert platform_for_instrument("NextSeq 1000/2000") == SequencingPlatform.NEXTSEQ_2000
    assert platform_for_instrument("Illumina") is None
    assert platform_for_instrument(None) is None
    assert index_problem(X, "acgtacgt", "index") is None
    assert index_problem(X, "barcode01", "index") is not None
    assert index_problem(SequencingPlatform.NANOPORE, "barcode01", "index") is None
    assert all(f.lanes >= 1 and f.reads_per_lane > 0 for p in FACTS.values() for f in p.flow_cells)
    assert sheet_name("WGS batch #3", "job") == "WGS_batch_3"
    assert sheet_name("!!!", "job") == "job"


indexes = st.text(alphabet="ACGT", min_size=8, max_size=8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(indexes, indexes, st.integers(1, 400)), min_size=1, max_size=24, unique_by=lambda t: t[0]))
def test_packing_never_overfills_a_lane_and_places_every_library_once(items: list[tuple[str, str, int]]) -> None:
    libraries = [lib(f"S{n}", reads, i7, i5) for n, (i7, i5, reads) in enumerate(items)]
    plan = plan_run("Run1", X, libraries, FlowCellSpec(8, 1000), PAIRED)
    if any(p.code == "lanes-exhausted" for p in plan.problems):
        return
    placed = [x.sheet_id for lane in plan.lanes for x in lane.libraries]
    assert sorted(placed) == sorted(x.sheet_id for x in libraries)
    assert all(lane.reads <= lane.capacity for lane in plan.lanes)
    assert all(p.code == "index-collision" for p in plan.problems)
