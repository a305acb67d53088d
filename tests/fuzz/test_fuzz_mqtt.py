"""MQTT payloads and topics, fuzzed from documents that nearly fit the subscription.

``tests/unit/drivers/test_mqtt_mapping.py`` already maps arbitrary bytes and flat JSON documents with one
subscription. Here the subscriptions use every feature at once (nested paths and array indexes, a unit path, a
channel named by a topic level, string numbers, a range, epoch and ISO time stamps), and the payload is a valid one
with one leaf replaced, a member dropped, or the serialised text cut or spliced; the topic is mutated too. The
mapper must give readings or raise ``BadFrameError``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from drivers import BadFrameError
from drivers.mqtt import FieldMapping, MqttSubscription, PayloadMapper
from protocol.models import Event, Observation
from tests.fuzz.budget import fuzz_settings, typed

DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")  # protocol.models.DecimalText
TOPIC = "lab/site-a/ln2-room-1/temperature"
GOOD: dict[str, Any] = {
    "ts": "2024-05-01T12:00:00.5+02:00",
    "epoch": 1714557600123,
    "data": {"probes": [{"value": -80.12, "unit": "Cel"}, {"value": "21.5", "unit": "Cel"}], "door": True},
}
MAPPERS = {
    "iso+segment": PayloadMapper(
        "ln2-room-1",
        MqttSubscription(
            topic="lab/+/+/+",
            channel_segment=-1,
            timestamp="$.ts",
            mappings=(
                FieldMapping(
                    path="$.data.probes[0].value", channel="p0", unit="Cel", unit_path="$.data.probes[0].unit"
                ),
                FieldMapping(
                    path="$.data.probes[1].value", channel="p1", unit="Cel", strings=True, range=("-90", "30")
                ),
                FieldMapping(path="$.data.door", channel="door", kind="boolean", required=False),
            ),
        ),
    ),
    "epoch_ms": PayloadMapper(
        "ln2-room-1",
        MqttSubscription(
            topic="lab/#",
            timestamp="epoch",
            timestamp_format="epoch_ms",
            mappings=(FieldMapping(path="data.probes[0].value", channel="t", range=("-1e3", "1E3")),),
        ),
    ),
    "epoch_s+segment2": PayloadMapper(
        "ln2-room-1",
        MqttSubscription(
            topic="lab/+/+/temperature",
            channel_segment=2,
            timestamp="$.epoch",
            timestamp_format="epoch_s",
            mappings=(FieldMapping(path="$.data.probes[1].value", strings=True),),
        ),
    ),
}
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        ["1e999999999", "-0", "0001", "1.", ".5", "NaN", "Infinity", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00Z",
         "2024-05-01T12:00:00", "Cel", "°C", "x" * 200, "a/b", "+", "#", "\u0000"]
    ),
    st.just({}),
    st.just([]),
)  # fmt: skip
_RAW_NUMBERS = st.sampled_from(["1e999999999", "-1e-999999999", "1" * 5000, "-0.0", "1E+400", "12345678" * 9])


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    if not path:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    head, *rest = path
    if drop and not rest:
        del copy[head]
    else:
        copy[head] = _replaced(copy[head], tuple(rest), value, drop)
    return copy


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """The good document with a drawn leaf replaced or dropped; serialised, then perhaps cut or spliced."""
    document: Any = GOOD
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(document)))
        document = _replaced(document, path, draw(_LEAVES), drop=bool(path) and draw(st.booleans()))
    text = json.dumps(document, allow_nan=True)
    if draw(st.booleans()):  # a raw number json.dumps would never write, where a number was
        text = re.sub(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", lambda _: draw(_RAW_NUMBERS), text, count=1)
    data = text.encode()
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=6)) + data[at + draw(st.integers(0, 4)) :]
    return data


_TOPICS = st.one_of(
    st.just(TOPIC),
    st.sampled_from(["lab", "lab/", "lab//ln2/t", "lab/a/b/c/d/e", "lab/a/" + "x" * 200 + "/t", "lab/a/\u00e9/t"]),
    st.lists(st.text(max_size=8), min_size=1, max_size=6).map("/".join),
)


def mapped(name: str, topic: str, payload: bytes) -> None:
    readings = typed(lambda: MAPPERS[name].map(topic, payload), BadFrameError)
    for reading in readings or []:
        assert isinstance(reading, Observation | Event)
        if isinstance(reading, Observation):
            assert reading.value is None or DECIMAL_TEXT.fullmatch(reading.value), reading


@fuzz_settings(200)
@given(name=st.sampled_from(sorted(MAPPERS)), topic=_TOPICS, payload=payloads())
@example(name="epoch_ms", topic=TOPIC, payload=json.dumps(GOOD).encode())
@example(name="iso+segment", topic=TOPIC, payload=json.dumps(GOOD).encode())
@example(name="epoch_s+segment2", topic=TOPIC, payload=json.dumps(GOOD).replace("1714557600123", "1e400").encode())
def test_a_nearly_right_payload_on_any_topic_gives_readings_or_a_bad_frame(
    name: str, topic: str, payload: bytes
) -> None:
    mapped(name, topic, payload)


@fuzz_settings(100)
@given(name=st.sampled_from(sorted(MAPPERS)), depth=st.integers(0, 200_000), payload=st.binary(max_size=64))
def test_deeply_nested_or_oversized_payloads_are_bad_frames(name: str, depth: int, payload: bytes) -> None:
    mapped(name, TOPIC, b"[" * depth + payload + b"]" * depth)
    mapped(name, TOPIC, b'{"a":' * (depth // 8) + payload)
