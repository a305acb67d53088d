"""The room: what each sensor would read now, including an LN2 spill (``o2_drop``). Deterministic per seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

NORMAL_O2 = Decimal("20.9")
SPILL_O2 = Decimal("17.0")
RECOVERY_TAU_S = 30.0
"""Ventilation clears the nitrogen with this time constant once the spill stops."""


@dataclass(frozen=True)
class Sensor:
    name: str
    unit: str
    """UCUM code, as sent in the payload."""
    places: int
    low: Decimal
    high: Decimal
    """The sensor's measuring range: a value outside it is a sensor fault."""
    fault_value: str
    """What a failed probe reports (the ``out_of_range`` fault)."""


SENSORS = (
    Sensor("temperature", "Cel", 2, Decimal(-40), Decimal(85), "-273.15"),
    Sensor("humidity", "%", 1, Decimal(0), Decimal(100), "127.0"),
    Sensor("co2", "[ppm]", 0, Decimal(0), Decimal(10000), "65535"),
    Sensor("o2", "%", 1, Decimal(0), Decimal(25), "99.9"),
)
SENSOR_NAMES = tuple(sensor.name for sensor in SENSORS)


class Room:
    """Baselines with a slow daily-like swing and sensor noise; a spill lowers O2 (and cools and dries the air)."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._spill_started: float | None = None
        self._spill_seconds = 30.0
        self._cleared_at: float | None = None
        self._depth_at_clear = 0.0

    def spill(self, now: float, seconds: float) -> None:
        """Start an LN2 spill: O2 falls from 20.9 % to 17 % over ``seconds`` and stays there until cleared."""
        depth = self.spill_depth(now)  # a new spill during recovery starts from where the air is
        self._spill_seconds = max(seconds, 0.001)
        self._spill_started = now - depth * self._spill_seconds
        self._cleared_at = None

    def clear_spill(self, now: float) -> None:
        if self._spill_started is not None:
            self._depth_at_clear = self.spill_depth(now)
            self._cleared_at = now
            self._spill_started = None

    @property
    def spilling(self) -> bool:
        return self._spill_started is not None

    def spill_depth(self, now: float) -> float:
        """0 (no nitrogen) … 1 (O2 down to 17 %)."""
        if self._spill_started is not None:
            return min(1.0, (now - self._spill_started) / self._spill_seconds)
        if self._cleared_at is not None:
            return self._depth_at_clear * math.exp(-(now - self._cleared_at) / RECOVERY_TAU_S)
        return 0.0

    def read(self, now: float) -> dict[str, str]:
        """Each sensor's reading as decimal text with the sensor's own number of places."""
        depth = self.spill_depth(now)
        swing = math.sin(2 * math.pi * now / 3600)
        noise = self._random.gauss
        true = {
            "temperature": 20.5 + 0.3 * swing - 1.5 * depth + noise(0, 0.02),
            "humidity": 38.0 + 2.0 * swing - 10.0 * depth + noise(0, 0.2),
            "co2": 520.0 + 30.0 * swing + noise(0, 8),
            "o2": float(NORMAL_O2) - depth * float(NORMAL_O2 - SPILL_O2) + noise(0, 0.02),
        }
        return {sensor.name: _text(true[sensor.name], sensor) for sensor in SENSORS}


def _text(value: float, sensor: Sensor) -> str:
    quantum = Decimal(1).scaleb(-sensor.places)
    number = Decimal(repr(value)).quantize(quantum)
    return str(min(max(number, sensor.low), sensor.high))
