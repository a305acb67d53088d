"""MQTT payloads to observations, topic filters and field paths, without I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import BadFrameError, Reading
from drivers.mqtt import FieldMapping, MqttSubscription, PayloadMapper, check_filter, decode_json, topic_matches
from drivers.mqtt.paths import parse_path
from protocol.models import Event, Observation

DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?")  # DecimalText, bounded
WIRE_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")  # protocol.models.DecimalText
TOPIC = "lab/site-a/ln2-room-1/temperature"


def mapper(topic: str = "lab/+/+/+", **fields: Any) -> PayloadMapper:
    fields.setdefault("mappings", [FieldMapping(path="$.value", channel="temperature", unit="Cel")])
    return PayloadMapper("ln2-room-1", MqttSubscription(topic=topic, **fields))


def observations(readings: list[Reading]) -> list[Observation]:
    return [reading for reading in readings if isinstance(reading, Observation)]


def events(readings: list[Reading]) -> list[Event]:
    return [reading for reading in readings if isinstance(reading, Event)]


def only(readings: list[Reading]) -> Observation:
    (observation,) = readings
    assert isinstance(observation, Observation)
    return observation


@pytest.mark.parametrize("text", ["21.40", "-0.0", "0", "-12", "1e3", "2.50E-2", "123456789012345678901234567890"])
def test_a_json_number_keeps_the_exact_text_it_was_written_with(text: str) -> None:
    payload = f'{{"value": {text}}}'.encode()
    observation = only(mapper().map(TOPIC, payload))
    assert observation.value == text
    assert (observation.channel, observation.unit, observation.quality) == ("temperature", "Cel", "good")
    assert observation.device == "ln2-room-1"
    assert observation.source_ts is None


@given(st.from_regex(DECIMAL_TEXT, fullmatch=True), st.integers(0, 3))
def test_any_decimal_number_survives_unchanged(text: str, spaces: int) -> None:
    payload = ('{"value":' + " " * spaces + text + "}").encode()
    assert only(mapper().map(TOPIC, payload)).value == text


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_observations_or_a_bad_frame_and_nothing_else(payload: bytes) -> None:
    for subject in (
        mapper(timestamp="$.ts", mappings=[FieldMapping(path="value", channel="t", range=("-40", "85"))]),
        mapper(payload="plain", mappings=[FieldMapping(channel="t")]),
        mapper(payload="plain", mappings=[FieldMapping(channel="door", kind="boolean")]),
    ):
        try:
            readings = subject.map(TOPIC, payload)
        except BadFrameError:
            continue
        assert all(isinstance(reading, Observation | Event) for reading in readings)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["ts", "value", "unit", "x"]), inner),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(["ts", "value", "unit", "data"]), JSON_VALUES))
def test_arbitrary_json_documents_give_observations_or_a_bad_frame_and_nothing_else(document: dict[str, Any]) -> None:
    subject = mapper(
        channel_segment=-1,
        timestamp="$.ts",
        mappings=[
            FieldMapping(path="$.value", channel="v", unit="Cel", unit_path="$.unit", strings=True, range=("0", "25")),
            FieldMapping(path="$.data[0].v", channel="spare", required=False),
        ],
    )
    payload = json.dumps(document).encode()  # NaN and Infinity included: json.dumps writes them
    try:
        readings = subject.map(TOPIC, payload)
    except BadFrameError:
        return
    assert [o.channel for o in observations(readings)][:1] == ["temperature.v"]
    assert all(o.value is None or WIRE_DECIMAL.fullmatch(o.value) for o in observations(readings))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"21.40"', 'expected a number, got string "21.40"'),
        ("true", "expected a number, got true"),
        ("[21.4]", "expected a number, got array"),
        ('{"v": 1}', "expected a number, got object"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_bad_frame_naming_what_was_found(value: str, message: str) -> None:
    with pytest.raises(BadFrameError, match=re.escape(f"$.value: {message}")):
        mapper().map(TOPIC, f'{{"value": {value}}}'.encode())


def test_strings_holding_a_decimal_are_accepted_only_when_the_mapping_says_so() -> None:
    lenient = mapper(mappings=[FieldMapping(path="$.value", channel="t", strings=True)])
    assert only(lenient.map(TOPIC, b'{"value": "21.40"}')).value == "21.40"
    for text in ("21,4", " 21.4", "NaN", "+1", ""):
        with pytest.raises(BadFrameError, match="expected a decimal number"):
            lenient.map(TOPIC, json.dumps({"value": text}).encode())


def test_booleans_read_as_one_and_zero_and_refuse_numbers() -> None:
    door = mapper(mappings=[FieldMapping(path="$.open", channel="door", kind="boolean")])
    assert only(door.map(TOPIC, b'{"open": true}')).value == "1"
    assert only(door.map(TOPIC, b'{"open": false}')).value == "0"
    with pytest.raises(BadFrameError, match="expected true or false, got number 1"):
        door.map(TOPIC, b'{"open": 1}')


def test_null_is_the_device_saying_it_has_no_value() -> None:
    observation = only(mapper().map(TOPIC, b'{"value": null}'))
    assert (observation.value, observation.quality) == (None, "bad")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"value": NaN}', "malformed JSON: NaN is not a JSON number"),
        (b'{"value": -Infinity}', "malformed JSON: -Infinity is not a JSON number"),
        (b'{"value": 21.4', "malformed JSON"),
        (b"", "malformed JSON"),
        (b'{"value": "\xff"}', "payload is not UTF-8"),
        (b"[" * 60_000, "malformed JSON"),
        (b'{"value": 1' + b"0" * 70 + b"}", "number of 71 characters is over 64"),
        (b'{"v": 1}', r"no value at \$\.value"),
        (b" " * (64 * 1024 + 1), "over the 65536-byte limit"),
    ],
)
def test_unusable_json_is_a_bad_frame(payload: bytes, message: str) -> None:
    with pytest.raises(BadFrameError, match=message):
        mapper().map(TOPIC, payload)


def test_decode_json_marks_numbers_apart_from_strings() -> None:
    document = decode_json(b'{"a": 1.50, "b": "1.50"}')
    assert isinstance(document, dict)
    assert type(document["a"]).__name__ == "JsonNumber"
    assert type(document["b"]) is str


def test_a_payload_with_several_fields_maps_each_and_skips_optional_ones_that_are_missing() -> None:
    subject = mapper(
        mappings=[
            FieldMapping(path="$.data.temp", channel="temperature", unit="Cel"),
            FieldMapping(path="data.rh", channel="humidity", unit="%"),
            FieldMapping(path="$.data.probes[1]", channel="probe_b", unit="Cel", required=False),
        ]
    )
    readings = subject.map(TOPIC, b'{"data": {"temp": 21.40, "rh": 38.0, "probes": [1.5]}}')
    assert [(o.channel, o.value, o.unit) for o in observations(readings)] == [
        ("temperature", "21.40", "Cel"),
        ("humidity", "38.0", "%"),
    ]
    with pytest.raises(BadFrameError, match=r"no value at \$\.data\.rh"):
        subject.map(TOPIC, b'{"data": {"temp": 21.40}}')


def test_a_value_outside_the_sensor_range_is_kept_as_bad_with_an_event() -> None:
    subject = mapper(mappings=[FieldMapping(path="$.value", channel="o2", unit="%", range=("0", "25"))])
    assert only(subject.map(TOPIC, b'{"value": 25.0}')).quality == "good"
    assert only(subject.map(TOPIC, b'{"value": 0}')).quality == "good"
    observation, event = subject.map(TOPIC, b'{"value": 99.9}')
    assert isinstance(observation, Observation)
    assert isinstance(event, Event)
    assert (observation.value, observation.quality) == ("99.9", "bad")
    assert (event.type, event.severity, event.channel) == ("out_of_range", "warning", "o2")
    assert event.attrs == {"topic": TOPIC, "value": "99.9", "min": "0", "max": "25", "unit": "%"}


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ('"2025-11-25T21:52:03.120Z"', datetime(2025, 11, 25, 21, 52, 3, 120_000, tzinfo=UTC)),
        ('"2025-11-25T22:52:03+01:00"', datetime(2025, 11, 25, 21, 52, 3, tzinfo=UTC)),
    ],
)
def test_an_iso_time_stamp_becomes_the_source_time_in_utc(stamp: str, expected: datetime) -> None:
    observation = only(mapper(timestamp="$.ts").map(TOPIC, f'{{"ts": {stamp}, "value": 1}}'.encode()))
    assert observation.source_ts == expected
    assert observation.source_ts is not None
    assert observation.source_ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ('"2025-11-25T21:52:03"', "has no time zone"),
        ('"yesterday"', "not an ISO 8601 time stamp"),
        ("1764107523", "expected an ISO 8601 time stamp string, got number"),
        ('"0001-01-01T00:00:00+01:00"', "out of range"),
    ],
)
def test_an_unusable_time_stamp_is_a_bad_frame(stamp: str, message: str) -> None:
    with pytest.raises(BadFrameError, match=message):
        mapper(timestamp="$.ts").map(TOPIC, f'{{"ts": {stamp}, "value": 1}}'.encode())


def test_epoch_time_stamps_in_seconds_and_milliseconds() -> None:
    seconds = mapper(timestamp="$.t", timestamp_format="epoch_s")
    millis = mapper(timestamp="$.t", timestamp_format="epoch_ms")
    expected = datetime(2025, 11, 25, 21, 52, 3, 120_000, tzinfo=UTC)
    assert only(seconds.map(TOPIC, b'{"t": 1764107523.12, "value": 1}')).source_ts == expected
    assert only(millis.map(TOPIC, b'{"t": 1764107523120, "value": 1}')).source_ts == expected
    with pytest.raises(BadFrameError, match="not a time stamp"):
        seconds.map(TOPIC, b'{"t": 1e400, "value": 1}')
    with pytest.raises(BadFrameError, match="expected a number of epoch_s units"):
        seconds.map(TOPIC, b'{"t": "1764107523", "value": 1}')


def test_the_channel_can_come_from_a_topic_level() -> None:
    by_topic = mapper(channel_segment=-1, mappings=[FieldMapping(path="$.value", unit="%")])
    assert only(by_topic.map("lab/site-a/ln2-room-1/o2", b'{"value": 20.9}')).channel == "o2"
    joined = mapper(channel_segment=2, mappings=[FieldMapping(path="$.value", channel="min")])
    assert only(joined.map("lab/site-a/ln2-room-1/o2", b'{"value": 1}')).channel == "ln2-room-1.min"
    with pytest.raises(BadFrameError, match="not a valid channel name"):
        by_topic.map("lab/site-a/room/bad level", b'{"value": 1}')
    with pytest.raises(BadFrameError, match="has no level"):
        mapper(topic="#", channel_segment=6, mappings=[FieldMapping(path="$.value")]).map("a/b", b'{"value": 1}')


def test_a_payload_stating_another_unit_is_refused() -> None:
    subject = mapper(mappings=[FieldMapping(path="$.value", channel="t", unit="Cel", unit_path="$.unit")])
    assert only(subject.map(TOPIC, b'{"value": 21.4, "unit": "Cel"}')).unit == "Cel"
    with pytest.raises(BadFrameError, match=r'\$\.unit: unit string "\[degF\]", expected "Cel"'):
        subject.map(TOPIC, b'{"value": 70.5, "unit": "[degF]"}')
    with pytest.raises(BadFrameError, match="no unit at"):
        subject.map(TOPIC, b'{"value": 21.4}')


def test_plain_payloads_are_one_number_or_one_boolean() -> None:
    number = mapper(payload="plain", mappings=[FieldMapping(channel="t", unit="Cel")])
    assert only(number.map(TOPIC, b" 21.40\r\n")).value == "21.40"
    for bad in (b"21,4", b"nan", b"21.4 C", b"\xff", b"1" * 100):
        with pytest.raises(BadFrameError):
            number.map(TOPIC, bad)
    switch = mapper(payload="plain", mappings=[FieldMapping(channel="door", kind="boolean")])
    assert [only(switch.map(TOPIC, text)).value for text in (b"ON", b"off", b"true", b"0")] == ["1", "0", "1", "0"]
    with pytest.raises(BadFrameError, match="expected true/false/on/off/1/0"):
        switch.map(TOPIC, b"open")


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("lab/+/+/temperature", "lab/site-a/room-1/temperature", True),
        ("lab/+/+/temperature", "lab/site-a/room-1/o2", False),
        ("lab/#", "lab", True),
        ("lab/#", "lab/a/b/c", True),
        ("lab/+", "lab", False),
        ("lab/+", "lab/a/b", False),
        ("#", "$SYS/broker/uptime", False),
        ("+/broker/uptime", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("lab//x", "lab//x", True),
    ],
)
def test_topic_filters_match_as_the_mqtt_specification_says(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(check_filter(topic_filter), topic) is matches


@pytest.mark.parametrize("topic_filter", ["", "lab/#/x", "lab/x#", "lab/+x", "$share/group/lab/#", "a\x00b"])
def test_invalid_topic_filters_are_refused(topic_filter: str) -> None:
    with pytest.raises(ValueError, match=r"topic filter|'#'|'\+'|shared"):
        check_filter(topic_filter)


def test_field_paths() -> None:
    assert parse_path("$") == ()
    assert parse_path("$.a.b") == parse_path("a.b") == ("a", "b")
    assert parse_path("$.probes[0].value") == ("probes", 0, "value")
    for bad in ("$..a", "a[x]", ".a", "$a", "a b", "$.a.", "[0"):
        with pytest.raises(ValueError, match="path"):
            parse_path(bad)


def test_a_time_stamp_with_an_offset_keeps_its_instant() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    stamp = datetime(2025, 1, 1, 12, 0, tzinfo=east)
    payload = json.dumps({"ts": stamp.isoformat(), "value": 1}).encode()
    assert only(mapper(timestamp="ts").map(TOPIC, payload)).source_ts == stamp
