"""The auditor's command line: what it prints and the exit code for each outcome, as a user runs it."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def tracseq(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "protocol", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    out, trust = folder / "log.jsonl.gz", folder / "trust.json"
    done = tracseq("log", "synth", "--entries", "3000", "--out", out, "--witness", "--trust-out", trust)
    assert done.returncode == 0, done.stderr
    assert "wrote 3,000 entries" in done.stdout
    return out, trust


def test_a_good_gzip_export_verifies_and_says_what_was_proved(export: tuple[Path, Path]) -> None:
    out, trust = export
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    done = tracseq("verify", out, "--trust", trust)
    assert done.returncode == 0, done.stdout
    assert "OK:" in done.stdout
    assert "0–2999 (3,000 entries)" in done.stdout
    assert "last witnessed    size 3,000" in done.stdout


def test_json_report_carries_the_same_facts(export: tuple[Path, Path]) -> None:
    out, trust = export
    report = json.loads(tracseq("verify", out, "--trust", trust, "--json").stdout)
    assert report["ok"] is True
    assert report["entries"] == 3000
    assert report["checkpoints_verified"] == 3
    assert report["unwitnessed_tail"] == 0


def test_a_tampered_export_exits_1_naming_the_seq(export: tuple[Path, Path], tmp_path: Path) -> None:
    out, trust = export
    lines = gzip.decompress(out.read_bytes()).splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(b'{"v":1,"seq":1234,'))
    lines[index] = lines[index].replace(b'"quality":"good"', b'"quality":"bad"')
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines))
    done = tracseq("verify", bad, "--trust", trust)
    assert done.returncode == 1
    assert "first bad seq     1234" in done.stdout
    assert "FAIL:" in done.stdout


def test_a_cut_gzip_stream_exits_2(export: tuple[Path, Path], tmp_path: Path) -> None:
    out, trust = export
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    assert tracseq("verify", cut, "--trust", trust).returncode == 2


def test_not_an_export_exits_3(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_text("just some text\n")
    done = tracseq("verify", junk)
    assert done.returncode == 3
    assert "not a JSON export header" in done.stdout


def test_a_missing_file_exits_3(tmp_path: Path) -> None:
    assert tracseq("verify", tmp_path / "absent.jsonl").returncode == 3


def test_a_bad_trust_file_exits_3_with_a_message(export: tuple[Path, Path], tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text('{"format": "something else"}')
    done = tracseq("verify", export[0], "--trust", trust)
    assert done.returncode == 3
    assert "not a tracseq-trust document" in done.stderr


def test_no_trust_exits_4_and_says_how_to_fix_it(export: tuple[Path, Path]) -> None:
    done = tracseq("verify", export[0])
    assert done.returncode == 4
    assert "--trust" in done.stdout


def test_strict_mode_verifies_a_good_export(export: tuple[Path, Path]) -> None:
    out, trust = export
    assert tracseq("verify", out, "--trust", trust, "--strict").returncode == 0
