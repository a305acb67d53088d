"""The deterministic byte encoding of a log entry and its hash (specified in ``ENCODING.md``).

The bytes produced here are what the edge stores, what the export carries line by line and what every hash is taken
over. Nothing is ever re-serialised to verify: a verifier hashes the line it read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec

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
    global _ts_cache
    cached = _ts_cache
    if cached is not None and cached[0] is ts:
        return cached[1]
    if ts.tzinfo is None:
        raise EncodingError("timestamps must be timezone-aware (UTC)")
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    if not 1 <= ts.year <= 9999:
        raise EncodingError("timestamp out of range")
    text = ts.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    _ts_cache = (ts, text)
    return text


def parse_timestamp(text: str) -> datetime:
    """The inverse of :func:`format_timestamp`; raises EncodingError for any other spelling."""
    try:
        parsed = datetime.strptime(text + "+0000", "%Y-%m-%dT%H:%M:%S.%fZ%z")
    except ValueError as exc:
        raise EncodingError(f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ") from exc
    return parsed


_SCALARS = (str, bool, type(None))
_KNOWN_KINDS = frozenset({"observation", "event", "alarm", "gap", "key_rotation", "cosignature", "beacon"})
# msgspec writes exactly what json.dumps(ensure_ascii=False, separators=(",", ":"), sort_keys=True) writes (a
# property test holds them equal), ten times faster; the reference encoder stays json for the specification.
_ENCODER = msgspec.json.Encoder(order="sorted")
_ts_cache: tuple[datetime, str] | None = None


def _flat_ok(value: Mapping[str, object]) -> bool:
    """True when a payload is a flat object of strings, booleans, nulls and 64-bit integers (the common case)."""
    for key, item in value.items():
        if type(key) is not str:
            return False
        kind = type(item)
        if kind is int:
            if not _INT_MIN <= item <= _INT_MAX:  # type: ignore[operator]
                return False
        elif kind not in _SCALARS:
            return False
    return True


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
    if not (isinstance(value, dict) and _flat_ok(value)):
        _check_value(value, "payload", 0)
    try:
        return _ENCODER.encode(value)
    except (UnicodeEncodeError, msgspec.EncodeError) as exc:
        raise EncodingError(f"payload: cannot be encoded: {exc}") from exc


def encode_entry(
    *, seq: int, prev: bytes, ts: datetime, mono_ns: int, kind: str, payload: Mapping[str, object]
) -> bytes:
    """The stored bytes of one entry. Field order is fixed by the specification, not sorted."""
    if seq < 0 or seq > _INT_MAX:
        raise EncodingError(f"seq {seq} is out of range")
    if len(prev) != HASH_SIZE:
        raise EncodingError(f"prev must be {HASH_SIZE} bytes, got {len(prev)}")
    if kind not in _KNOWN_KINDS and not _KIND.fullmatch(kind):
        raise EncodingError(f"kind {kind!r} must match {_KIND.pattern}")
    if not 0 <= mono_ns <= _INT_MAX:
        raise EncodingError(f"mono {mono_ns} is out of range")
    body = canonical_json(payload)
    head = (
        f'{{"v":{ENTRY_VERSION},"seq":{seq},"prev":"{prev.hex()}","ts":"{format_timestamp(ts)}",'
        f'"mono":{mono_ns},"kind":"{kind}","payload":'
    )
    return head.encode("ascii") + body + b"}"
