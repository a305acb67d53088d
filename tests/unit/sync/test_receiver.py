"""The hub's chain check, without storage: a batch continues the held chain, repeats it, leaves a gap, forks it,
or is refused; key rotations are followed; any split of a chain into overlapping batches ends at the same head."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ChainedEntry, ChainWriter, CheckpointBody, SigningKey, genesis_hash, rotation_payload
from protocol.checkpoint import sign_checkpoint
from protocol.keys import COSIGNER_TYPE
from sync import Accepted, BatchHeader, ChainError, DeviceChain, ForkError, GapError, check_batch, cosign_note, plan

ORIGIN = "tracseq.test/edge/receiver"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KEY = SigningKey.from_seed(ORIGIN, bytes(range(32)))
OTHER = SigningKey.from_seed(ORIGIN, bytes(range(1, 33)))  # same name, different key: what a forger holds
WITNESS = SigningKey.from_seed("tracseq.test/hub/witness", bytes(32), COSIGNER_TYPE)


def reading(i: int) -> dict[str, object]:
    return {"device": "f1", "channel": "temp", "value": f"-80.{i % 100:02d}", "unit": "Cel", "quality": "good"}


def build(n: int, writer: ChainWriter | None = None) -> tuple[ChainWriter, list[ChainedEntry]]:
    writer = writer or ChainWriter(ORIGIN)
    start = writer.next_seq
    entries = [writer.append("observation", reading(i), T0 + timedelta(seconds=i), i) for i in range(start, start + n)]
    return writer, entries


def note_over(entries: list[ChainedEntry], size: int, key: SigningKey = KEY) -> str:
    return sign_checkpoint(CheckpointBody(ORIGIN, size, entries[size - 1].hash), [key]).render()


@dataclass
class Hub:
    """What the hub keeps of one device, in memory: the chain state, entry hashes and cosigned heads."""

    chain: DeviceChain = field(
        default_factory=lambda: DeviceChain(ORIGIN, 0, genesis_hash(ORIGIN), [(0, KEY.verifier)])
    )
    hashes: dict[int, bytes] = field(default_factory=dict)
    cosigned: dict[int, bytes] = field(default_factory=dict)
    accepted: list[int] = field(default_factory=list)

    def offer(self, first_seq: int, lines: list[bytes], checkpoint: str | None = None) -> Accepted:
        header = BatchHeader(origin=ORIGIN, first_seq=first_seq, count=len(lines), checkpoint=checkpoint)
        batch = plan(self.chain, header)
        held = {seq: self.hashes[seq] for seq in batch.held_range}
        held_head = self.hashes[batch.checkpoint_size - 1] if batch.checkpoint_size else None
        result = check_batch(self.chain, batch, lines, held=held, held_head=held_head, cosigned=self.cosigned)
        for entry in result.entries:  # what the caller stores in one transaction
            self.hashes[entry.seq] = entry.hash
            self.accepted.append(entry.seq)
        if result.checkpoint is not None:
            self.cosigned.setdefault(result.checkpoint.size, result.checkpoint.head)
        self.chain = result.chain
        return result


def raws(entries: list[ChainedEntry]) -> list[bytes]:
    return [e.raw for e in entries]


def test_a_batch_that_continues_the_chain_is_accepted_with_its_checkpoint() -> None:
    _, entries = build(10)
    hub = Hub()
    first = hub.offer(0, raws(entries[:4]), note_over(entries, 4))
    assert [e.seq for e in first.entries] == [0, 1, 2, 3]
    assert first.checkpoint is not None
    assert first.checkpoint.size == 4
    second = hub.offer(4, raws(entries[4:]), note_over(entries, 10))
    assert [e.seq for e in second.entries] == list(range(4, 10))
    assert second.duplicates == 0
    assert hub.chain.next_seq == 10
    assert hub.chain.head == entries[-1].hash
    assert [e.payload["value"] for e in second.entries][:2] == ["-80.04", "-80.05"]


def test_a_resent_batch_is_all_duplicates_and_adds_nothing() -> None:
    _, entries = build(6)
    hub = Hub()
    hub.offer(0, raws(entries), note_over(entries, 6))
    again = hub.offer(0, raws(entries), note_over(entries, 6))
    assert again.entries == []
    assert again.duplicates == 6
    assert again.chain.next_seq == 6
    assert again.checkpoint is not None
    assert again.checkpoint.size == 6
    assert hub.accepted == list(range(6))


def test_an_overlapping_batch_stores_only_what_is_new() -> None:
    _, entries = build(8)
    hub = Hub()
    hub.offer(0, raws(entries[:5]))
    result = hub.offer(3, raws(entries[3:]), note_over(entries, 8))
    assert result.duplicates == 2
    assert [e.seq for e in result.entries] == [5, 6, 7]
    assert hub.accepted == list(range(8))


def test_a_replayed_older_range_does_not_rewind_the_chain() -> None:
    _, entries = build(10)
    hub = Hub()
    hub.offer(0, raws(entries), note_over(entries, 10))
    replay = hub.offer(2, raws(entries[2:5]), note_over(entries, 5))
    assert replay.entries == []
    assert replay.duplicates == 3
    assert replay.chain.next_seq == 10
    assert replay.chain.head == entries[-1].hash
    _, more = build(2, ChainWriter(ORIGIN, 10, entries[-1].hash))
    assert [e.seq for e in hub.offer(10, raws(more)).entries] == [10, 11]


def test_a_batch_after_a_gap_names_the_expected_seq() -> None:
    _, entries = build(10)
    hub = Hub()
    hub.offer(0, raws(entries[:3]))
    with pytest.raises(GapError) as caught:
        hub.offer(5, raws(entries[5:]))
    assert caught.value.expected_seq == 3
    assert caught.value.retryable


def test_different_bytes_for_a_held_seq_are_a_fork_with_both_pieces() -> None:
    _, entries = build(5)
    hub = Hub()
    hub.offer(0, raws(entries))
    altered = entries[2].raw.replace(b'"-80.02"', b'"-70.02"')
    lines = raws(entries)
    lines[2] = altered
    with pytest.raises(ForkError) as caught:
        hub.offer(0, lines)
    assert caught.value.seq == 2
    assert caught.value.held == entries[2].hash
    assert caught.value.offered == altered
    assert hub.chain.next_seq == 5


def test_a_second_checkpoint_with_another_head_for_a_cosigned_size_is_a_fork() -> None:
    _, entries = build(6)
    hub = Hub()
    hub.offer(0, raws(entries), note_over(entries, 6))
    other_head = b"\x07" * 32
    lie = sign_checkpoint(CheckpointBody(ORIGIN, 6, other_head), [KEY]).render()  # signed by the device key
    with pytest.raises(ForkError) as caught:
        hub.offer(6, [], lie)
    assert caught.value.seq == 5
    assert caught.value.held == entries[5].hash
    assert caught.value.offered == other_head


def test_a_signed_checkpoint_that_disagrees_with_held_entries_is_refused() -> None:
    _, entries = build(6)
    hub = Hub()
    hub.offer(0, raws(entries))  # held, never cosigned
    lie = sign_checkpoint(CheckpointBody(ORIGIN, 6, entries[2].hash), [KEY]).render()
    with pytest.raises(ChainError, match="head does not match entry 5"):
        hub.offer(6, [], lie)


def test_an_entry_that_does_not_link_is_refused() -> None:
    _, entries = build(4)
    _, other = build(4, ChainWriter(ORIGIN, 2, b"\x01" * 32))  # seq 2 and 3, linked to a head we never had
    hub = Hub()
    hub.offer(0, raws(entries[:2]))
    with pytest.raises(ChainError, match="does not link") as caught:
        hub.offer(2, raws(other[:2]))
    assert caught.value.seq == 2
    assert hub.chain.next_seq == 2


def test_an_entry_with_the_wrong_seq_is_refused() -> None:
    _, entries = build(4)
    hub = Hub()
    with pytest.raises(ChainError, match="expected entry 1, found 2") as caught:
        hub.offer(0, [entries[0].raw, entries[2].raw])
    assert caught.value.seq == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"v":1,"seq":0}',
        b"[1,2,3]",
    ],
    ids=["garbage", "missing-fields", "not-an-object"],
)
def test_an_entry_that_is_not_an_entry_is_refused(raw: bytes) -> None:
    hub = Hub()
    with pytest.raises(ChainError, match="not a valid entry") as caught:
        hub.offer(0, [raw])
    assert caught.value.seq == 0


def test_an_entry_whose_payload_is_not_an_object_is_refused() -> None:
    prev = genesis_hash(ORIGIN).hex()
    raw = f'{{"v":1,"seq":0,"prev":"{prev}","ts":"2026-01-02T03:04:05Z","mono":0,"kind":"x","payload":[1]}}'
    with pytest.raises(ChainError, match="payload that is not a JSON object"):
        Hub().offer(0, [raw.encode()])


def test_an_entry_of_another_version_is_refused() -> None:
    _, entries = build(1)
    with pytest.raises(ChainError, match="expected entry 0"):
        Hub().offer(0, [entries[0].raw.replace(b'{"v":1,', b'{"v":2,', 1)])


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    _, entries = build(5)
    hub = Hub()
    with pytest.raises(ChainError, match=r"signature does not verify|not signed by the device"):
        hub.offer(0, raws(entries), note_over(entries, 5, OTHER))


def test_a_checkpoint_signed_by_an_unknown_key_name_is_refused() -> None:
    _, entries = build(5)
    stranger = SigningKey.from_seed("someone.else", bytes(range(32)))
    with pytest.raises(ChainError, match="not signed by the device's key"):
        Hub().offer(0, raws(entries), note_over(entries, 5, stranger))


def test_a_checkpoint_beyond_the_batch_or_for_another_log_is_refused() -> None:
    _, entries = build(5)
    with pytest.raises(ChainError, match="covers 5 entries; the chain holds 3"):
        Hub().offer(0, raws(entries[:3]), note_over(entries, 5))
    elsewhere = sign_checkpoint(CheckpointBody("other.origin", 3, entries[2].hash), [KEY]).render()
    with pytest.raises(ChainError, match=r"is for 'other\.origin'"):
        Hub().offer(0, raws(entries[:3]), elsewhere)
    with pytest.raises(ChainError, match="malformed"):
        Hub().offer(0, raws(entries[:3]), "nonsense\n\n— x AAAA\n")


def test_a_batch_for_another_origin_is_refused() -> None:
    header = BatchHeader(origin="tracseq.test/edge/other", first_seq=0, count=0)
    with pytest.raises(ChainError, match=r"not 'tracseq\.test/edge/other'"):
        plan(Hub().chain, header)


def rotate(writer: ChainWriter, old: SigningKey, new: SigningKey) -> ChainedEntry:
    from_seq = writer.next_seq + 1
    return writer.append("key_rotation", rotation_payload(ORIGIN, old, new.verifier.vkey, from_seq), T0, 0)


def test_a_key_rotation_is_followed_and_later_checkpoints_need_the_new_key() -> None:
    writer, entries = build(3)
    rotation = rotate(writer, KEY, OTHER)  # seq 3; OTHER signs from seq 4
    _, later = build(3, writer)
    chain = [*entries, rotation, *later]
    hub = Hub()
    result = hub.offer(0, raws(chain[:4]), note_over(chain, 4, KEY))  # the old key signs over its retirement
    assert [(first, key.key_id) for first, key in result.new_keys] == [(4, OTHER.key_id)]
    with pytest.raises(ChainError):
        hub.offer(4, raws(later), note_over(chain, 7, KEY))
    accepted = hub.offer(4, raws(later), note_over(chain, 7, OTHER))
    assert accepted.checkpoint is not None
    assert accepted.checkpoint.size == 7
    assert hub.chain.key_for(6).key_id == OTHER.key_id
    assert hub.chain.key_for(3).key_id == KEY.key_id


def test_a_rotation_not_signed_by_the_key_in_force_is_refused() -> None:
    writer, entries = build(2)
    stranger = SigningKey.from_seed(ORIGIN, bytes(range(2, 34)))
    rotation = rotate(writer, OTHER, stranger)  # OTHER is not the key in force
    with pytest.raises(ChainError, match="not signed by the key in force") as caught:
        Hub().offer(0, [*raws(entries), rotation.raw])
    assert caught.value.seq == 2


def test_a_rotation_that_takes_effect_before_itself_is_refused() -> None:
    writer, _ = build(0)
    payload = rotation_payload(ORIGIN, KEY, OTHER.verifier.vkey, 0)
    entry = writer.append("key_rotation", payload, T0, 0)
    with pytest.raises(ChainError, match="takes effect before itself"):
        Hub().offer(0, [entry.raw])


def test_a_forged_rotation_signature_is_refused() -> None:
    writer, _ = build(0)
    payload = rotation_payload(ORIGIN, KEY, OTHER.verifier.vkey, 1)
    payload["signature"] = base64.b64encode(OTHER.sign(b"something else")).decode()
    entry = writer.append("key_rotation", payload, T0, 0)
    with pytest.raises(ChainError, match="not signed by the key in force"):
        Hub().offer(0, [entry.raw])


def test_the_cosigned_note_carries_the_device_and_the_witness_signature() -> None:
    _, entries = build(3)
    result = Hub().offer(0, raws(entries), note_over(entries, 3))
    assert result.note is not None
    assert result.checkpoint is not None
    text = cosign_note(result.note, result.checkpoint, WITNESS, 1_700_000_000)
    assert text.startswith(f"{ORIGIN}\n3\n")
    assert text.count("\u2014 ") == 2
    assert f"\u2014 {WITNESS.name} " in text


CHAIN_LENGTH = 60
_, CHAIN = build(CHAIN_LENGTH)
NOTES = {size: note_over(CHAIN, size) for size in range(1, CHAIN_LENGTH + 1)}


def as_batches(steps: list[tuple[int, int, int]]) -> list[tuple[int, int, int | None]]:
    """Batches (first_seq, end, checkpoint size) as a flaky sender would send them: in order, each starting up to
    ``back`` entries before what the hub holds (a resend or an overlap), then whatever remains in one batch."""
    out: list[tuple[int, int, int | None]] = []
    held = 0
    for back, length, size in steps:
        start = max(0, held - back)
        end = min(CHAIN_LENGTH, start + length)
        out.append((start, end, size % end + 1 if size and end else None))
        held = max(held, end)
    if held < CHAIN_LENGTH:
        out.append((held, CHAIN_LENGTH, None))
    return out


deliveries = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 15), st.integers(0, 100)), max_size=40).map(
    as_batches
)


@settings(max_examples=100, deadline=None)
@given(deliveries)
def test_any_split_with_resends_accepts_every_entry_once_and_ends_at_the_same_head(
    batches: list[tuple[int, int, int | None]],
) -> None:
    hub = Hub()
    for start, end, size in batches:
        checkpoint = NOTES[size] if size else None
        hub.offer(start, raws(CHAIN[start:end]), checkpoint)
    assert hub.accepted == list(range(CHAIN_LENGTH))
    assert hub.chain.next_seq == CHAIN_LENGTH
    assert hub.chain.head == CHAIN[-1].hash
    assert all(hub.cosigned[size] == CHAIN[size - 1].hash for size in hub.cosigned)
