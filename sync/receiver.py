"""The hub side of sync, storage-agnostic: does a batch continue the chain the hub holds for this device?

The caller loads the device's chain state and, for a resent range, the hashes it already holds; ``check_batch``
decides: duplicate (nothing new), accept (new entries in order, an optional verified checkpoint to cosign), gap,
fork, or refused. Nothing here writes: the caller stores the accepted entries in one transaction.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from protocol import (
    CheckpointBody,
    KeyRotation,
    Note,
    NoteError,
    SignatureError,
    VerifierKey,
    cosign,
    parse_checkpoint,
    verify_note,
)
from protocol.encoding import ENTRY_DOMAIN
from protocol.keys import SigningKey
from sync.errors import ChainError, ForkError, GapError
from sync.messages import BatchHeader


class _Entry(msgspec.Struct, gc=False):
    v: int
    seq: int
    prev: str
    ts: str
    mono: int
    kind: str
    payload: msgspec.Raw


_decode = msgspec.json.Decoder(_Entry).decode
_decode_payload = msgspec.json.Decoder(dict[str, Any]).decode


@dataclass
class DeviceChain:
    """What the hub holds of one device's log."""

    origin: str
    next_seq: int
    head: bytes
    keys: list[tuple[int, VerifierKey]]  # (first seq it signs, key), in order

    def key_for(self, seq: int) -> VerifierKey:
        chosen = self.keys[0][1]
        for first, key in self.keys:
            if seq >= first:
                chosen = key
        return chosen


@dataclass(frozen=True)
class IngestedEntry:
    seq: int
    raw: bytes
    hash: bytes
    kind: str
    ts: str
    payload: dict[str, Any]


@dataclass
class BatchPlan:
    header: BatchHeader
    held_range: range  # seqs of this batch the hub already holds: the caller passes their hashes
    checkpoint_size: int | None  # when the checkpoint covers only held entries, the caller passes that head


@dataclass
class Accepted:
    entries: list[IngestedEntry]
    duplicates: int
    chain: DeviceChain
    checkpoint: CheckpointBody | None = None
    note: Note | None = None
    new_keys: list[tuple[int, VerifierKey]] = field(default_factory=list)


def plan(chain: DeviceChain, header: BatchHeader) -> BatchPlan:
    if header.origin != chain.origin:
        raise ChainError(f"this device writes the log of {chain.origin!r}, not {header.origin!r}")
    if header.first_seq > chain.next_seq:
        raise GapError(chain.next_seq)
    end = header.first_seq + header.count
    held = range(header.first_seq, min(end, chain.next_seq))
    size = None
    if header.checkpoint is not None:
        try:
            size = CheckpointBody.parse(header.checkpoint.split("\n\n", 1)[0] + "\n").size
        except NoteError as exc:
            raise ChainError(f"the checkpoint is malformed: {exc}") from exc
    return BatchPlan(header, held, size if size is not None and 0 < size <= chain.next_seq else None)


def check_batch(
    chain: DeviceChain,
    batch: BatchPlan,
    lines: list[bytes],
    *,
    held: Mapping[int, bytes],
    held_head: bytes | None = None,
    cosigned: Mapping[int, bytes] | None = None,
) -> Accepted:
    """Verify the batch against the chain. ``held`` maps each seq in ``batch.held_range`` to the hash the hub
    holds; ``held_head`` is the hash of entry ``checkpoint_size - 1`` when the plan asked for it; ``cosigned`` maps
    sizes the hub already cosigned to their heads."""
    header = batch.header
    sha256 = hashlib.sha256
    duplicates = 0
    seq = header.first_seq
    for raw in lines[: len(batch.held_range)]:
        digest = sha256(ENTRY_DOMAIN + raw).digest()
        stored = held.get(seq)
        if stored is None:
            raise ChainError(f"the hub lost track of entry {seq}", seq=seq)
        if stored != digest:
            raise ForkError(
                f"entry {seq} differs from the entry the hub already holds for that seq",
                seq=seq,
                held=stored,
                offered=raw,
            )
        duplicates += 1
        seq += 1
    state = DeviceChain(chain.origin, chain.next_seq, chain.head, list(chain.keys))
    head_hex = state.head.hex()
    entries: list[IngestedEntry] = []
    new_keys: list[tuple[int, VerifierKey]] = []
    for raw in lines[len(batch.held_range) :]:
        try:
            entry = _decode(raw)
        except msgspec.DecodeError as exc:
            raise ChainError(f"entry {seq} is not a valid entry: {exc}", seq=seq) from exc
        if entry.v != 1 or entry.seq != seq:
            raise ChainError(f"expected entry {seq}, found {entry.seq}", seq=seq)
        if entry.prev != head_hex:
            raise ChainError(f"entry {seq} does not link to entry {seq - 1}", seq=seq)
        digest = sha256(ENTRY_DOMAIN + raw).digest()
        try:
            payload = _decode_payload(entry.payload)
        except msgspec.DecodeError as exc:
            raise ChainError(f"entry {seq} has a payload that is not a JSON object", seq=seq) from exc
        if entry.kind == "key_rotation":
            new_keys.append(_rotation(state, seq, payload))
        entries.append(IngestedEntry(seq, raw, digest, entry.kind, entry.ts, payload))
        head_hex = digest.hex()
        state.head = digest
        seq += 1
    state.next_seq = max(seq, chain.next_seq)  # a resend of an older range must not rewind the chain
    accepted = Accepted(entries, duplicates, state, new_keys=new_keys)
    if header.checkpoint is not None:
        _checkpoint(chain, accepted, header.checkpoint, held_head, cosigned or {})
    return accepted


def _rotation(state: DeviceChain, seq: int, payload: dict[str, Any]) -> tuple[int, VerifierKey]:
    try:
        rotation = KeyRotation.model_validate(payload)
        old, new = VerifierKey.parse(rotation.old_key), VerifierKey.parse(rotation.new_key)
    except (ValueError, NoteError) as exc:
        raise ChainError(f"the key rotation at seq {seq} is malformed: {exc}", seq=seq) from exc
    current = state.key_for(seq)
    statement = KeyRotation.statement(state.origin, rotation.old_key, rotation.new_key, rotation.from_seq)
    if old.key_id != current.key_id or not current.verify(base64.b64decode(rotation.signature), statement):
        raise ChainError(f"the key rotation at seq {seq} is not signed by the key in force", seq=seq)
    if rotation.from_seq <= seq:
        raise ChainError(f"the key rotation at seq {seq} takes effect before itself", seq=seq)
    state.keys.append((rotation.from_seq, new))
    return rotation.from_seq, new


def _checkpoint(
    chain: DeviceChain,
    accepted: Accepted,
    text: str,
    held_head: bytes | None,
    cosigned: Mapping[int, bytes],
) -> None:
    try:
        note, body = parse_checkpoint(text)
    except NoteError as exc:
        raise ChainError(f"the checkpoint is malformed: {exc}") from exc
    state = accepted.chain
    if body.origin != state.origin:
        raise ChainError(f"the checkpoint is for {body.origin!r}, not {state.origin!r}")
    if body.size == 0 or body.size > state.next_seq:
        raise ChainError(f"the checkpoint covers {body.size} entries; the chain holds {state.next_seq}")
    key = state.key_for(body.size - 1)
    try:
        signers = verify_note(note, {(key.name, key.key_id): key})
    except SignatureError as exc:
        raise ChainError(f"the checkpoint's signature does not verify: {exc}", seq=body.size - 1) from exc
    if not signers:
        raise ChainError(f"the checkpoint is not signed by the device's key {key.key_id.hex()}", seq=body.size - 1)
    if body.size > chain.next_seq:
        expected = accepted.entries[body.size - 1 - chain.next_seq].hash
    elif held_head is not None:
        expected = held_head
    else:
        raise ChainError("the hub cannot check a checkpoint over entries it does not hold")
    previous = cosigned.get(body.size)
    if previous is not None and previous != body.head:
        raise ForkError(
            f"a second, different checkpoint for size {body.size}, which the hub already cosigned",
            seq=body.size - 1,
            held=previous,
            offered=body.head,
        )
    if body.head != expected:
        raise ChainError(f"the checkpoint's head does not match entry {body.size - 1}", seq=body.size - 1)
    accepted.checkpoint = body
    accepted.note = note


def cosign_note(note: Note, body: CheckpointBody, witness: SigningKey, timestamp: int) -> str:
    """The checkpoint with the hub's cosignature line added: what the edge stores and exports."""
    return note.with_signatures([cosign(body, witness, timestamp).line()]).render()
