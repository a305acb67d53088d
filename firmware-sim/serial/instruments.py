"""The two instruments and their ASCII protocol: what they measure, what they answer, how a line is framed.

Values follow slow, seeded curves with a little noise, as a function of seconds since start, so two runs with
one seed print the same numbers at the same moments.
"""

from __future__ import annotations

import math
import random
from typing import Protocol

TERMINATOR = b"\r\n"
CHECKSUM_SEPARATOR = "*"


def xor8(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def sum8(data: bytes) -> int:
    return sum(data) & 0xFF


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, not reflected."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


CHECKSUMS = {"xor8": (xor8, 2), "sum8": (sum8, 2), "crc16_modbus": (crc16_modbus, 4), "crc16_ccitt": (crc16_ccitt, 4)}


def checksum_text(kind: str, data: bytes) -> str:
    function, digits = CHECKSUMS[kind]
    return f"{function(data):0{digits}X}"


def frame(payload: str, *, address: str, checksum: str) -> bytes:
    """``<address><payload>[*<checksum>]\\r\\n``; the checksum covers the address and the payload."""
    text = (address + payload).encode("ascii")
    if checksum != "none":
        text += f"{CHECKSUM_SEPARATOR}{checksum_text(checksum, text)}".encode("ascii")
    return text + TERMINATOR


class Instrument(Protocol):
    kind: str
    natural_mode: str

    def answer(self, command: str, t: float) -> str: ...

    def reading(self, t: float) -> str: ...


class Probe:
    """A Pt100 temperature probe in a -80 °C freezer, in °C with two decimals and a sign: ``T=-80.12 C``."""

    kind = "probe"
    natural_mode = "request"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def temperature(self, t: float) -> float:
        return -80.0 + 0.35 * math.sin(2 * math.pi * t / 90.0) + self._rng.gauss(0.0, 0.02)

    def reading(self, t: float) -> str:
        return f"T={self.temperature(t):+.2f} C"

    def answer(self, command: str, t: float) -> str:
        if command == "T?":
            return self.reading(t)
        if command == "ID?":
            return "ID=TRACSEQ-SIM TP-100 SN 0412 FW 1.3"
        if command == "U?":
            return "U=C"
        return "ERR=UNKNOWN COMMAND"


class Ln2Level:
    """An LN2 dewar level sensor: fill level in % (zero-padded, one decimal) and vapour-phase temperature in °C:
    ``L=072.5;T=-187.3``. The level drains 0.01 %/s and is refilled to 80 % when it reaches 20 %."""

    kind = "ln2"
    natural_mode = "stream"
    START_LEVEL = 72.5

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def level(self, t: float) -> float:
        drained = 0.01 * t
        first_cycle = self.START_LEVEL - 20.0
        if drained <= first_cycle:
            return self.START_LEVEL - drained
        return 80.0 - (drained - first_cycle) % 60.0

    def vapour(self, t: float) -> float:
        return -187.3 + (self.START_LEVEL - self.level(t)) * 0.05 + self._rng.gauss(0.0, 0.1)

    def reading(self, t: float) -> str:
        return f"L={self.level(t):05.1f};T={self.vapour(t):+.1f}"

    def answer(self, command: str, t: float) -> str:
        if command == "L?":
            return self.reading(t)
        if command == "ID?":
            return "ID=TRACSEQ-SIM LN2-200 SN 1187 FW 2.0"
        return "ERR=UNKNOWN COMMAND"


KINDS: dict[str, type[Probe] | type[Ln2Level]] = {"probe": Probe, "ln2": Ln2Level}
