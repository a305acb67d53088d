"""The register map (the contract documented in README.md) and its encoding.

Input registers (function 4):
    0-1  cabinet temperature, IEEE-754 float32, high word first (°C)
    2    cabinet temperature, int16, 0.1 °C
    3    ambient temperature, int16, 0.1 °C
    4    compressor duty over the last 10 minutes, uint16, percent
    5    status bits: bit0 compressor running, bit1 door open, bit2 defrost, bit3 alarm
Holding registers (functions 3, 6, 16), int16 in 0.1 °C:
    0    setpoint, 1 high alarm limit, 2 low alarm limit
Discrete inputs (function 2): 0 door open, 1 compressor running.
Coils (functions 1, 5, 15): 0 alarm buzzer mute.
"""

from __future__ import annotations

import struct

from freezer.modbus import ILLEGAL_DATA_ADDRESS, ILLEGAL_DATA_VALUE, ModbusError
from freezer.thermal import FreezerModel

STATUS_COMPRESSOR = 1 << 0
STATUS_DOOR = 1 << 1
STATUS_DEFROST = 1 << 2
STATUS_ALARM = 1 << 3

INPUT_REGISTER_COUNT = 6
HOLDING_REGISTER_COUNT = 3
DISCRETE_INPUT_COUNT = 2
COIL_COUNT = 1

SETPOINT_RANGE = (-90.0, -50.0)
LIMIT_RANGE = (-100.0, 0.0)


def float32_words(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def int16_tenths(value: float) -> int:
    """Encode °C as a two's-complement int16 in 0.1 °C, clamped to the int16 range."""
    tenths = max(-32768, min(32767, round(value * 10)))
    return tenths & 0xFFFF


def from_int16_tenths(word: int) -> float:
    return (word - 0x10000 if word & 0x8000 else word) / 10


def input_registers(model: FreezerModel) -> list[int]:
    status = (
        STATUS_COMPRESSOR * model.compressor_running
        | STATUS_DOOR * model.door_open
        | STATUS_DEFROST * model.defrost
        | STATUS_ALARM * model.alarm
    )
    return [
        *float32_words(model.reading),
        int16_tenths(model.reading),
        int16_tenths(model.ambient_reading),
        round(model.duty_percent),
        status,
    ]


def holding_registers(model: FreezerModel) -> list[int]:
    return [int16_tenths(model.setpoint), int16_tenths(model.high_limit), int16_tenths(model.low_limit)]


def discrete_inputs(model: FreezerModel) -> list[bool]:
    return [model.door_open, model.compressor_running]


def coils(model: FreezerModel) -> list[bool]:
    return [model.buzzer_muted]


def check_range(address: int, count: int, size: int) -> None:
    if address + count > size:
        raise ModbusError(ILLEGAL_DATA_ADDRESS)


def write_holding(model: FreezerModel, address: int, words: list[int]) -> None:
    """Validate every value first, then apply them all (a rejected write changes nothing)."""
    check_range(address, len(words), HOLDING_REGISTER_COUNT)
    values = [from_int16_tenths(word) for word in words]
    for offset, value in enumerate(values):
        low, high = SETPOINT_RANGE if address + offset == 0 else LIMIT_RANGE
        if not low <= value <= high:
            raise ModbusError(ILLEGAL_DATA_VALUE)
    for offset, value in enumerate(values):
        register = address + offset
        if register == 0:
            model.setpoint = value
        elif register == 1:
            model.high_limit = value
        else:
            model.low_limit = value


def write_coils(model: FreezerModel, address: int, values: list[bool]) -> None:
    check_range(address, len(values), COIL_COUNT)
    # Muting only sticks while an alarm is active; the model resets it when the alarm clears.
    model.buzzer_muted = values[0] and model.alarm
