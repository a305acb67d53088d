"""The store as the sync sender sees it: the hub's cursor, bounded reads of durable entries, a fresh checkpoint for a
batch that ends at the durable head, and cosignatures that travel in the export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edge.store import LogStore, checkpoint_size
from protocol import SigningKey, Trust, Verifier, parse_checkpoint
from protocol.keys import COSIGNER_TYPE
from sync.receiver import cosign_note

ORIGIN = "tracseq.test/edge/store-sync"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
WITNESS = SigningKey.from_seed("tracseq.test/hub/witness", bytes(32), COSIGNER_TYPE)


def reading(i: int) -> dict[str, object]:
    return {"device": "f1", "channel": "temp", "value": f"-80.{i % 100:02d}", "unit": "Cel", "quality": "good"}


def store_with(path: Path, durable: int, pending: int = 0) -> LogStore:
    store = LogStore(path, ORIGIN, SigningKey.generate(ORIGIN))
    for i in range(durable):
        store.append("observation", reading(i), NOW, i)
    store.flush()
    for i in range(durable, durable + pending):
        store.append("observation", reading(i), NOW, i)
    return store


def test_the_cursor_survives_a_restart(tmp_path: Path) -> None:
    key = SigningKey.generate(ORIGIN)
    store = LogStore(tmp_path / "log.db", ORIGIN, key)
    assert store.acked_seq() == 0
    store.set_acked_seq(42)
    store.close()
    assert LogStore(tmp_path / "log.db", ORIGIN, key).acked_seq() == 42


def test_reads_are_bounded_and_never_include_what_is_not_durable(tmp_path: Path) -> None:
    store = store_with(tmp_path / "log.db", durable=10, pending=5)
    assert len(store.read_entries(0, 100, 1 << 20)) == 10
    assert len(store.read_entries(4, 3, 1 << 20)) == 3
    one = len(store.read_entries(0, 1, 1 << 20)[0]) + 1
    assert len(store.read_entries(0, 100, one * 3)) == 3
    assert len(store.read_entries(0, 100, 1)) == 1  # at least one entry, however small the budget


def test_a_batch_ending_at_the_durable_head_travels_with_a_checkpoint_over_exactly_that_head(tmp_path: Path) -> None:
    store = store_with(tmp_path / "log.db", durable=10, pending=5)
    batch = store.read_entries(0, 100, 1 << 20)
    note = store.checkpoint_upto(len(batch))
    assert note is not None
    assert checkpoint_size(note) == 10  # the batch's own head, not one past it
    assert store.status().pending == 5
    store.flush()
    assert store.checkpoint_upto(12) == note  # a batch ending mid-way takes the newest checkpoint inside it


def test_a_cosigned_checkpoint_travels_in_the_export_and_proves_the_witnessed_size(tmp_path: Path) -> None:
    store = store_with(tmp_path / "log.db", durable=8)
    note = store.checkpoint_upto(8)
    assert note is not None
    parsed, body = parse_checkpoint(note)
    store.store_cosigned(cosign_note(parsed, body, WITNESS, int(NOW.timestamp())))
    for i in range(8, 12):
        store.append("observation", reading(i), NOW, i)
    assert store.cosigned_size() == 8
    store.export(tmp_path / "x.jsonl")  # flushes and signs a checkpoint over 12 the hub has not seen
    keys = store.keys()
    store.close()
    trust = Trust(log_keys=(keys[0][1],), witness_keys=(WITNESS.verifier,))
    with (tmp_path / "x.jsonl").open("rb") as lines:
        report = Verifier(trust).run(lines)
    assert report.exit_code == 0, report.failure
    assert report.witnessed_size == 8
    assert report.unwitnessed_tail == 4
