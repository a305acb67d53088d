"""What the driver remembers about recent messages: which it has seen (duplicates) and the newest time stamp per
channel (out-of-order arrivals). Bounded memory, no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime

from drivers.base import Reading
from protocol.encoding import format_timestamp
from protocol.models import Event, Observation


def fingerprint(topic: str, payload: bytes) -> bytes:
    """A 128-bit digest of a message's topic and payload: equal messages, equal fingerprints."""
    digest = hashlib.blake2b(topic.encode("utf-8", "surrogatepass"), digest_size=16)
    digest.update(b"\x00")
    digest.update(payload)
    return digest.digest()


class DuplicateWindow:
    """The fingerprints of the last ``capacity`` messages."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, key: bytes) -> bool:
        """Record ``key``; return whether it was already in the window."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return False


class OrderTracker:
    """The newest source time stamp seen per channel; an older one arriving later is flagged, never reordered."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._newest: OrderedDict[str, datetime] = OrderedDict()

    def check(self, topic: str, readings: list[Reading]) -> list[Reading]:
        """``readings`` in arrival order, each late observation followed by an ``out_of_order`` event."""
        checked: list[Reading] = []
        for reading in readings:
            checked.append(reading)
            if isinstance(reading, Observation) and reading.source_ts is not None:
                late = self._late(reading.channel, reading.source_ts)
                if late is not None:
                    checked.append(_out_of_order(topic, reading, reading.source_ts, late))
        return checked

    def _late(self, channel: str, stamp: datetime) -> datetime | None:
        newest = self._newest.get(channel)
        if newest is not None and stamp < newest:
            return newest
        self._newest[channel] = stamp
        self._newest.move_to_end(channel)
        if len(self._newest) > self.capacity:
            self._newest.popitem(last=False)
        return None


def _out_of_order(topic: str, observation: Observation, source_ts: datetime, newest: datetime) -> Event:
    stamp, before = format_timestamp(source_ts), format_timestamp(newest)
    return Event(
        type="out_of_order",
        severity="info",
        device=observation.device,
        channel=observation.channel,
        message=f"{observation.channel} stamped {stamp} arrived after one stamped {before}",
        attrs={"topic": topic[:256], "source_ts": stamp, "newest_ts": before},
    )
