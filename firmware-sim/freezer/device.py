"""The freezer as a Modbus device: model, clock, faults and unit-id handling, shared by every transport."""

from __future__ import annotations

import logging
import math

from freezer import registers
from freezer.clock import SimClock
from freezer.faults import CLEAR, Fault, ScheduledAction
from freezer.modbus import SLAVE_DEVICE_FAILURE, ModbusError, Table, handle_pdu
from freezer.thermal import DT, FreezerModel

log = logging.getLogger("freezer.device")

BROADCAST = 0
TCP_ANY_UNIT = 0xFF


class Freezer:
    def __init__(self, model: FreezerModel, clock: SimClock, schedule: list[ScheduledAction], unit: int = 1) -> None:
        self.model = model
        self.clock = clock
        self.unit = unit
        self.faults: set[Fault] = set()
        self._schedule = sorted(schedule, key=lambda item: item.at)

    def advance(self) -> None:
        """Step the model up to the clock's simulated time, applying scheduled actions when they fall due."""
        target_steps = math.floor(self.clock.elapsed() / DT + 1e-9)
        while self.model.steps < target_steps:
            self._apply_due()
            self.model.step()
        self._apply_due()

    def _apply_due(self) -> None:
        while self._schedule and self._schedule[0].at <= self.model.time + 1e-9:
            self.apply(self._schedule.pop(0).action)

    def apply(self, action: str) -> None:
        """Apply a fault name, ``clear``, or one of the door/defrost actions."""
        if action == CLEAR:
            self.faults.clear()
        elif action in Fault.__members__.values():
            self.faults.add(Fault(action))
        elif action == "door_open":
            self.model.open_door()
        elif action == "door_close":
            self.model.close_door()
        elif action == "defrost_start":
            self.model.start_defrost()
        elif action == "defrost_stop":
            self.model.stop_defrost()
        else:
            raise ValueError(f"unknown action {action!r}")
        self._sync_model_faults()
        log.info("t=%.1fs %s (faults: %s)", self.model.time, action, ", ".join(sorted(self.faults)) or "none")

    def clear_fault(self, fault: Fault) -> None:
        self.faults.discard(fault)
        self._sync_model_faults()
        log.info("t=%.1fs cleared %s", self.model.time, fault)

    def _sync_model_faults(self) -> None:
        self.model.compressor_failed = Fault.COMPRESSOR_FAILURE in self.faults
        self.model.sensor_stuck = Fault.STUCK_SENSOR in self.faults
        self.model.sensor_noisy = Fault.NOISY_SENSOR in self.faults

    def handle(self, unit: int, pdu: bytes, *, serial: bool) -> bytes | None:
        """Answer one request PDU addressed to ``unit``; None means send nothing back."""
        self.advance()
        if not pdu or Fault.UNRESPONSIVE in self.faults:
            return None
        if serial:
            if unit not in (self.unit, BROADCAST):
                return None
        elif unit not in (self.unit, BROADCAST, TCP_ANY_UNIT):
            return None
        response = handle_pdu(pdu, self)
        if serial and unit == BROADCAST:
            return None
        return response

    def read_bits(self, table: Table, address: int, count: int) -> list[bool]:
        self._fail_reads()
        bits = registers.coils(self.model) if table is Table.COILS else registers.discrete_inputs(self.model)
        registers.check_range(address, count, len(bits))
        return bits[address : address + count]

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        self._fail_reads()
        if table is Table.HOLDING_REGISTERS:
            words = registers.holding_registers(self.model)
        else:
            words = registers.input_registers(self.model)
        registers.check_range(address, count, len(words))
        return words[address : address + count]

    def write_coils(self, address: int, values: list[bool]) -> None:
        registers.write_coils(self.model, address, values)

    def write_registers(self, address: int, values: list[int]) -> None:
        registers.write_holding(self.model, address, values)
        log.info(
            "t=%.1fs holding registers: setpoint %.1f, high %.1f, low %.1f",
            self.model.time,
            self.model.setpoint,
            self.model.high_limit,
            self.model.low_limit,
        )

    def _fail_reads(self) -> None:
        if Fault.EXCEPTION in self.faults:
            raise ModbusError(SLAVE_DEVICE_FAILURE)

    def state(self) -> dict[str, object]:
        """Everything a test harness may want to check, as plain JSON values."""
        self.advance()
        model = self.model
        return {
            "sim_time_s": round(model.time, 3),
            "speed": self.clock.speed,
            "unit": self.unit,
            "temperature_c": round(model.temperature, 3),
            "reading_c": round(model.reading, 3),
            "ambient_c": round(model.ambient_reading, 3),
            "setpoint_c": model.setpoint,
            "high_alarm_c": model.high_limit,
            "low_alarm_c": model.low_limit,
            "compressor_on": model.compressor_running,
            "compressor_demand": model.compressor_demand,
            "duty_percent": round(model.duty_percent, 1),
            "door_open": model.door_open,
            "defrost": model.defrost,
            "alarm": model.alarm,
            "buzzer_muted": model.buzzer_muted,
            "faults": sorted(self.faults),
        }
