"""Line checksums of ASCII instruments. Pure functions, no I/O.

CRC-16/MODBUS: polynomial 0x8005 reflected (0xA001), initial 0xFFFF; check value 0x4B37 over ``b"123456789"``.
CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, not reflected; check value 0x29B1. Both are table-driven:
a line is checked on every poll, and a bitwise CRC costs more than the rest of the parse.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.serial.config import ChecksumKind


def _reflected_table(polynomial: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def _forward_table(polynomial: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ polynomial if crc & 0x8000 else crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_MODBUS_TABLE = _reflected_table(0xA001)
_CCITT_TABLE = _forward_table(0x1021)


def xor8(data: bytes) -> int:
    """Every byte XORed together (NMEA 0183)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def sum8(data: bytes) -> int:
    """The sum of the bytes, modulo 256."""
    return sum(data) & 0xFF


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    table = _MODBUS_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE."""
    crc = 0xFFFF
    table = _CCITT_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


CHECKSUMS: dict[ChecksumKind, Callable[[bytes], int]] = {
    "xor8": xor8,
    "sum8": sum8,
    "crc16_modbus": crc16_modbus,
    "crc16_ccitt": crc16_ccitt,
}


def checksum_value(kind: ChecksumKind, data: bytes) -> int:
    """The checksum of ``data``; ValueError for ``"none"``."""
    if kind == "none":
        raise ValueError("checksum kind 'none' has no value")
    return CHECKSUMS[kind](data)
