"""The stream encoding of an event: a round trip keeps every field; anything else is a precise MalformedEventError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.events.bus import EventEnvelope
from hub.events.redis_bus import MalformedEventError, decode_event, encode_event

EVENT = EventEnvelope(
    offset=42,
    event_id="6f1c2d4e-0000-4000-8000-000000000042",
    tenant_id="t-1",
    type="sample.received",
    subject_type="sample",
    subject_id="S-001",
    actor="tech@lab",
    payload={"volume_ul": "12.5", "tags": ["dna", "µl"], "nested": {"ok": True}},
    created_at=datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
)


def as_stream(fields: dict[str, str]) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in fields.items()}


@pytest.mark.parametrize("actor", ["tech@lab", None])
def test_an_event_survives_the_stream_encoding(actor: str | None) -> None:
    event = EventEnvelope(**{**EVENT.__dict__, "actor": actor})
    assert decode_event(as_stream(encode_event(event))) == event


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"offset": None}, "missing fields: offset"),
        ({"offset": "x"}, "bad offset"),
        ({"payload": "{not json"}, "bad offset, payload or created_at"),
        ({"payload": "[1, 2]"}, "payload is a JSON list"),
        ({"created_at": "2026-03-04T05:06:07"}, "no time zone"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_problem(change: dict[str, str | None], message: str) -> None:
    fields = {**encode_event(EVENT), **change}
    stream = as_stream({k: v for k, v in fields.items() if v is not None})
    with pytest.raises(MalformedEventError, match=message):
        decode_event(stream)


def test_an_entry_that_is_not_utf8_is_refused() -> None:
    stream = {**as_stream(encode_event(EVENT)), b"type": b"\xff\xfe"}
    with pytest.raises(MalformedEventError, match="not UTF-8"):
        decode_event(stream)
