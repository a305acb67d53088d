"""Salvage from a damaged log: every readable entry exported byte for byte, every unreadable seq named, the evidence
never written to, and ``tracseq verify`` stopping at the first gap."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from edge.errors import StoreCorruptError
from edge.salvage import salvage_export
from edge.store import LogStore, export_log
from protocol import SigningKey, Trust, Verifier
from tests.unit.edge.test_store import NOW, ORIGIN, filled

N = 6000


def original(tmp_path: Path, key: SigningKey, n: int = N) -> tuple[Path, dict[int, bytes]]:
    """A closed store of ``n`` entries, checkpointed into the main file; its rows by seq."""
    path = tmp_path / "data" / "log.db"
    path.parent.mkdir()
    store = filled(path, key, n)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    db = sqlite3.connect(path)
    rows = {int(s): bytes(r) for s, r in db.execute("SELECT seq, raw FROM entries")}
    db.close()
    return path, rows


def exported(path: Path) -> tuple[dict[int, bytes], list[dict[str, object]]]:
    """Entries (by their seq) and the other lines of an export file."""
    entries: dict[int, bytes] = {}
    others: list[dict[str, object]] = []
    for line in path.read_bytes().splitlines()[1:]:
        if line.startswith(b'{"v":'):
            entries[json.loads(line)["seq"]] = line
        else:
            others.append(json.loads(line))
    return entries, others


def verify(path: Path, key: SigningKey) -> tuple[int, str | None, int | None]:
    with path.open("rb") as lines:
        report = Verifier(Trust(log_keys=(key.verifier,))).run(lines)
    return report.exit_code, report.failure, report.first_bad_seq


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_intact_log_is_salvaged_whole_and_verifies(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    path, rows = original(tmp_path, key)
    report = salvage_export(path, tmp_path / "s.jsonl")
    assert report.complete
    assert (report.entries, report.first_seq, report.next_seq) == (N, 0, N)
    entries, _ = exported(tmp_path / "s.jsonl")
    assert entries == rows
    assert verify(tmp_path / "s.jsonl", key)[0] == 0
    export_log(path, tmp_path / "e.jsonl")
    same = [(tmp_path / name).read_bytes().split(b"\n", 1)[1] for name in ("s.jsonl", "e.jsonl")]
    assert same[0] == same[1], "the same lines as a plain export after the header (which carries its time)"


def test_a_corrupt_page_costs_only_its_rows(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    path, rows = original(tmp_path, key)
    data = bytearray(path.read_bytes())
    page = 4096 * 60
    data[page + 1000 : page + 3000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(StoreCorruptError):
        LogStore(path, ORIGIN, key)  # the agent refuses it at start-up

    report = salvage_export(path, tmp_path / "s.jsonl")
    entries, _ = exported(tmp_path / "s.jsonl")
    missing = sorted(set(rows) - set(entries))
    assert missing, "the damaged page held entries"
    assert all(entries[s] == rows[s] for s in entries), "every exported entry is the original's bytes"
    assert report.entries == len(entries) == N - len(missing)
    assert [s for a, b in report.unreadable for s in range(a, b + 1)] == missing
    assert not report.complete
    assert report.next_seq == N
    code, failure, first_bad = verify(tmp_path / "s.jsonl", key)
    assert code != 0
    assert first_bad == missing[0], failure
    assert f"entry {missing[0]} is missing" in str(failure)
    assert digest(path) == before, "the evidence is never written to"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "s.jsonl"], "the working copy is removed"


@pytest.mark.parametrize("kept", [0.25, 0.5, 0.8, 0.97])
def test_a_file_cut_short_gives_back_what_is_before_the_cut(tmp_path: Path, kept: float) -> None:
    key = SigningKey.generate(ORIGIN)
    path, rows = original(tmp_path, key)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * kept) // 4096 * 4096 + 1234])  # cut mid-page
    with pytest.raises(StoreCorruptError):
        LogStore(path, ORIGIN, key)
    before = digest(path)

    report = salvage_export(path, tmp_path / "s.jsonl")
    entries, _ = exported(tmp_path / "s.jsonl")
    assert report.padded_bytes > 0
    assert all(entries[s] == rows[s] for s in entries)
    assert len(entries) > 0.5 * kept * N, f"only {len(entries)} of {N} entries salvaged with {kept:.0%} of the file"
    assert not report.complete
    lost = {s for a, b in report.unreadable for s in range(a, b + 1)}
    tail = report.unreadable_tail_from
    # every original entry is exported or named as lost (in a range, or in the tail whose length is unknown)
    assert all(s in entries or s in lost or (tail is not None and s >= tail) for s in rows)
    code, _, first_bad = verify(tmp_path / "s.jsonl", key)
    assert code != 0 or len(entries) == N
    if len(entries) < N and first_bad is not None:
        assert first_bad == min([*lost, *([tail] if tail is not None else [])])
    assert digest(path) == before


def test_entries_still_in_the_write_ahead_log_are_salvaged(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    path = tmp_path / "log.db"
    store = filled(path, key, 300)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for i in range(300, 350):
        store.append("observation", {"device": "f1", "channel": "t", "value": "1", "unit": "Cel"}, NOW, i)
    store.flush()  # committed to the -wal, not yet to the main file
    assert path.with_name("log.db-wal").stat().st_size > 0
    report = salvage_export(path, tmp_path / "s.jsonl")
    store.close()
    assert report.complete
    assert report.entries == 350


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    path.write_bytes(b"\x00" * 8192)
    with pytest.raises(StoreCorruptError, match="no SQLite header"):
        salvage_export(path, tmp_path / "s.jsonl")


def test_a_plain_export_of_a_damaged_log_leaves_no_file_and_points_to_salvage(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    path, _ = original(tmp_path, key)
    data = bytearray(path.read_bytes())
    page = 4096 * 60
    data[page + 1000 : page + 3000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    out = tmp_path / "e.jsonl"
    with pytest.raises(StoreCorruptError) as raised:
        export_log(path, out)
    assert "--salvage" in raised.value.recovery
    assert not out.exists()
