"""The entry encoding refuses what could make two writers disagree, and is deterministic for what it accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import EncodingError, canonical_json, encode_entry, format_timestamp, parse_timestamp

T = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
PREV = bytes(32)

json_leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def encode(payload: dict[str, object], kind: str = "event") -> bytes:
    return encode_entry(seq=1, prev=PREV, ts=T, mono_ns=5, kind=kind, payload=payload)


def test_floats_are_refused_anywhere_in_a_payload() -> None:
    with pytest.raises(EncodingError, match="floats are not allowed"):
        encode({"a": {"b": [1, 2.5]}})


@pytest.mark.parametrize("kind", ["", "Event", "1x", "a b", "x" * 65])
def test_bad_kinds_are_refused(kind: str) -> None:
    with pytest.raises(EncodingError, match="kind"):
        encode({}, kind=kind)


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(EncodingError):
        encode({"text": "\ud800"})


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(EncodingError, match="timezone-aware"):
        encode_entry(seq=0, prev=PREV, ts=datetime(2026, 1, 1), mono_ns=0, kind="event", payload={})  # noqa: DTZ001


def test_integers_beyond_64_bits_are_refused() -> None:
    with pytest.raises(EncodingError, match="64 bits"):
        encode({"n": 2**63})


def test_other_timezones_are_stored_as_the_same_utc_instant() -> None:
    local = T.astimezone(timezone(timedelta(hours=2)))
    assert format_timestamp(local) == "2026-05-06T07:08:09.123456Z"
    assert parse_timestamp(format_timestamp(local)) == T


def test_a_timestamp_spelled_differently_is_refused() -> None:
    with pytest.raises(EncodingError):
        parse_timestamp("2026-05-06T07:08:09Z")


@given(st.dictionaries(st.text(max_size=8), json_value, max_size=6))
def test_payload_encoding_is_canonical_and_round_trips(payload: dict[str, object]) -> None:
    raw = encode(payload)
    decoded = json.loads(raw)
    assert decoded["payload"] == payload
    assert canonical_json(decoded["payload"]) == canonical_json(payload)
    assert raw == encode(json.loads(json.dumps(payload)))  # key order of the input does not matter
    assert b" " not in raw.split(b'"payload":', 1)[0]


def test_field_order_is_fixed_by_the_specification() -> None:
    raw = encode({"b": 1, "a": 2})
    assert raw.startswith(b'{"v":1,"seq":1,"prev":"' + b"0" * 64 + b'","ts":"2026-05-06T07:08:09.123456Z","mono":5,')
    assert raw.endswith(b'"kind":"event","payload":{"a":2,"b":1}}')


@given(st.dictionaries(st.text(max_size=8), json_value, max_size=6))
def test_payload_bytes_are_what_the_specification_reference_encoder_writes(payload: dict[str, object]) -> None:
    try:
        reference = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(EncodingError):
            canonical_json(payload)
        return
    assert canonical_json(payload) == reference
