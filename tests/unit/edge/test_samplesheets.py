"""Sample sheets sent by the hub: written atomically and only as sent, never over someone else's file, removed
only while they are still what the agent wrote; each command's outcome is logged."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from edge.samplesheets import SampleSheetCommandError, SampleSheetFolder
from edge.uplink import apply_command
from sync import Command

SHEET = "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\nSample_ID,Index\nS1,ACGTACGT\n"
SHA = hashlib.sha256(SHEET.encode()).hexdigest()


@pytest.fixture
def folder(tmp_path: Path) -> SampleSheetFolder:
    return SampleSheetFolder(tmp_path / "sheets", tmp_path / "data" / "samplesheets.json")


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()


def test_a_sheet_is_written_once_and_writing_it_again_changes_nothing(folder: SampleSheetFolder) -> None:
    assert "written" in folder.write("RUN1.csv", SHEET, SHA)
    assert folder.folder is not None
    target = folder.folder / "RUN1.csv"
    assert target.read_text() == SHEET
    stamp = target.stat().st_mtime_ns
    assert folder.write("RUN1.csv", SHEET, SHA.upper()) == "RUN1.csv already written"
    assert target.stat().st_mtime_ns == stamp
    assert [p.name for p in folder.folder.iterdir()] == ["RUN1.csv"]  # no temporary file left


@pytest.mark.parametrize(
    ("filename", "sheet", "sha", "why"),
    [
        ("RUN1.csv", SHEET + "S2,TTTTAAAA\n", SHA, "does not match its SHA-256"),
        ("../etc/passwd.csv", SHEET, SHA, "not a plain .csv file name"),
        ("RUN1.txt", SHEET, SHA, "not a plain .csv file name"),
        (".hidden.csv", SHEET, SHA, "not a plain .csv file name"),
    ],
)
def test_a_sheet_that_is_not_as_sent_or_not_a_plain_name_is_refused(
    folder: SampleSheetFolder, filename: str, sheet: str, sha: str, why: str
) -> None:
    with pytest.raises(SampleSheetCommandError, match=why):
        folder.write(filename, sheet, sha)
    assert folder.folder is not None
    assert not folder.folder.exists() or not any(folder.folder.iterdir())


def test_another_file_under_the_name_is_never_overwritten_nor_removed(folder: SampleSheetFolder) -> None:
    assert folder.folder is not None
    folder.folder.mkdir()
    theirs = folder.folder / "RUN1.csv"
    theirs.write_text("the operator's own sheet\n")
    with pytest.raises(SampleSheetCommandError, match="exists with other content"):
        folder.write("RUN1.csv", SHEET, SHA)
    with pytest.raises(SampleSheetCommandError, match="not the sheet this agent wrote"):
        folder.remove("RUN1.csv")
    assert theirs.read_text() == "the operator's own sheet\n"


def test_a_sheet_is_removed_only_while_it_is_what_the_agent_wrote(folder: SampleSheetFolder) -> None:
    folder.write("RUN1.csv", SHEET, SHA)
    folder.write("RUN2.csv", SHEET, SHA)
    assert folder.folder is not None
    (folder.folder / "RUN2.csv").write_text(SHEET + "edited on the instrument PC\n")
    assert folder.remove("RUN1.csv") == "RUN1.csv removed"
    assert folder.remove("RUN1.csv") == "RUN1.csv is not there"  # a retried command
    with pytest.raises(SampleSheetCommandError, match="left in place"):
        folder.remove("RUN2.csv")
    assert (folder.folder / "RUN2.csv").exists()


def test_without_a_configured_folder_the_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SampleSheetCommandError, match="no samplesheet_dir"):
        SampleSheetFolder(None, tmp_path / "data" / "samplesheets.json").write("RUN1.csv", SHEET, SHA)


class Sink:
    def __init__(self, folder: SampleSheetFolder) -> None:
        self.folder = folder
        self.events: list[dict[str, Any]] = []

    def write_samplesheet(self, filename: str, sheet: str, sha256: str) -> str:
        return self.folder.write(filename, sheet, sha256)

    def remove_samplesheet(self, filename: str) -> str:
        return self.folder.remove(filename)

    def log_event(self, payload: dict[str, Any]) -> None:
        self.events.append(payload)


def test_the_commands_are_applied_and_each_outcome_is_logged(folder: SampleSheetFolder) -> None:
    sink = Sink(folder)
    write = Command(id="c1", type="write_samplesheet", args={"filename": "RUN1.csv", "sheet": SHEET, "sha256": SHA})
    assert apply_command(sink, write) == {"ok": True}  # type: ignore[arg-type]
    bad = Command(id="c2", type="write_samplesheet", args={"filename": "RUN2.csv", "sheet": SHEET, "sha256": "0" * 64})
    assert apply_command(sink, bad)["ok"] is False  # type: ignore[arg-type]
    remove = Command(id="c3", type="remove_samplesheet", args={"filename": "RUN1.csv"})
    assert apply_command(sink, remove) == {"ok": True}  # type: ignore[arg-type]
    assert [(e["attrs"]["command_id"], e["attrs"]["ok"]) for e in sink.events] == [
        ("c1", True),
        ("c2", False),
        ("c3", True),
    ]
    assert "RUN1.csv written" in sink.events[0]["message"]
    assert "SHA-256" in sink.events[1]["message"]
