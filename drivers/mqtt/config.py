"""Device configuration for MQTT sensors: which broker, which topics, and how a payload becomes observations.

The edge embeds ``MqttDeviceSettings`` in its device configuration; a bad file fails at start-up naming the field.
Range limits are decimal strings, never floats, so that a comparison is exact.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from drivers.mqtt.paths import check_path
from drivers.mqtt.topics import check_filter, filters_overlap
from protocol.models import DecimalText, Identifier

DAY_S = 24 * 3600
MAX_SESSION_EXPIRY_S = 0xFFFFFFFF  # MQTT 5: this value means "never expires"

ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
"""Stable across restarts: the broker keeps the session (subscriptions, queued messages) under this id."""
TopicFilter = Annotated[str, AfterValidator(check_filter)]
JsonPath = Annotated[str, AfterValidator(check_path)]
Unit = Annotated[str, Field(max_length=32)]


def _refuse_floats(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a decimal string such as '0.1'")
    if isinstance(value, float):
        raise ValueError(f"write {value!r} as a quoted decimal string such as '0.1': floats are inexact")
    if isinstance(value, int):
        return str(value)
    return value


DecimalString = Annotated[DecimalText, BeforeValidator(_refuse_floats)]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttTls(_Config):
    """TLS to the broker. Without ``ca_file`` the system's trust store verifies the broker's certificate."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> MqttTls:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate it belongs to)")
        return self


class MqttBrokerSettings(_Config):
    """How to reach the broker, and the persistent session the driver keeps there.

    The session (subscriptions and every QoS 1 message published while the agent is away) lives on the broker
    under ``client_id`` for ``session_expiry_s`` after a disconnect (MQTT 5; MQTT 3.1.1 sessions last until the
    broker's own limit). Two agents must never share a client id: each would take the session from the other.

    Messages are acknowledged only after the edge wrote them, so the broker never has more than a window of
    unacknowledged messages out: ``receive_maximum`` with MQTT 5, the broker's own limit with MQTT 3.1.1 (20 on
    Mosquitto, ``max_inflight_messages``), which caps a device at that many messages per flush. Prefer MQTT 5.
    """

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    client_id: ClientId
    username: Annotated[str, Field(min_length=1)] | None = None
    password: SecretStr | None = None
    tls: MqttTls | None = None
    keepalive: Annotated[int, Field(ge=5, le=65535, description="seconds")] = 60
    protocol: Literal["5", "3.1.1"] = "5"
    session_expiry_s: Annotated[int, Field(ge=60, le=MAX_SESSION_EXPIRY_S)] = 7 * DAY_S
    receive_maximum: Annotated[int, Field(ge=1, le=65535)] = 1000
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    reconnect_min_s: Annotated[float, Field(gt=0, le=600)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @model_validator(mode="after")
    def _consistent(self) -> MqttBrokerSettings:
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class FieldMapping(_Config):
    """One value in a payload: where it is, which channel it feeds, its unit and how to read it.

    ``kind="decimal"`` takes a JSON number exactly as written (``21.40`` stays ``"21.40"``); with ``strings`` a
    JSON string holding a decimal number (``"21.40"``) is accepted too. ``kind="boolean"`` takes JSON ``true`` /
    ``false`` (plain payloads: ``true``/``false``/``on``/``off``/``1``/``0``) as ``"1"``/``"0"``. JSON ``null``
    is the device saying it has no value: an observation with ``value=None, quality="bad"``.

    ``range`` is the sensor's valid measuring span, not an alarm limit (alarms live in the edge): a value outside
    it is kept as sent, with ``quality="bad"``, and an ``out_of_range`` event beside it.

    ``unit_path`` names where the payload states its unit; a payload whose unit differs from ``unit`` is refused
    as a bad frame rather than logged under the wrong unit.
    """

    path: JsonPath = "$"
    channel: Identifier | None = None
    unit: Unit = ""
    unit_path: JsonPath | None = None
    kind: Literal["decimal", "boolean"] = "decimal"
    strings: bool = False
    required: bool = True
    range: tuple[DecimalString, DecimalString] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FieldMapping:
        if self.range is not None:
            if self.kind != "decimal":
                raise ValueError("range applies to decimal values only")
            low, high = (Decimal(limit) for limit in self.range)
            if low > high:
                raise ValueError(f"range minimum {self.range[0]} is above its maximum {self.range[1]}")
        if self.strings and self.kind != "decimal":
            raise ValueError("strings applies to decimal values only")
        return self


class MqttSubscription(_Config):
    """A topic filter (``+`` one level, ``#`` the rest) and how its payloads map to channels.

    The channel of each mapping is ``mapping.channel``; with ``channel_segment`` it is taken from that level of
    the topic (0-based, negative counts from the end), joined with ``mapping.channel`` by a dot when both are set.
    ``timestamp`` names the payload's own time stamp (``source_ts``); it also makes an identical repeat of a
    message a duplicate, since a reading with its own time stamp cannot honestly happen twice.
    """

    topic: TopicFilter
    payload: Literal["json", "plain"] = "json"
    mappings: Annotated[tuple[FieldMapping, ...], Field(min_length=1)]
    channel_segment: Annotated[int, Field(ge=-64, le=63)] | None = None
    timestamp: JsonPath | None = None
    timestamp_format: Literal["iso8601", "epoch_s", "epoch_ms"] = "iso8601"

    @model_validator(mode="after")
    def _consistent(self) -> MqttSubscription:
        if self.payload == "plain":
            if len(self.mappings) != 1 or self.mappings[0].path != "$":
                raise ValueError("a plain payload is one value: exactly one mapping, with path '$'")
            if self.timestamp is not None or self.mappings[0].unit_path is not None:
                raise ValueError("a plain payload has no fields: timestamp and unit_path need payload='json'")
        unnamed = [m.path for m in self.mappings if m.channel is None]
        if unnamed and self.channel_segment is None:
            raise ValueError(
                f"mapping {unnamed[0]!r} needs a channel, or set channel_segment to take it from the topic"
            )
        if len(self.mappings) > 1 and unnamed:
            raise ValueError("with several mappings, each needs its own channel")
        names = Counter(m.channel for m in self.mappings if m.channel is not None)
        repeated = sorted(name for name, n in names.items() if n > 1)
        if repeated:
            raise ValueError(f"channel names must be unique per subscription; repeated: {', '.join(repeated)}")
        return self


class MqttDeviceSettings(_Config):
    """An MQTT device: one broker connection and the subscriptions whose payloads become its observations.

    ``qos`` is the subscription's maximum QoS. QoS 1 (the default) with the persistent session is what makes
    messages published while the agent is down arrive when it is back; QoS 2 is refused because the client
    takes ownership of a QoS 2 message on PUBREC, before the edge could have written it durably.
    ``buffer_size`` bounds the messages held between polls.
    """

    driver: Literal["mqtt"]
    broker: MqttBrokerSettings
    subscriptions: Annotated[tuple[MqttSubscription, ...], Field(min_length=1)]
    qos: Literal[0, 1] = 1
    buffer_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000

    @model_validator(mode="after")
    def _consistent(self) -> MqttDeviceSettings:
        for index, first in enumerate(self.subscriptions):
            for second in self.subscriptions[index + 1 :]:
                if filters_overlap(first.topic, second.topic):
                    raise ValueError(
                        f"topic filters {first.topic!r} and {second.topic!r} overlap: a message matching both "
                        "could be delivered once for each, and which mapping applies would be ambiguous"
                    )
        if self.broker.protocol == "5" and self.buffer_size < self.broker.receive_maximum:
            raise ValueError(
                f"buffer_size {self.buffer_size} is below broker.receive_maximum {self.broker.receive_maximum}: "
                "the broker could send more unacknowledged messages than the buffer holds"
            )
        return self
