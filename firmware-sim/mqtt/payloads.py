"""The bytes a sensor publishes. Written by hand, not by ``json.dumps``, so that a value keeps the sensor's own
number of decimal places (``21.40``), as real firmware formats it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mqtt.faults import Fault


def timestamp(now: datetime) -> str:
    """UTC with milliseconds and a ``Z``: ``2025-11-25T21:52:03.120Z``."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def reading(ts: str, value: str, unit: str, seq: int) -> bytes:
    return f'{{"ts":"{ts}","value":{value},"unit":{json.dumps(unit)},"seq":{seq}}}'.encode()


def faulty(fault: Fault | None, ts: str, value: str, unit: str, seq: int, fault_value: str) -> bytes:
    """The payload of one reading with a payload fault applied (or none)."""
    if fault is Fault.OUT_OF_RANGE:
        return reading(ts, fault_value, unit, seq)
    if fault is Fault.WRONG_TYPE:
        return f'{{"ts":"{ts}","value":"{value}","unit":{json.dumps(unit)},"seq":{seq}}}'.encode()
    payload = reading(ts, value, unit, seq)
    if fault is Fault.MALFORMED_JSON:
        return payload[: len(payload) // 2]
    return payload


def status(online: bool, ts: str) -> bytes:
    return f'{{"online":{json.dumps(online)},"ts":"{ts}"}}'.encode()
