"""The room's sensor gateway: every interval it reads each sensor and publishes one message per sensor, with the
faults asked for applied on the way out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from mqtt import payloads
from mqtt.control import CommandError
from mqtt.faults import CLEAR, ONE_SHOT, Fault, FaultQueue
from mqtt.publisher import Publisher
from mqtt.room import SENSOR_NAMES, SENSORS, Room

log = logging.getLogger("mqtt-sim.gateway")

DEFAULT_SPILL_S = 30.0


class Gateway:
    def __init__(
        self,
        prefix: str,
        room: Room,
        publisher: Publisher,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.prefix = prefix
        self.room = room
        self.publisher = publisher
        self.faults = FaultQueue()
        self._clock = clock
        self._wall = wall
        self._seq = dict.fromkeys(SENSOR_NAMES, 0)
        self._held: dict[str, bytes] = {}
        self._last: dict[str, str] = {}
        self.cycles = 0

    def topic(self, sensor: str) -> str:
        return f"{self.prefix}/{sensor}"

    def publish_cycle(self) -> None:
        """Read every sensor once and queue its message (or what a fault makes of it)."""
        now = self._clock()
        ts = payloads.timestamp(self._wall())
        values = self.room.read(now)
        for sensor in SENSORS:
            self._seq[sensor.name] += 1
            fault = self.faults.take(sensor.name)
            value = values[sensor.name]
            self._last[sensor.name] = value
            payload = payloads.faulty(fault, ts, value, sensor.unit, self._seq[sensor.name], sensor.fault_value)
            topic = self.topic(sensor.name)
            if fault is Fault.OUT_OF_ORDER:
                self._held[sensor.name] = payload
                continue
            self.publisher.send(topic, payload)
            if fault is Fault.DUPLICATE:
                self.publisher.send(topic, payload)
            held = self._held.pop(sensor.name, None)
            if held is not None:
                self.publisher.send(topic, held)
        self.cycles += 1

    def apply(self, fault: str, *, sensor: str | None = None, count: int = 1, seconds: float | None = None) -> None:
        now = self._clock()
        if fault == CLEAR:
            self.faults.clear()
            self.room.clear_spill(now)
        elif fault == Fault.O2_DROP:
            self.room.spill(now, DEFAULT_SPILL_S if seconds is None else seconds)
        else:
            self.faults.add(Fault(fault), sensor or "temperature", count)
        log.info("fault %s applied (sensor %s, count %d)", fault, sensor, count)

    def execute(self, command: dict[str, object]) -> None:
        if "fault" in command:
            self._fault_command(command)
        elif command == {"clear": CLEAR}:
            self.apply(CLEAR)
        elif command == {"clear": Fault.O2_DROP.value}:
            self.room.clear_spill(self._clock())
        elif command == {"publish": "now"}:
            self.publish_cycle()
        elif command != {"get": "state"}:
            raise CommandError(f"unknown command {command}")

    def _fault_command(self, command: dict[str, object]) -> None:
        extra = command.keys() - {"fault", "sensor", "count", "seconds"}
        if extra:
            raise CommandError(f"unknown keys {sorted(extra)}")
        name, sensor, count, seconds = (command.get(k) for k in ("fault", "sensor", "count", "seconds"))
        if name not in (*Fault.__members__.values(), CLEAR):
            raise CommandError(f"unknown fault {name!r}")
        if sensor is not None and sensor not in SENSOR_NAMES:
            raise CommandError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSOR_NAMES)}")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000):
            raise CommandError("count must be a whole number 1-1000")
        if seconds is not None and (not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0):
            raise CommandError("seconds must be a non-negative number")
        if name in ONE_SHOT or name == CLEAR:
            if seconds is not None:
                raise CommandError(f"{name} takes no seconds")
        elif sensor is not None or count is not None:
            raise CommandError(f"{name} takes no sensor or count")
        self.apply(
            str(name),
            sensor=None if sensor is None else str(sensor),
            count=1 if count is None else int(count),
            seconds=None if seconds is None else float(seconds),
        )

    def state(self) -> dict[str, object]:
        now = self._clock()
        return {
            "prefix": self.prefix,
            "cycles": self.cycles,
            "seq": dict(self._seq),
            "last": dict(self._last),
            "connected": self.publisher.connected.is_set(),
            "published": self.publisher.published,
            "backlog": self.publisher.backlog,
            "dropped": self.publisher.dropped,
            "connects": self.publisher.connects,
            "pending_faults": self.faults.pending(),
            "held": sorted(self._held),
            "spill": self.room.spilling,
            "spill_depth": round(self.room.spill_depth(now), 3),
        }
