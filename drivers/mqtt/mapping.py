"""Payload bytes and topic to observations. Pure: no I/O, no clock, no state between messages.

Numbers are kept as the exact text of the JSON number (``21.40`` stays ``"21.40"``): the JSON decoder hands every
number to ``JsonNumber`` as written, so no value passes through a float. Anything that cannot become an honest
observation raises ``BadFrameError`` with what was expected and what was found; nothing else escapes, whatever
the bytes.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

from drivers.base import BadFrameError, Reading
from drivers.mqtt.config import FieldMapping, MqttSubscription
from drivers.mqtt.paths import MISSING, PathStep, format_path, parse_path, resolve
from protocol.models import Event, Observation

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_NUMBER_TEXT = 64  # protocol.models.DecimalText
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
_PLAIN_BOOLEANS = {"true": "1", "on": "1", "1": "1", "false": "0", "off": "0", "0": "0"}
_UNITS_PER_SECOND = {"epoch_s": 1, "epoch_ms": 1000}
# Our own context, so that a caller changing the thread's decimal context cannot change a time stamp.
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


class JsonNumber(str):
    """A JSON number, as the exact text it was written with."""

    __slots__ = ()


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(payload: bytes) -> object:
    """Decode a JSON payload keeping numbers as ``JsonNumber`` text; ``BadFrameError`` for anything invalid."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise BadFrameError(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit")
    try:
        text = payload.decode("utf-8")
        return json.loads(text, parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise BadFrameError(f"payload is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except ValueError as exc:
        raise BadFrameError(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadFrameError("malformed JSON: nested too deeply") from exc


def _type_name(value: object) -> str:
    if isinstance(value, JsonNumber):
        return f"number {value}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return f"string {json.dumps(value[:40])}"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


class _Field:
    """One mapping with its paths parsed once."""

    __slots__ = ("mapping", "steps", "unit_steps")

    def __init__(self, mapping: FieldMapping) -> None:
        self.mapping = mapping
        self.steps = parse_path(mapping.path)
        self.unit_steps = None if mapping.unit_path is None else parse_path(mapping.unit_path)


class PayloadMapper:
    """Turns one subscription's messages into readings for one device.

    ``map(topic, payload)`` returns the observations (an ``out_of_range`` event follows each observation whose
    value is outside its mapping's range) or raises ``BadFrameError``; a payload is used whole or not at all.
    """

    def __init__(self, device: str, subscription: MqttSubscription) -> None:
        self.device = device
        self.subscription = subscription
        self._fields = tuple(_Field(mapping) for mapping in subscription.mappings)
        self._timestamp: tuple[PathStep, ...] | None = (
            None if subscription.timestamp is None else parse_path(subscription.timestamp)
        )

    @property
    def timestamped(self) -> bool:
        """Whether payloads carry their own time stamp (which makes an identical repeat a duplicate)."""
        return self._timestamp is not None

    def map(self, topic: str, payload: bytes) -> list[Reading]:
        segment = self._segment(topic)
        if self.subscription.payload == "plain":
            document: object = _plain_text(payload)
            source_ts = None
        else:
            document = decode_json(payload)
            source_ts = None if self._timestamp is None else self._source_ts(document, self._timestamp)
        readings: list[Reading] = []
        for field in self._fields:
            raw = resolve(document, field.steps)
            if raw is MISSING:
                if field.mapping.required:
                    raise BadFrameError(f"no value at {format_path(field.steps)}")
                continue
            if field.unit_steps is not None:
                self._check_unit(document, field.unit_steps, field.mapping.unit)
            channel = _channel(segment, field.mapping.channel)
            value = self._value(raw, field)
            readings.extend(self._observe(topic, channel, value, field.mapping, source_ts))
        return readings

    def _segment(self, topic: str) -> str | None:
        index = self.subscription.channel_segment
        if index is None:
            return None
        levels = topic.split("/")
        try:
            segment = levels[index]
        except IndexError:
            raise BadFrameError(f"topic {topic!r} has no level {index} to name the channel") from None
        if not _IDENTIFIER.fullmatch(segment):
            raise BadFrameError(f"topic level {index} of {topic!r} is not a valid channel name: {segment!r}")
        return segment

    def _value(self, raw: object, field: _Field) -> str | None:
        mapping = field.mapping
        where = format_path(field.steps)
        if raw is None:
            return None
        if self.subscription.payload == "plain":
            return _plain_value(str(raw), mapping)
        if mapping.kind == "boolean":
            if isinstance(raw, bool):
                return "1" if raw else "0"
            raise BadFrameError(f"{where}: expected true or false, got {_type_name(raw)}")
        if isinstance(raw, JsonNumber):
            return _bounded_number(raw, where)
        if mapping.strings and isinstance(raw, str):
            return _bounded_number(raw, where)
        expected = "a number or a string holding one" if mapping.strings else "a number"
        raise BadFrameError(f"{where}: expected {expected}, got {_type_name(raw)}")

    def _check_unit(self, document: object, steps: tuple[PathStep, ...], unit: str) -> None:
        stated = resolve(document, steps)
        if stated is MISSING:
            raise BadFrameError(f"no unit at {format_path(steps)}")
        if stated != unit or isinstance(stated, JsonNumber):
            raise BadFrameError(f"{format_path(steps)}: unit {_type_name(stated)}, expected {json.dumps(unit)}")

    def _source_ts(self, document: object, steps: tuple[PathStep, ...]) -> datetime:
        raw = resolve(document, steps)
        where = format_path(steps)
        if raw is MISSING:
            raise BadFrameError(f"no time stamp at {where}")
        style = self.subscription.timestamp_format
        if style == "iso8601":
            if isinstance(raw, JsonNumber) or not isinstance(raw, str):
                raise BadFrameError(f"{where}: expected an ISO 8601 time stamp string, got {_type_name(raw)}")
            return _iso_timestamp(raw, where)
        if not isinstance(raw, JsonNumber):
            raise BadFrameError(f"{where}: expected a number of {style} units, got {_type_name(raw)}")
        return _epoch_timestamp(raw, _UNITS_PER_SECOND[style], where)

    def _observe(
        self, topic: str, channel: str, value: str | None, mapping: FieldMapping, source_ts: datetime | None
    ) -> list[Reading]:
        limits = mapping.range
        outside = value is not None and limits is not None and not _within(value, limits)
        observation = Observation(
            device=self.device,
            channel=channel,
            value=value,
            unit=mapping.unit,
            quality="good" if value is not None and not outside else "bad",
            source_ts=source_ts,
        )
        if value is None or limits is None or not outside:
            return [observation]
        low, high = limits
        event = Event(
            type="out_of_range",
            severity="warning",
            device=self.device,
            channel=channel,
            message=f"{channel} = {_with_unit(value, mapping.unit)} is outside the sensor's range [{low}, {high}]",
            attrs={"topic": topic[:256], "value": value, "min": low, "max": high, "unit": mapping.unit},
        )
        return [observation, event]


def map_payload(device: str, subscription: MqttSubscription, topic: str, payload: bytes) -> list[Reading]:
    """One-off form of ``PayloadMapper(device, subscription).map(topic, payload)``."""
    return PayloadMapper(device, subscription).map(topic, payload)


def _channel(segment: str | None, name: str | None) -> str:
    channel = ".".join(part for part in (segment, name) if part is not None)
    if len(channel) > 128:
        raise BadFrameError(f"channel name {channel[:40]!r}... is over 128 characters")
    return channel


def _plain_text(payload: bytes) -> str:
    if len(payload) > MAX_NUMBER_TEXT + 16:
        raise BadFrameError(f"a plain payload of {len(payload)} bytes is too long for one value")
    try:
        return payload.decode("ascii").strip(" \t\r\n")
    except UnicodeDecodeError as exc:
        raise BadFrameError(f"plain payload is not ASCII text: byte {exc.start}") from exc


def _plain_value(text: str, mapping: FieldMapping) -> str:
    if mapping.kind == "boolean":
        value = _PLAIN_BOOLEANS.get(text.lower())
        if value is None:
            raise BadFrameError(f"plain payload: expected true/false/on/off/1/0, got {text[:40]!r}")
        return value
    return _bounded_number(text, "plain payload")


def _bounded_number(text: str, where: str) -> str:
    if len(text) > MAX_NUMBER_TEXT:
        raise BadFrameError(f"{where}: number of {len(text)} characters is over {MAX_NUMBER_TEXT}")
    if not _DECIMAL.fullmatch(text):
        raise BadFrameError(f"{where}: expected a decimal number, got {_type_name(text)}")
    return str(text)


def _with_unit(value: str, unit: str) -> str:
    return f"{value} {unit}" if unit else value


def _within(value: str, limits: tuple[str, str]) -> bool:
    number = Decimal(value)
    return Decimal(limits[0]) <= number <= Decimal(limits[1])


def _iso_timestamp(text: str, where: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise BadFrameError(f"{where}: not an ISO 8601 time stamp: {text[:40]!r}") from None
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise BadFrameError(f"{where}: time stamp {text[:40]!r} has no time zone (add 'Z' or an offset)")
    try:
        return stamp.astimezone(UTC)
    except OverflowError:
        raise BadFrameError(f"{where}: time stamp {text[:40]!r} is out of range") from None


def _epoch_timestamp(text: str, per_second: int, where: str) -> datetime:
    try:
        micros = _CONTEXT.to_integral_value(_CONTEXT.divide(_CONTEXT.multiply(Decimal(text), 1_000_000), per_second))
        return _EPOCH + timedelta(microseconds=int(micros))
    except (ArithmeticError, ValueError):
        raise BadFrameError(f"{where}: {text[:40]} is not a time stamp this clock can hold") from None
