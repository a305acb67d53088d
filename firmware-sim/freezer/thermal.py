"""Thermal and control model of a -80 °C ultra-low freezer.

The model advances in fixed steps of ``DT`` simulated seconds, so its state at a given simulated time depends
only on the seed and on the events applied before that time, never on wall-clock timing or on how often it is
read. Every random draw happens on the 1 Hz sensor sample, not on reads.

Physics (first order, one lumped cabinet temperature ``T``):

    dT/dt = K_LEAK * (ambient - T) + door * K_DOOR * (ambient - T) - compressor * COOLING

At -80 °C in a 22 °C room the cabinet warms at ~0.03 °C/s with the compressor off and cools at ~0.06 °C/s
net with it on; with the ±1.5 °C hysteresis one compressor cycle takes about 150 s (100 s off, 50 s on, ~33 %
duty).
"""

from __future__ import annotations

import math
import random
from collections import deque

DT = 0.1
"""Simulated seconds per model step."""
SENSOR_PERIOD = 1.0
"""The probes are sampled once per simulated second."""

DEFAULT_SETPOINT = -80.0
DEFAULT_HIGH_LIMIT = -70.0
DEFAULT_LOW_LIMIT = -90.0
HYSTERESIS = 1.5

AMBIENT_MEAN = 22.0
AMBIENT_SWING = 1.0
DAY = 86_400.0

K_LEAK = 0.03 / (AMBIENT_MEAN - DEFAULT_SETPOINT)
K_DOOR = 0.004
COOLING = 0.09

DUTY_WINDOW = 600.0
DOOR_ALARM_AFTER = 60.0

SENSOR_NOISE = 0.03
NOISY_SENSOR_SIGMA = 2.0
AMBIENT_NOISE = 0.05

DEFAULT_DEFROST_EVERY = 6 * 3600.0
DEFAULT_DEFROST_DURATION = 150.0


class FreezerModel:
    """Cabinet physics plus the controller logic the firmware would run (compressor, defrost, alarm)."""

    def __init__(
        self,
        seed: int,
        *,
        defrost_every: float = DEFAULT_DEFROST_EVERY,
        defrost_duration: float = DEFAULT_DEFROST_DURATION,
    ) -> None:
        self._rng = random.Random(seed)
        self.steps = 0
        self.setpoint = DEFAULT_SETPOINT
        self.high_limit = DEFAULT_HIGH_LIMIT
        self.low_limit = DEFAULT_LOW_LIMIT
        self.temperature = DEFAULT_SETPOINT + self._rng.uniform(-HYSTERESIS, HYSTERESIS)
        self.compressor_demand = self._rng.random() < 0.5
        self.compressor_failed = False
        self.sensor_stuck = False
        self.sensor_noisy = False
        self.door_open = False
        self._door_opened_at = 0.0
        self.defrost_every = defrost_every
        self.defrost_duration = defrost_duration
        self._defrost_until: float | None = None
        self._next_defrost = defrost_every
        self.buzzer_muted = False
        self.alarm = False
        self._duty: deque[bool] = deque()
        self._duty_window = round(DUTY_WINDOW / DT)
        self._duty_on = 0
        self._next_sample_step = 0
        self.reading = self.temperature
        self.ambient_reading = self.ambient
        self._sample_sensors()

    @property
    def time(self) -> float:
        """Simulated seconds since start."""
        return self.steps * DT

    @property
    def ambient(self) -> float:
        """Room temperature: a slow daily swing around 22 °C."""
        return AMBIENT_MEAN + AMBIENT_SWING * math.sin(2 * math.pi * self.time / DAY)

    @property
    def defrost(self) -> bool:
        return self._defrost_until is not None

    @property
    def compressor_running(self) -> bool:
        return self.compressor_demand and not self.compressor_failed and not self.defrost

    @property
    def duty_percent(self) -> float:
        """Share of the last ten simulated minutes (or of the run so far) with the compressor running."""
        if not self._duty:
            return 0.0
        return 100.0 * self._duty_on / len(self._duty)

    def open_door(self) -> None:
        if not self.door_open:
            self.door_open = True
            self._door_opened_at = self.time

    def close_door(self) -> None:
        self.door_open = False

    def start_defrost(self) -> None:
        self._defrost_until = self.time + self.defrost_duration

    def stop_defrost(self) -> None:
        self._defrost_until = None

    def step(self) -> None:
        """Advance the model by one step of ``DT`` simulated seconds."""
        self._update_defrost()
        self._update_compressor_demand()
        running = self.compressor_running
        ambient = self.ambient
        rate = K_LEAK * (ambient - self.temperature)
        if self.door_open:
            rate += K_DOOR * (ambient - self.temperature)
        if running:
            rate -= COOLING
        self.temperature += rate * DT
        self.steps += 1
        self._record_duty(running)
        if self.steps >= self._next_sample_step:
            self._sample_sensors()
        self._update_alarm()

    def _update_defrost(self) -> None:
        now = self.time
        if self._defrost_until is not None and now >= self._defrost_until:
            self._defrost_until = None
        if self.defrost_every > 0 and now >= self._next_defrost:
            self._next_defrost += self.defrost_every
            self.start_defrost()

    def _update_compressor_demand(self) -> None:
        if self.temperature >= self.setpoint + HYSTERESIS:
            self.compressor_demand = True
        elif self.temperature <= self.setpoint - HYSTERESIS:
            self.compressor_demand = False

    def _record_duty(self, running: bool) -> None:
        self._duty.append(running)
        self._duty_on += running
        if len(self._duty) > self._duty_window:
            self._duty_on -= self._duty.popleft()

    def _sample_sensors(self) -> None:
        noise = self._rng.gauss(0.0, 1.0)
        ambient_noise = self._rng.gauss(0.0, 1.0)
        if not self.sensor_stuck:
            sigma = NOISY_SENSOR_SIGMA if self.sensor_noisy else SENSOR_NOISE
            self.reading = self.temperature + sigma * noise
        self.ambient_reading = self.ambient + AMBIENT_NOISE * ambient_noise
        self._next_sample_step = self.steps + round(SENSOR_PERIOD / DT)

    def _update_alarm(self) -> None:
        too_warm = self.temperature > self.high_limit
        too_cold = self.temperature < self.low_limit
        door_left_open = self.door_open and self.time - self._door_opened_at >= DOOR_ALARM_AFTER
        self.alarm = too_warm or too_cold or door_left_open
        if not self.alarm:
            self.buzzer_muted = False
