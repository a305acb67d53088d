"""The feeds' pure parts: the webhook signature (HMAC-SHA256 over timestamp and exact body), backoff and outcome
classes, SSE framing, MQTT topics and a group's worst state."""

from __future__ import annotations

import hashlib
import hmac
import json
import typing
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.alerts.book import event_types
from hub.alerts.mqtt import group_state, segment
from hub.alerts.schemas import EventType
from hub.alerts.stream import frame
from hub.alerts.webhooks import Outcome, WebhookSignatureError, backoff, body_of, sign, verify
from hub.db.alerts_models import Alert
from hub.events.bus import EventEnvelope

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-s3cret-s3cret"


def event(**payload: object) -> EventEnvelope:
    return EventEnvelope(
        offset=42,
        event_id="e-1",
        tenant_id="t-1",
        type="alert.firing",
        subject_type="alert",
        subject_id="a-1",
        actor="system:alerts",
        payload=dict(payload),
        created_at=NOW,
    )


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"alert":{"id":"a-1"}}'
    expected = hmac.new(SECRET.encode(), b"1772366400." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1772366400, body) == f"sha256={expected}"


@given(st.binary(max_size=300))
def test_a_signature_verifies_over_the_exact_bytes_only(body: bytes) -> None:
    timestamp = int(NOW.timestamp())
    signature = sign(SECRET, timestamp, body)
    verify(SECRET, str(timestamp), body, signature, now=NOW)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(SECRET, str(timestamp), body + b" ", signature, now=NOW)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify("another-secret-entirely", str(timestamp), body, signature, now=NOW)


def test_an_old_or_malformed_timestamp_is_refused() -> None:
    old = int((NOW - timedelta(minutes=6)).timestamp())
    with pytest.raises(WebhookSignatureError, match="360 s away"):
        verify(SECRET, str(old), b"{}", sign(SECRET, old, b"{}"), now=NOW)
    with pytest.raises(WebhookSignatureError, match="not a Unix time"):
        verify(SECRET, "yesterday", b"{}", "sha256=00", now=NOW)


def test_the_body_is_one_canonical_json_document() -> None:
    body = body_of(event(id="a-1", state="firing", value="-65.2"))
    document = json.loads(body)
    assert document == {
        "id": "e-1",
        "type": "alert.firing",
        "offset": 42,
        "created_at": NOW.isoformat(),
        "alert": {"id": "a-1", "state": "firing", "value": "-65.2"},
    }
    assert body == body_of(event(value="-65.2", state="firing", id="a-1"))


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [backoff(n, timedelta(seconds=2), timedelta(seconds=30)).total_seconds() for n in range(1, 7)]
    assert waits == [2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize(
    ("status", "delivered", "retryable"),
    [
        (200, True, False),
        (204, True, False),
        (500, False, True),
        (503, False, True),
        (429, False, True),
        (408, False, True),
        (None, False, True),
        (400, False, False),
        (404, False, False),
        (410, False, False),
    ],
)
def test_outcomes(status: int | None, delivered: bool, retryable: bool) -> None:
    outcome = Outcome(status, None)
    assert (outcome.delivered, outcome.retryable and not outcome.delivered) == (delivered, retryable)


def test_an_sse_frame_carries_the_offset_as_its_id() -> None:
    text = frame(event(id="a-1")).decode()
    assert text.startswith("id: 42\nevent: alert.firing\ndata: {")
    assert text.endswith("}\n\n")
    assert json.loads(text.split("data: ", 1)[1])["alert"] == {"id": "a-1"}


def test_mqtt_topics_name_the_unit_or_else_the_instrument() -> None:
    assert segment("u-1", "d-1", "freezer 1", "edge") == "u-1"
    assert segment(None, "d-1", "freezer/1+#", "edge") == "d-1.freezer_1__"
    assert segment(None, "d-1", None, "integrity") == "d-1"
    assert segment(None, None, None, "saga") == "saga"


def test_a_group_shows_its_worst_state_and_severity() -> None:
    def alert(state: str, severity: str) -> Alert:
        return Alert(state=state, severity=severity)

    assert group_state([]) == {"state": "ok", "severity": None, "open": 0}
    found = group_state([alert("acknowledged", "critical"), alert("firing", "warning"), alert("pending", "alarm")])
    assert found == {"state": "firing", "severity": "critical", "open": 3}


def test_the_api_offers_every_event_the_book_records() -> None:
    assert set(typing.get_args(EventType)) == set(event_types())
