"""The edge's log store: durable before signed, resumes where it ended, refuses a damaged file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.errors import StoreCorruptError, StoreError
from edge.store import LogStore, export_log
from protocol import SigningKey, Trust, Verifier

ORIGIN = "tracseq.test/edge/store"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def reading(i: int) -> dict[str, object]:
    return {"device": "f1", "channel": "temp", "value": f"-80.{i % 100:02d}", "unit": "Cel", "quality": "good"}


def filled(path: Path, key: SigningKey, n: int, *, checkpoint: bool = True) -> LogStore:
    store = LogStore(path, ORIGIN, key)
    for i in range(n):
        store.append("observation", reading(i), NOW, i)
    store.flush()
    if checkpoint:
        store.checkpoint()
    return store


def verify(path: Path, key: SigningKey) -> tuple[int, str | None]:
    with path.open("rb") as lines:
        report = Verifier(Trust(log_keys=(key.verifier,))).run(lines)
    return report.exit_code, report.failure


def test_a_checkpoint_covers_only_flushed_entries(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    store = filled(tmp_path / "log.db", key, 10)
    store.append("observation", reading(10), NOW, 10)  # queued, not durable
    store.append("observation", reading(11), NOW, 11)
    assert store.status().durable_seq == 10
    assert store.status().checkpoint_size == 10
    note = store.checkpoint()  # flushes first: the queued two become durable, then the head over 12 is signed
    assert note is not None
    assert "\n12\n" in note
    assert store.status().durable_seq == 12


def test_restart_resumes_the_chain_and_the_export_verifies(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    filled(tmp_path / "log.db", key, 25).close()
    store = filled(tmp_path / "log.db", key, 5)
    assert store.status().next_seq == 30
    store.export(tmp_path / "x.jsonl")
    store.close()
    assert verify(tmp_path / "x.jsonl", key) == (0, None)


def test_unflushed_entries_vanish_on_a_crash_without_breaking_the_chain(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    store = filled(tmp_path / "log.db", key, 10)
    store.append("observation", reading(99), NOW, 99)  # never flushed: as if killed here
    store._db.close()
    reopened = LogStore(tmp_path / "log.db", ORIGIN, key)
    assert reopened.status().next_seq == 10


def test_a_partial_export_from_a_seq_verifies(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    store = filled(tmp_path / "log.db", key, 40)
    store.close()
    count = export_log(tmp_path / "log.db", tmp_path / "part.jsonl", from_seq=15)
    assert count == 25
    assert verify(tmp_path / "part.jsonl", key) == (0, None)


def test_an_altered_entry_in_the_tail_stops_the_start(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    store = filled(tmp_path / "log.db", key, 10)
    for i in range(10, 20):
        store.append("observation", reading(i), NOW, i)
    store.flush()  # entries 10-19 durable, not yet signed
    store.close()
    db = sqlite3.connect(tmp_path / "log.db")
    db.execute("UPDATE entries SET raw = replace(raw, '-80.15', '-70.15') WHERE seq = 15")
    db.commit()
    db.close()
    with pytest.raises(StoreCorruptError, match="entry 16 does not link") as caught:
        LogStore(tmp_path / "log.db", ORIGIN, key)
    assert "move the data directory aside" in caught.value.recovery


def test_an_entry_under_a_checkpoint_that_no_longer_matches_stops_the_start(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    filled(tmp_path / "log.db", key, 10).close()
    db = sqlite3.connect(tmp_path / "log.db")
    db.execute("UPDATE entries SET raw = replace(raw, '-80.09', '-70.09') WHERE seq = 9")
    db.commit()
    db.close()
    with pytest.raises(StoreCorruptError, match="no longer matches the checkpoint"):
        LogStore(tmp_path / "log.db", ORIGIN, key)


def test_a_truncated_database_file_is_reported_not_rewritten(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    store = filled(tmp_path / "log.db", key, 3000)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = tmp_path / "log.db"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreCorruptError):
        LogStore(path, ORIGIN, key)
    assert path.stat().st_size == len(data) // 2  # nothing was rewritten


def test_a_corrupt_page_is_reported(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    store = filled(tmp_path / "log.db", key, 3000)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = tmp_path / "log.db"
    data = bytearray(path.read_bytes())
    page = 4096 * 50
    data[page + 1000 : page + 3000] = b"\xff" * 2000  # the cells holding entries on one page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        LogStore(path, ORIGIN, key)


def test_a_store_of_another_origin_or_key_is_refused(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    filled(tmp_path / "log.db", key, 2).close()
    with pytest.raises(StoreError, match="holds the log of"):
        LogStore(tmp_path / "log.db", "tracseq.test/other", SigningKey.generate("tracseq.test/other"))
    with pytest.raises(StoreError, match="does not match the log's current signing key"):
        LogStore(tmp_path / "log.db", ORIGIN, SigningKey.generate(ORIGIN))


def test_key_rotation_is_followed_by_the_verifier(tmp_path: Path) -> None:
    old = SigningKey.generate(ORIGIN)
    store = filled(tmp_path / "log.db", old, 5)
    new = SigningKey.generate(ORIGIN)
    store.rotate_key(new, NOW, 100)
    for i in range(5):
        store.append("observation", reading(i), NOW, 200 + i)
    store.export(tmp_path / "x.jsonl")
    store.close()
    assert verify(tmp_path / "x.jsonl", old) == (0, None)
    reopened = LogStore(tmp_path / "log.db", ORIGIN, new)
    assert reopened.status().next_seq == 11


def test_prune_deletes_only_what_the_hub_cosigned_and_is_past_retention(tmp_path: Path) -> None:
    from datetime import timedelta

    from protocol import COSIGNER_TYPE, CheckpointBody, cosign, parse_checkpoint

    key = SigningKey.generate(ORIGIN)
    witness = SigningKey.generate("hub-witness", COSIGNER_TYPE)
    store = filled(tmp_path / "log.db", key, 60)
    note = store.checkpoint_upto(60)
    assert note is not None
    parsed, body = parse_checkpoint(note)
    cosigned = parsed.with_signatures([cosign(CheckpointBody(body.origin, body.size, body.head), witness, 1).line()])
    store.store_cosigned(cosigned.render())
    for i in range(60, 100):
        store.append("observation", reading(i), NOW, i)
    store.checkpoint()
    assert store.prune(NOW - timedelta(days=1)) == 0  # cosigned, but not yet past retention
    assert store.prune(NOW + timedelta(days=1)) == 60  # past retention: only the 60 the hub cosigned go
    assert store.prune(NOW + timedelta(days=1)) == 0
    store.close()
    reopened = LogStore(tmp_path / "log.db", ORIGIN, key)  # the chain still checks from the first kept entry
    assert reopened.status().next_seq == 100
    reopened.export(tmp_path / "x.jsonl")
    reopened.close()
    with (tmp_path / "x.jsonl").open("rb") as lines:
        report = Verifier(Trust(log_keys=(key.verifier,), witness_keys=(witness.verifier,))).run(lines)
    assert report.ok, report.failure
    assert (report.first_seq, report.last_seq, report.witnessed_size) == (60, 99, 60)
