"""Wire models: what crosses a process or network boundary. Frozen, strict about extra fields, versioned.

Values are decimal strings exactly as the instrument gave them (or as a driver formatted them once, from a scaled
integer); never floats, so that what is hashed cannot depend on how a writer formats numbers.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.checkpoint import CheckpointBody
from protocol.checkpoint import Cosignature as _Cosignature
from protocol.encoding import encode_entry, format_timestamp, parse_timestamp
from protocol.keys import VerifierKey

SCHEMA_VERSION = 1

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")]
DecimalText = Annotated[str, Field(pattern=r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$", max_length=64)]
Quality = Literal["good", "bad", "uncertain"]
Severity = Literal["info", "warning", "alarm", "critical"]
Scalar = str | int | bool | None


class WireModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value


class Observation(WireModel):
    """One reading of one channel of one device."""

    schema_version: Literal[1] = 1
    device: Identifier
    channel: Identifier
    value: DecimalText | None
    unit: Annotated[str, Field(max_length=32)]
    quality: Quality = "good"
    source_ts: datetime | None = None

    _aware = field_validator("source_ts")(lambda v: v if v is None else _aware(v))

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "device": self.device,
            "channel": self.channel,
            "value": self.value,
            "unit": self.unit,
            "quality": self.quality,
        }
        if self.source_ts is not None:
            data["source_ts"] = format_timestamp(self.source_ts)
        return data


class Event(WireModel):
    """Something that happened: an alarm raised or cleared, a door opening, a missed poll, a run started."""

    schema_version: Literal[1] = 1
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
    severity: Severity = "info"
    device: Identifier | None = None
    channel: Identifier | None = None
    message: Annotated[str, Field(max_length=1024)] = ""
    attrs: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "severity": self.severity, "message": self.message}
        if self.device is not None:
            data["device"] = self.device
        if self.channel is not None:
            data["channel"] = self.channel
        if self.attrs:
            data["attrs"] = dict(self.attrs)
        return data


class LogEntry(WireModel):
    """A decoded log entry. ``raw`` is authoritative; the other fields are what it says."""

    v: Literal[1] = 1
    seq: Annotated[int, Field(ge=0)]
    prev: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    ts: datetime
    mono: Annotated[int, Field(ge=0)]
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
    payload: dict[str, Any]

    def encode(self) -> bytes:
        return encode_entry(
            seq=self.seq,
            prev=bytes.fromhex(self.prev),
            ts=self.ts,
            mono_ns=self.mono,
            kind=self.kind,
            payload=self.payload,
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> LogEntry:
        entry = cls.model_validate_json(raw)
        # the timestamp spelling is part of the encoding; parse_timestamp refuses any other
        parse_timestamp(raw.split(b'"ts":"', 1)[1][:27].decode("ascii"))
        return entry


class Checkpoint(WireModel):
    """A signed note over the chain head (C2SP tlog-checkpoint)."""

    origin: str
    size: Annotated[int, Field(ge=0)]
    head: Annotated[str, Field(description="base64 of the 32-byte chain head")]
    note: str

    @classmethod
    def from_body(cls, body: CheckpointBody, note: str) -> Checkpoint:
        return cls(origin=body.origin, size=body.size, head=base64.b64encode(body.head).decode(), note=note)


class Cosignature(WireModel):
    """A witness's timestamped signature over a checkpoint (C2SP tlog-cosignature)."""

    witness: str
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{8}$")]
    timestamp: Annotated[int, Field(ge=0)]
    signature: str
    checkpoint_size: Annotated[int, Field(ge=0)]

    @classmethod
    def from_cosignature(cls, cosig: _Cosignature, checkpoint_size: int) -> Cosignature:
        return cls(
            witness=cosig.witness,
            key_id=cosig.key_id.hex(),
            timestamp=cosig.timestamp,
            signature=base64.b64encode(cosig.signature).decode(),
            checkpoint_size=checkpoint_size,
        )


class KeyRotation(WireModel):
    """The payload of a ``key_rotation`` entry: signed under the old key, it names the new key and its first seq."""

    schema_version: Literal[1] = 1
    old_key: str
    new_key: str
    from_seq: Annotated[int, Field(ge=0)]
    signature: str

    @field_validator("old_key", "new_key")
    @classmethod
    def _vkey(cls, value: str) -> str:
        VerifierKey.parse(value)
        return value

    @field_validator("signature")
    @classmethod
    def _b64(cls, value: str) -> str:
        try:
            if len(base64.b64decode(value, validate=True)) != 64:
                raise ValueError("an Ed25519 signature is 64 bytes")
        except binascii.Error as exc:
            raise ValueError("signature is not base64") from exc
        return value

    @staticmethod
    def statement(origin: str, old_key: str, new_key: str, from_seq: int) -> bytes:
        return f"tracseq/key-rotation/v1\n{origin}\n{old_key}\n{new_key}\n{from_seq}\n".encode()

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
