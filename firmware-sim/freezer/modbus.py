"""Modbus application layer (PDU) and RTU framing helpers, written by hand.

Only what a small controller implements: functions 1, 2, 3, 4, 5, 6, 15 and 16, and the exception responses
1 (illegal function), 2 (illegal data address), 3 (illegal data value) and 4 (slave device failure).
"""

from __future__ import annotations

import enum
import struct
from typing import Protocol

ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
SLAVE_DEVICE_FAILURE = 4

MAX_READ_BITS = 2000
MAX_READ_REGISTERS = 125
MAX_WRITE_BITS = 1968
MAX_WRITE_REGISTERS = 123


class Table(enum.Enum):
    COILS = 1
    DISCRETE_INPUTS = 2
    HOLDING_REGISTERS = 3
    INPUT_REGISTERS = 4


class ModbusError(Exception):
    """Raised by a data model to answer with a Modbus exception response."""

    def __init__(self, code: int) -> None:
        super().__init__(f"modbus exception {code}")
        self.code = code


class DataModel(Protocol):
    def read_bits(self, table: Table, address: int, count: int) -> list[bool]: ...

    def read_registers(self, table: Table, address: int, count: int) -> list[int]: ...

    def write_coils(self, address: int, values: list[bool]) -> None: ...

    def write_registers(self, address: int, values: list[int]) -> None: ...


def exception_response(function: int, code: int) -> bytes:
    return bytes((function | 0x80, code))


def handle_pdu(pdu: bytes, model: DataModel) -> bytes:
    """Answer one request PDU (function code + data) with a response PDU."""
    function = pdu[0]
    try:
        return _dispatch(function, pdu[1:], model)
    except ModbusError as err:
        return exception_response(function, err.code)


def _dispatch(function: int, data: bytes, model: DataModel) -> bytes:
    if function in (1, 2):
        return _read_bits(function, data, model)
    if function in (3, 4):
        return _read_registers(function, data, model)
    if function == 5:
        return _write_single_coil(data, model)
    if function == 6:
        return _write_single_register(data, model)
    if function == 15:
        return _write_multiple_coils(data, model)
    if function == 16:
        return _write_multiple_registers(data, model)
    raise ModbusError(ILLEGAL_FUNCTION)


def _address_count(data: bytes, limit: int) -> tuple[int, int]:
    if len(data) < 4:
        raise ModbusError(ILLEGAL_DATA_VALUE)
    address, count = struct.unpack(">HH", data[:4])
    if not 1 <= count <= limit:
        raise ModbusError(ILLEGAL_DATA_VALUE)
    return address, count


def _read_bits(function: int, data: bytes, model: DataModel) -> bytes:
    address, count = _address_count(data, MAX_READ_BITS)
    table = Table.COILS if function == 1 else Table.DISCRETE_INPUTS
    packed = pack_bits(model.read_bits(table, address, count))
    return bytes((function, len(packed))) + packed


def _read_registers(function: int, data: bytes, model: DataModel) -> bytes:
    address, count = _address_count(data, MAX_READ_REGISTERS)
    table = Table.HOLDING_REGISTERS if function == 3 else Table.INPUT_REGISTERS
    words = model.read_registers(table, address, count)
    return bytes((function, 2 * count)) + struct.pack(f">{count}H", *words)


def _write_single_coil(data: bytes, model: DataModel) -> bytes:
    if len(data) != 4:
        raise ModbusError(ILLEGAL_DATA_VALUE)
    address, value = struct.unpack(">HH", data)
    if value not in (0x0000, 0xFF00):
        raise ModbusError(ILLEGAL_DATA_VALUE)
    model.write_coils(address, [value == 0xFF00])
    return bytes((5,)) + data


def _write_single_register(data: bytes, model: DataModel) -> bytes:
    if len(data) != 4:
        raise ModbusError(ILLEGAL_DATA_VALUE)
    address, value = struct.unpack(">HH", data)
    model.write_registers(address, [value])
    return bytes((6,)) + data


def _write_multiple_coils(data: bytes, model: DataModel) -> bytes:
    address, count = _address_count(data, MAX_WRITE_BITS)
    byte_count = (count + 7) // 8
    if len(data) != 5 + byte_count or data[4] != byte_count:
        raise ModbusError(ILLEGAL_DATA_VALUE)
    model.write_coils(address, unpack_bits(data[5:], count))
    return bytes((15,)) + data[:4]


def _write_multiple_registers(data: bytes, model: DataModel) -> bytes:
    address, count = _address_count(data, MAX_WRITE_REGISTERS)
    if len(data) != 5 + 2 * count or data[4] != 2 * count:
        raise ModbusError(ILLEGAL_DATA_VALUE)
    model.write_registers(address, list(struct.unpack(f">{count}H", data[5:])))
    return bytes((16,)) + data[:4]


def pack_bits(bits: list[bool]) -> bytes:
    """Pack bits LSB first, eight to a byte, as Modbus does."""
    out = bytearray((len(bits) + 7) // 8)
    for index, bit in enumerate(bits):
        if bit:
            out[index // 8] |= 1 << (index % 8)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> list[bool]:
    return [bool(data[index // 8] >> (index % 8) & 1) for index in range(count)]


def crc16(frame: bytes) -> int:
    """Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(frame: bytes) -> bytes:
    """Append the CRC, low byte first."""
    return frame + struct.pack("<H", crc16(frame))


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]


def rtu_request_length(buffer: bytes | bytearray) -> int | None:
    """Length of the RTU request frame at the start of ``buffer``, or None while it cannot be known yet.

    For a function code this device does not know, the whole buffer is taken as the frame once its CRC checks,
    so that it can be answered with exception 1.
    """
    if len(buffer) < 2:
        return None
    function = buffer[1]
    if function in (1, 2, 3, 4, 5, 6):
        return 8
    if function in (15, 16):
        return 9 + buffer[6] if len(buffer) >= 7 else None
    return len(buffer) if crc_ok(bytes(buffer)) else None
