"""``tracseq samplesheet check`` and ``convert``, on a Typer app built here by calling ``register`` (the installed
entry point is wired separately)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hub.samplesheet.cli import register

DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
MISEQ_SHEET = DATA / "130417_M00146_0021_000000000-A2WDF" / "SampleSheet.csv"
CLEAN = """[Header]
FileFormatVersion,2
RunName,Run_42

[Reads]
Read1Cycles,151
Read2Cycles,151
Index1Cycles,8
Index2Cycles,8

[BCLConvert_Settings]
OverrideCycles,Y151;I8;I8;Y151

[BCLConvert_Data]
Lane,Sample_ID,Index,Index2
1,S1,AAAAAAAA,CCCCCCCC
1,S2,GGGGGGGG,TTTTTTTT
"""
BROKEN = CLEAN.replace("1,S2,GGGGGGGG,TTTTTTTT", "1,S1,AAAAAAAT,CCCCCCCA").replace(
    "OverrideCycles,Y151;I8;I8;Y151", "OverrideCycles,Y151;I8;I8;Y151\nFastqCompression,gzip\nBarcodeMismatchesIndex1,5"
)


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["samplesheet", *args])
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "SampleSheet.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_clean_sheet_exits_0_with_an_ok_summary(app: typer.Typer, tmp_path: Path) -> None:
    code, out, _ = run(app, "check", str(write(tmp_path, CLEAN)))
    assert code == 0
    assert out.strip().splitlines() == [
        f"OK: {tmp_path / 'SampleSheet.csv'}: no problems (v2 sheet, 2 samples, lanes 1)"
    ]


def test_a_broken_sheet_exits_1_listing_every_problem_with_line_and_field(app: typer.Typer, tmp_path: Path) -> None:
    code, out, _ = run(app, "check", str(write(tmp_path, BROKEN)))
    assert code == 1
    lines = out.strip().splitlines()
    assert "error: line 13, field FastqCompression: unknown setting 'FastqCompression'" in lines[0]
    assert "error: line 14, field BarcodeMismatchesIndex1: BarcodeMismatchesIndex1 is '5': must be 0, 1 or 2" in lines
    assert any(line.startswith("error: line 19, field Sample_ID: Sample_ID S1 is already in lane 1") for line in lines)
    assert any(line.startswith("error: line 19, field Index: index collision in lane 1") for line in lines)
    assert lines[-1].startswith("FAIL: ")
    assert lines[-1].endswith(": 4 errors (v2 sheet, 2 samples, lanes 1)")


def test_json_output_carries_every_problem(app: typer.Typer, tmp_path: Path) -> None:
    code, out, _ = run(app, "check", "--json", str(write(tmp_path, BROKEN)))
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["version"] == 2
    assert report["errors"] == 4
    assert {p["code"] for p in report["problems"]} == {
        "unknown-setting",
        "bad-setting",
        "duplicate-sample",
        "index-collision",
    }
    assert all({"line", "field", "message", "severity", "column", "section"} <= set(p) for p in report["problems"])


@pytest.mark.parametrize("content", [b"not a sample sheet\n", b"[Header]\x00\n", None])
def test_an_unreadable_file_exits_3(app: typer.Typer, tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "SampleSheet.csv"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run(app, "check", str(path))
    assert code == 3
    assert err.startswith(f"FAIL: {path}: ")
    code, out, _ = run(app, "check", "--json", str(path))
    assert code == 3
    assert json.loads(out)["ok"] is False


def test_warnings_alone_exit_0(app: typer.Typer, tmp_path: Path) -> None:
    code, out, _ = run(app, "check", str(write(tmp_path, CLEAN.replace("1,S2,GGGGGGGG", "1,S2,gggggggg"))))
    assert code == 0
    assert out.splitlines()[0] == "warning: line 17, field Index: write Index in upper case (GGGGGGGG)"
    assert out.splitlines()[-1].endswith(": 1 warning (v2 sheet, 2 samples, lanes 1)")


@pytest.mark.skipif(not MISEQ_SHEET.is_file(), reason="shared Illumina data not present")
def test_the_real_miseq_sheet_checks_clean_and_converts_to_v2(app: typer.Typer, tmp_path: Path) -> None:
    code, out, _ = run(app, "check", str(MISEQ_SHEET))
    assert (code, out.strip().split(": ")[-1]) == (0, "no problems (v1 sheet, 1 sample)")
    target = tmp_path / "v2.csv"
    code, _, err = run(app, "convert", str(MISEQ_SHEET), "--to", "v2", "-o", str(target))
    assert code == 0
    assert "note: columns dropped" in err
    assert target.read_text(encoding="utf-8").startswith("[Header]\nFileFormatVersion,2\nRunName,Experiment_1\n")
    assert run(app, "check", str(target))[0] == 0


def test_convert_writes_to_stdout_and_refuses_other_versions(app: typer.Typer, tmp_path: Path) -> None:
    v1 = write(tmp_path, "[Header]\nIEMFileVersion,4\n[Reads]\n51\n[Data]\nSample_ID\nA\n")
    code, out, _ = run(app, "convert", str(v1))
    assert code == 0
    assert out.startswith("[Header]\nFileFormatVersion,2\n")
    assert run(app, "convert", str(v1), "--to", "v1")[0] == 2
