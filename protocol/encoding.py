"""The deterministic byte encoding of a log entry and its hash (specified in ``ENCODING.md``).

The bytes produced here are what the edge stores, what the export carries line by line and what every hash is taken
over. Nothing is ever re-serialised to verify: a verifier hashes the line it read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from protocol.errors import EncodingError

ENTRY_VERSION = 1
ENTRY_DOMAIN = b"tracseq/entry/v1\x00"
GENESIS_DOMAIN = b"tracseq/genesis/v1\x00"
HASH_SIZE = 32

_KIND = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_MAX_DEPTH = 16

JsonScalar = str | int | bool | None
JsonValue = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]


def entry_hash(entry_bytes: bytes) -> bytes:
    """SHA-256 over the entry domain prefix and the entry's exact stored bytes."""
    return hashlib.sha256(ENTRY_DOMAIN + entry_bytes).digest()


def genesis_hash(origin: str) -> bytes:
    """The ``prev`` of entry 0 and the head of an empty log: binds the chain to its origin."""
    return hashlib.sha256(GENESIS_DOMAIN + origin.encode("utf-8")).digest()


def format_timestamp(ts: datetime) -> str:
    """UTC with exactly six fractional digits and a ``Z``: one spelling per instant."""
    if ts.tzinfo is None:
        raise EncodingError("timestamps must be timezone-aware (UTC)")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """The inverse of :func:`format_timestamp`; raises EncodingError for any other spelling."""
    try:
        parsed = datetime.strptime(text + "+0000", "%Y-%m-%dT%H:%M:%S.%fZ%z")
    except ValueError as exc:
        raise EncodingError(f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ") from exc
    return parsed


def _check_value(value: object, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise EncodingError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            _check_text(value, path)
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise EncodingError(f"{path}: integer {value} does not fit in 64 bits")
        return
    if isinstance(value, float):
        raise EncodingError(
            f"{path}: floats are not allowed in a log entry; carry the instrument's decimal string "
            "or a scaled integer instead"
        )
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(f"{path}: object keys must be strings, not {type(key).__name__}")
            _check_text(key, path)
            _check_value(item, f"{path}.{key}", depth + 1)
        return
    raise EncodingError(f"{path}: {type(value).__name__} cannot be encoded (use str, int, bool, None, list, dict)")


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodingError(f"{path}: string is not valid Unicode (lone surrogate)") from exc


def canonical_json(value: Mapping[str, object]) -> bytes:
    """Canonical JSON for a payload: sorted keys, no white space, UTF-8, integers and strings only."""
    _check_value(value, "payload", 0)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")


def encode_entry(
    *, seq: int, prev: bytes, ts: datetime, mono_ns: int, kind: str, payload: Mapping[str, object]
) -> bytes:
    """The stored bytes of one entry. Field order is fixed by the specification, not sorted."""
    if seq < 0 or seq > _INT_MAX:
        raise EncodingError(f"seq {seq} is out of range")
    if len(prev) != HASH_SIZE:
        raise EncodingError(f"prev must be {HASH_SIZE} bytes, got {len(prev)}")
    if not _KIND.fullmatch(kind):
        raise EncodingError(f"kind {kind!r} must match {_KIND.pattern}")
    if not 0 <= mono_ns <= _INT_MAX:
        raise EncodingError(f"mono {mono_ns} is out of range")
    body = canonical_json(payload)
    head = (
        f'{{"v":{ENTRY_VERSION},"seq":{seq},"prev":"{prev.hex()}","ts":"{format_timestamp(ts)}",'
        f'"mono":{mono_ns},"kind":"{kind}","payload":'
    )
    return head.encode("ascii") + body + b"}"
