"""Checkpoints (C2SP tlog-checkpoint) over the chain head, and witness cosignatures (C2SP tlog-cosignature).

A checkpoint's text is ``<origin>\\n<size>\\n<base64 head>\\n``: the head is the hash of entry ``size - 1``, or the
genesis hash for an empty log. A cosignature signs ``cosignature/v1\\ntime <unix seconds>\\n`` followed by that text,
and its signature line carries key id || 8-byte big-endian time || signature.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from protocol.encoding import HASH_SIZE
from protocol.errors import NoteError, SignatureError
from protocol.keys import COSIGNER_TYPE, SigningKey, VerifierKey
from protocol.note import Note, SignatureLine, parse_note, sign_note

_MAX_SIZE = 2**63 - 1


@dataclass(frozen=True, slots=True)
class CheckpointBody:
    origin: str
    size: int
    head: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.head).decode('ascii')}\n"

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("checkpoint text must have an origin, a size and a head line")
        origin, size_text, head_text = lines[0], lines[1], lines[2]
        if not origin:
            raise NoteError("checkpoint origin is empty")
        if not size_text.isdigit() or (len(size_text) > 1 and size_text[0] == "0"):
            raise NoteError(f"checkpoint size {size_text!r} is not a decimal number")
        size = int(size_text)
        if size > _MAX_SIZE:
            raise NoteError("checkpoint size is out of range")
        try:
            head = base64.b64decode(head_text, validate=True)
        except binascii.Error as exc:
            raise NoteError("checkpoint head is not base64") from exc
        if len(head) != HASH_SIZE:
            raise NoteError(f"checkpoint head is {len(head)} bytes, expected {HASH_SIZE}")
        return cls(origin=origin, size=size, head=head)


@dataclass(frozen=True, slots=True)
class Cosignature:
    witness: str
    key_id: bytes
    timestamp: int
    signature: bytes

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)

    def line(self) -> SignatureLine:
        return SignatureLine(self.witness, self.key_id, struct.pack(">Q", self.timestamp) + self.signature)


def cosignature_message(body_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body_text}".encode()


def sign_checkpoint(body: CheckpointBody, keys: Iterable[SigningKey]) -> Note:
    return sign_note(body.text(), keys)


def cosign(body: CheckpointBody, witness: SigningKey, timestamp: int) -> Cosignature:
    """The witness's statement that it saw this checkpoint at ``timestamp`` (unix seconds)."""
    if witness.key_type != COSIGNER_TYPE:
        raise NoteError("a cosignature needs a cosigner key (type 0x04)")
    signature = witness.sign(cosignature_message(body.text(), timestamp))
    return Cosignature(witness.name, witness.key_id, timestamp, signature)


def verify_cosignatures(note: Note, witnesses: Mapping[tuple[str, bytes], VerifierKey]) -> list[Cosignature]:
    """Cosignatures on ``note`` by known witnesses; raises SignatureError when a known witness's line fails."""
    found: list[Cosignature] = []
    for line in note.signatures:
        key = witnesses.get((line.name, line.key_id))
        if key is None:
            continue
        if len(line.payload) != 8 + 64:
            raise SignatureError(f"cosignature by {key.name} has the wrong length")
        (timestamp,) = struct.unpack(">Q", line.payload[:8])
        signature = line.payload[8:]
        if not key.verify(signature, cosignature_message(note.text, timestamp)):
            raise SignatureError(f"cosignature by witness {key.name} (key {key.key_id.hex()}) does not verify")
        found.append(Cosignature(key.name, key.key_id, timestamp, signature))
    return found


def parse_checkpoint(data: str) -> tuple[Note, CheckpointBody]:
    note = parse_note(data)
    return note, CheckpointBody.parse(note.text)
