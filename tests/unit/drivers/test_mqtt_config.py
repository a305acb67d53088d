"""MQTT device configuration: what a valid file says, and what a bad one is told."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drivers.mqtt import FieldMapping, MqttBrokerSettings, MqttDeviceSettings, MqttSubscription
from drivers.mqtt.topics import filters_overlap

BROKER = {"host": "127.0.0.1", "client_id": "edge-7-ln2-room-1"}
SUBSCRIPTION = {"topic": "lab/+/+/+", "channel_segment": -1, "mappings": [{"path": "$.value", "unit": "Cel"}]}


def device(**fields: Any) -> MqttDeviceSettings:
    data: dict[str, Any] = {"driver": "mqtt", "broker": BROKER, "subscriptions": [SUBSCRIPTION]}
    data.update(fields)
    return MqttDeviceSettings.model_validate(data)


def test_defaults_are_a_persistent_mqtt5_session_at_qos_1() -> None:
    settings = device()
    assert settings.qos == 1
    assert settings.broker.protocol == "5"
    assert settings.broker.port == 1883
    assert settings.broker.session_expiry_s == 7 * 24 * 3600
    assert settings.buffer_size >= settings.broker.receive_maximum
    assert settings.subscriptions[0].payload == "json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"qos": 2}, "qos"),
        ({"driver": "modbus"}, "driver"),
        ({"subscriptions": []}, "at least 1"),
        ({"subscriptions": [SUBSCRIPTION, SUBSCRIPTION]}, "overlap"),
        ({"subscriptions": [SUBSCRIPTION, {**SUBSCRIPTION, "topic": "lab/a/b/door"}]}, "overlap"),
        ({"buffer_size": 10}, "below broker.receive_maximum"),
        ({"broker": {**BROKER, "client_id": "edge/7"}}, "client_id"),
        ({"broker": {**BROKER, "password": "x"}}, "a password needs a username"),
        ({"broker": {**BROKER, "reconnect_min_s": 5, "reconnect_max_s": 1}}, "reconnect_min_s"),
        ({"broker": {**BROKER, "session_expiry_s": 0}}, "session_expiry_s"),
        ({"broker": {**BROKER, "tls": {"key_file": "k.pem"}}}, "key_file needs cert_file"),
        ({"broker": {**BROKER, "port": 0}}, "port"),
        ({"broker": {**BROKER, "colour": "blue"}}, "colour"),
    ],
)
def test_a_bad_device_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        device(**change)


@pytest.mark.parametrize(
    ("subscription", "message"),
    [
        ({"topic": "lab/#/x", "mappings": [{"path": "$", "channel": "t"}]}, "'#' must be a whole level"),
        ({"topic": "lab/x", "mappings": [{"path": "$.value"}]}, "needs a channel"),
        (
            {"topic": "lab/+", "channel_segment": 1, "mappings": [{"path": "$.a"}, {"path": "$.b", "channel": "b"}]},
            "each needs its own channel",
        ),
        (
            {"topic": "lab/x", "mappings": [{"path": "$.a", "channel": "t"}, {"path": "$.b", "channel": "t"}]},
            "repeated: t",
        ),
        ({"topic": "lab/x", "payload": "plain", "mappings": [{"path": "$.v", "channel": "t"}]}, "exactly one"),
        (
            {"topic": "lab/x", "payload": "plain", "timestamp": "$.ts", "mappings": [{"channel": "t"}]},
            "need payload='json'",
        ),
        ({"topic": "lab/x", "timestamp": "$..ts", "mappings": [{"channel": "t"}]}, "bad path"),
        ({"topic": "lab/x", "mappings": [{"channel": "t", "range": [0.1, 5]}]}, "floats are inexact"),
        ({"topic": "lab/x", "mappings": [{"channel": "t", "range": ["5", "1"]}]}, "is above its maximum"),
        ({"topic": "lab/x", "mappings": [{"channel": "t", "kind": "boolean", "range": ["0", "1"]}]}, "decimal"),
        ({"topic": "lab/x", "mappings": [{"channel": "t", "kind": "boolean", "strings": True}]}, "decimal"),
        ({"topic": "lab/x", "mappings": []}, "at least 1"),
    ],
)
def test_a_bad_subscription_is_refused_saying_why(subscription: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSubscription.model_validate(subscription)


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("lab/+/x", "lab/a/+", True),
        ("lab/#", "lab", True),
        ("lab/a/#", "lab/+/b/c", True),
        ("lab/+", "lab/a/b", False),
        ("lab/a", "lab/b", False),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("lab/+/+/+", "lab/a/b/door/state", False),
    ],
)
def test_overlapping_topic_filters_are_found(first: str, second: str, overlap: bool) -> None:
    assert filters_overlap(first, second) is overlap
    assert filters_overlap(second, first) is overlap


def test_ranges_are_decimal_strings_and_whole_numbers_are_accepted() -> None:
    mapping = FieldMapping(channel="o2", range=(0, "25.0"))  # type: ignore[arg-type]
    assert mapping.range == ("0", "25.0")


def test_mqtt_3_1_1_has_no_receive_maximum_to_check_against_the_buffer() -> None:
    settings = MqttDeviceSettings(
        driver="mqtt",
        broker=MqttBrokerSettings(host="h", client_id="c", protocol="3.1.1"),
        subscriptions=[MqttSubscription.model_validate(SUBSCRIPTION)],
        buffer_size=10,
    )
    assert settings.buffer_size == 10


def test_the_password_is_kept_out_of_reprs() -> None:
    broker = MqttBrokerSettings(host="h", client_id="c", username="edge", password="hunter2")  # type: ignore[arg-type]
    assert "hunter2" not in repr(broker)
    assert broker.password is not None
    assert broker.password.get_secret_value() == "hunter2"
