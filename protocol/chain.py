"""Building a hash chain: the writer side of the log, shared by the edge's store and the synthetic log generator."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from hashlib import sha256
from typing import NamedTuple

from protocol.checkpoint import CheckpointBody, sign_checkpoint
from protocol.encoding import ENTRY_DOMAIN, encode_entry, genesis_hash
from protocol.errors import EncodingError
from protocol.keys import SigningKey
from protocol.models import KeyRotation
from protocol.note import Note


class ChainedEntry(NamedTuple):
    """An appended entry: a tuple so a store can hand a batch of them straight to ``executemany``."""

    seq: int
    raw: bytes
    hash: bytes


class ChainWriter:
    """Appends entries to a chain held in memory as (next seq, head). Persistence is the caller's business."""

    def __init__(self, origin: str, next_seq: int = 0, head: bytes | None = None) -> None:
        if next_seq > 0 and head is None:
            raise EncodingError("resuming a chain needs the hash of its last entry")
        self.origin = origin
        self.next_seq = next_seq
        self.head = head if head is not None else genesis_hash(origin)

    def append(self, kind: str, payload: Mapping[str, object], ts: datetime, mono_ns: int) -> ChainedEntry:
        raw = encode_entry(seq=self.next_seq, prev=self.head, ts=ts, mono_ns=mono_ns, kind=kind, payload=payload)
        digest = sha256(ENTRY_DOMAIN + raw).digest()
        entry = ChainedEntry(self.next_seq, raw, digest)
        self.next_seq += 1
        self.head = digest
        return entry

    def checkpoint_body(self) -> CheckpointBody:
        return CheckpointBody(origin=self.origin, size=self.next_seq, head=self.head)

    def checkpoint(self, keys: Iterable[SigningKey]) -> Note:
        return sign_checkpoint(self.checkpoint_body(), keys)


def rotation_payload(origin: str, old: SigningKey, new_vkey: str, from_seq: int) -> dict[str, object]:
    """The payload of a ``key_rotation`` entry, signed by the key being retired."""
    statement = KeyRotation.statement(origin, old.verifier.vkey, new_vkey, from_seq)
    record = KeyRotation(
        old_key=old.verifier.vkey,
        new_key=new_vkey,
        from_seq=from_seq,
        signature=base64.b64encode(old.sign(statement)).decode("ascii"),
    )
    return record.payload()
