"""Registers to decimal strings and back. Pure functions, no I/O.

A Modbus register is 16 bits sent high byte first. Wider values span consecutive registers: ``word_order``
says whether the most significant register comes first ("big") or last ("little"), ``byte_order`` whether the
bytes inside each register are swapped ("little"). Integers are scaled exactly in decimal; a float becomes the
shortest decimal that reads back as the same float of its width, so a float32 21.7 is "21.7", not
"21.700000762939453".
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

from drivers.base import BadFrameError, UnencodableValueError
from drivers.modbus.config import FLOAT_TYPES, REGISTER_WIDTH, DataType, ModbusChannel, Order

# Our own context, so that a caller changing the thread's decimal context cannot change a reading. The
# precision is large enough that scaling any float64 or 32-bit integer is exact.
_CONTEXT = Context(
    prec=1000,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
_STRUCT: dict[DataType, str] = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "float32": ">f",
    "float64": ">d",
}
_MAX_TEXT = 64  # protocol.models.DecimalText


def registers_to_bytes(registers: Sequence[int], *, word_order: Order = "big", byte_order: Order = "big") -> bytes:
    """The value's bytes, most significant first, from registers in the device's word and byte order."""
    words = registers if word_order == "big" else registers[::-1]
    if byte_order == "big":
        return b"".join(word.to_bytes(2, "big") for word in words)
    return b"".join(word.to_bytes(2, "little") for word in words)


def bytes_to_registers(data: bytes, *, word_order: Order = "big", byte_order: Order = "big") -> list[int]:
    """The inverse of ``registers_to_bytes``."""
    if len(data) % 2:
        raise ValueError(f"registers hold whole pairs of bytes; got {len(data)} bytes")
    endian: Order = "big" if byte_order == "big" else "little"
    words = [int.from_bytes(data[i : i + 2], endian) for i in range(0, len(data), 2)]
    return words if word_order == "big" else words[::-1]


def unpack_number(
    registers: Sequence[int], data_type: DataType, *, word_order: Order = "big", byte_order: Order = "big"
) -> int | float:
    """The integer or float that ``registers`` encode."""
    if data_type == "bool":
        raise ValueError("a bool is not a number: use decode_registers")
    if len(registers) != REGISTER_WIDTH[data_type]:
        raise ValueError(f"a {data_type} spans {REGISTER_WIDTH[data_type]} registers, got {len(registers)}")
    data = registers_to_bytes(registers, word_order=word_order, byte_order=byte_order)
    number: int | float = struct.unpack(_STRUCT[data_type], data)[0]
    return number


def pack_number(
    number: int | float, data_type: DataType, *, word_order: Order = "big", byte_order: Order = "big"
) -> list[int]:
    """The registers that encode ``number``; ``UnencodableValueError`` when it does not fit the type."""
    if data_type == "bool":
        raise ValueError("a bool is not a number: use encode_value")
    try:
        data = struct.pack(_STRUCT[data_type], number)
    except (struct.error, OverflowError) as exc:
        raise UnencodableValueError(f"{number!r} does not fit a {data_type}") from exc
    return bytes_to_registers(data, word_order=word_order, byte_order=byte_order)


def float_decimal(number: float, data_type: DataType = "float64") -> Decimal | None:
    """The shortest decimal that reads back as ``number`` at the width of ``data_type``; None for NaN, inf."""
    if not math.isfinite(number):
        return None
    if data_type == "float32":
        return Decimal(_shortest_float32(number))
    return Decimal(repr(number))


def _shortest_float32(number: float) -> str:
    packed = struct.pack(">f", number)
    for digits in range(1, 10):  # nine significant digits always round-trip a float32
        text = f"{number:.{digits}g}"
        try:
            if struct.pack(">f", float(text)) == packed:
                return text
        except OverflowError:  # rounded up past the largest float32
            continue
    return repr(number)


def scale_value(value: Decimal, scale: Decimal, offset: Decimal) -> Decimal:
    """``value * scale + offset``, exactly."""
    return _CONTEXT.add(_CONTEXT.multiply(value, scale), offset)


def unscale_value(value: Decimal, scale: Decimal, offset: Decimal) -> Decimal:
    """``(value - offset) / scale``: the inverse of ``scale_value``."""
    return _CONTEXT.divide(_CONTEXT.subtract(value, offset), scale)


def decimal_text(value: Decimal) -> str:
    """A decimal as ``protocol.Observation`` carries it: fixed-point, keeping its resolution, never "-0"."""
    if value.is_zero():
        value = value.copy_abs()
    text = format(value, "f")
    if len(text) > _MAX_TEXT:
        text = format(value.normalize(_CONTEXT), "E")
    return text


def decode_registers(channel: ModbusChannel, registers: Sequence[int]) -> str | None:
    """The channel's value as a decimal string; None when the device holds NaN or infinity there.

    ``BadFrameError`` when the scaled value cannot be carried: beyond the decimal context, or more significant
    digits than ``protocol.Observation`` holds (a float64 times a scale of many digits)."""
    if channel.data_type == "bool":
        return decode_bit(registers[0] != 0)
    number = unpack_number(registers, channel.data_type, word_order=channel.word_order, byte_order=channel.byte_order)
    if isinstance(number, int):
        decoded = Decimal(number)
    else:
        as_decimal = float_decimal(number, channel.data_type)
        if as_decimal is None:
            return None
        decoded = as_decimal
    try:
        if channel.precision is not None and not isinstance(number, int):
            decoded = decoded.quantize(Decimal(1).scaleb(-channel.precision), context=_CONTEXT)
        text = decimal_text(scale_value(decoded, channel.scale_value, channel.offset_value))
    except ArithmeticError as exc:  # decimal's Overflow, InvalidOperation: a scale or offset far out of range
        raise BadFrameError(f"channel {channel.name}: {decoded} scaled by {channel.scale}: {exc!r}") from exc
    if len(text) > _MAX_TEXT:
        raise BadFrameError(
            f"channel {channel.name}: {decoded} scaled by {channel.scale} has {len(text)} characters, over the "
            f"{_MAX_TEXT} an observation carries; use a scale or offset with fewer digits, or a precision"
        )
    return text


def decode_bit(bit: bool) -> str:
    return "1" if bit else "0"


def encode_value(channel: ModbusChannel, value: Decimal) -> list[int]:
    """The registers that make the device read ``value`` on this channel: the inverse of ``decode_registers``.

    Raises ``UnencodableValueError`` rather than round: a value the device cannot hold exactly is refused.
    """
    if not value.is_finite():
        raise UnencodableValueError(f"{value} cannot be written to channel {channel.name}")
    raw = unscale_value(value, channel.scale_value, channel.offset_value)
    if channel.data_type in FLOAT_TYPES:
        number = float(raw)
        if not math.isfinite(number):
            raise UnencodableValueError(f"{value} is out of range for channel {channel.name} ({channel.data_type})")
        return pack_number(number, channel.data_type, word_order=channel.word_order, byte_order=channel.byte_order)
    if raw != raw.to_integral_value():
        raise UnencodableValueError(
            f"{value} is not a whole number of steps of {channel.scale} from {channel.offset}"
            f" for channel {channel.name}"
        )
    if channel.data_type == "bool":
        if raw not in (0, 1):
            raise UnencodableValueError(f"channel {channel.name} is a bool: write 0 or 1, not {value}")
        return [int(raw)]
    try:
        return pack_number(int(raw), channel.data_type, word_order=channel.word_order, byte_order=channel.byte_order)
    except UnencodableValueError as exc:
        raise UnencodableValueError(f"{value} is out of range for channel {channel.name}: {exc}") from exc
