"""What crosses the wire between an edge and the hub.

A batch is a JSON Lines body (gzip-compressed in transit): one header line, then the entries exactly as stored
on the edge, one per line. Entries are never re-serialised on the way: the hub hashes the bytes it receives.
The answer is a JSON ``SyncAck``; a gap or a fork is an RFC 9457 problem (409) naming what the hub expects.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.errors import BadBatchError

MEDIA_TYPE = "application/x-tracseq-batch"
MAX_ENTRIES = 5000
MAX_BATCH_BYTES = 8 << 20  # decompressed
SYNC_VERSION = 1


class BatchHeader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    origin: Annotated[str, Field(min_length=1, max_length=255)]
    first_seq: Annotated[int, Field(ge=0)]
    count: Annotated[int, Field(ge=0, le=MAX_ENTRIES)]
    checkpoint: Annotated[str | None, Field(max_length=65536)] = None
    sent_at: str | None = None


class Command(BaseModel):
    """Something the hub asks the edge to do; the edge applies it and logs ``command_applied`` with its id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    # write/remove_samplesheet come from the hub's sequencing workflow (a saga), not from the devices API
    type: Literal["set_limit", "ack_alarm", "rotate_key", "request_export", "write_samplesheet", "remove_samplesheet"]
    args: dict[str, str] = Field(default_factory=dict)


class Beacon(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hub_time: str
    hub_origin: str | None = None
    hub_size: int | None = None
    hub_head: str | None = None


class SyncAck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    acked_seq: int = Field(description="the hub holds every entry below this seq")
    cosigned: str | None = Field(default=None, description="the batch's checkpoint with the hub's cosignature")
    commands: list[Command] = Field(default_factory=list)
    beacon: Beacon
    flags: list[str] = Field(default_factory=list)


def encode_batch(header: BatchHeader, entries: list[bytes], *, compress: bool = True) -> bytes:
    body = header.model_dump_json(exclude_none=True).encode() + b"\n" + b"".join(e + b"\n" for e in entries)
    return gzip.compress(body, compresslevel=5, mtime=0) if compress else body


def decode_batch(body: bytes, *, gzipped: bool) -> tuple[BatchHeader, list[bytes]]:
    """Split and check a batch body; raises BadBatchError for anything malformed or too large."""
    if gzipped:
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(body, MAX_BATCH_BYTES + 1)
        except zlib.error as exc:
            raise BadBatchError(f"the batch is not valid gzip: {exc}") from exc
        if len(data) > MAX_BATCH_BYTES or inflater.unconsumed_tail:
            raise BadBatchError(f"the batch is larger than {MAX_BATCH_BYTES} bytes uncompressed")
        if not inflater.eof or inflater.unused_data:
            raise BadBatchError("the batch is not one complete gzip stream (cut short, or data after its end)")
    else:
        if len(body) > MAX_BATCH_BYTES:
            raise BadBatchError(f"the batch is larger than {MAX_BATCH_BYTES} bytes")
        data = body
    head, _, rest = data.partition(b"\n")
    try:
        header = BatchHeader.model_validate_json(head)
    except ValidationError as exc:
        raise BadBatchError(f"the batch header is not valid: {exc.errors()[0]['msg']}") from exc
    lines = rest.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != header.count:
        raise BadBatchError(f"the header announces {header.count} entries, the body holds {len(lines)}")
    return header, lines


def problem_detail(kind: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "detail": detail, **extra}
