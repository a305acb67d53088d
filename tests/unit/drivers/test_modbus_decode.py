"""Registers to decimal strings and back, without I/O."""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import UnencodableValueError
from drivers.modbus import ModbusChannel, decode_registers, encode_value
from drivers.modbus.config import DataType, Order
from drivers.modbus.decode import (
    bytes_to_registers,
    decimal_text,
    float_decimal,
    pack_number,
    registers_to_bytes,
    unpack_number,
)

DECIMAL_TEXT = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")  # protocol.models.DecimalText
ORDERS: list[Order] = ["big", "little"]
INTEGER_TYPES: list[DataType] = ["int16", "uint16", "int32", "uint32"]
WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}


def channel(data_type: DataType, **fields: Any) -> ModbusChannel:
    return ModbusChannel(name="c", table="holding", address=0, data_type=data_type, **fields)


def registers(width: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 0xFFFF), min_size=width, max_size=width)


# 21.5 as a float32 is 0x41AC0000; -123456789 as an int32 is 0xF8A432EB.
@pytest.mark.parametrize(
    ("word_order", "byte_order", "float_registers", "int_registers"),
    [
        ("big", "big", [0x41AC, 0x0000], [0xF8A4, 0x32EB]),
        ("little", "big", [0x0000, 0x41AC], [0x32EB, 0xF8A4]),
        ("big", "little", [0xAC41, 0x0000], [0xA4F8, 0xEB32]),
        ("little", "little", [0x0000, 0xAC41], [0xEB32, 0xA4F8]),
    ],
)
def test_32_bit_values_decode_in_every_word_and_byte_order(
    word_order: Order, byte_order: Order, float_registers: list[int], int_registers: list[int]
) -> None:
    orders = {"word_order": word_order, "byte_order": byte_order}
    assert unpack_number(float_registers, "float32", **orders) == 21.5
    assert unpack_number(int_registers, "int32", **orders) == -123456789
    assert decode_registers(channel("float32", **orders), float_registers) == "21.5"
    assert decode_registers(channel("int32", **orders), int_registers) == "-123456789"


def test_float64_word_order_reverses_all_four_registers() -> None:
    # 1.0 is 0x3FF0_0000_0000_0000
    assert unpack_number([0x3FF0, 0, 0, 0], "float64") == 1.0
    assert unpack_number([0, 0, 0, 0x3FF0], "float64", word_order="little") == 1.0
    assert unpack_number([0, 0, 0, 0xF03F], "float64", word_order="little", byte_order="little") == 1.0


def test_byte_order_swaps_the_bytes_of_a_16_bit_register() -> None:
    assert unpack_number([0x0102], "uint16") == 0x0102
    assert unpack_number([0x0102], "uint16", byte_order="little") == 0x0201
    assert unpack_number([0xFFFF], "int16") == -1


def test_wrong_number_of_registers_is_refused() -> None:
    with pytest.raises(ValueError, match="spans 2 registers, got 1"):
        unpack_number([1], "int32")


@pytest.mark.parametrize(
    ("data_type", "raw", "scale", "offset", "expected"),
    [
        ("int16", -803, "0.1", "0", "-80.3"),
        ("int16", 200, "0.1", "0", "20.0"),
        ("int16", 0, "-0.1", "0", "0.0"),
        ("uint16", 65535, "1", "0", "65535"),
        ("uint16", 6543, "0.01", "-40", "25.43"),
        ("uint16", 5, "10", "0", "50"),
        ("uint16", 5, "1E+1", "0", "50"),
        ("uint32", 4294967295, "0.001", "0", "4294967.295"),
        ("int32", -1, "0.5", "0.25", "-0.25"),
    ],
)
def test_integers_scale_exactly(data_type: DataType, raw: int, scale: str, offset: str, expected: str) -> None:
    regs = pack_number(raw, data_type)
    assert decode_registers(channel(data_type, scale=scale, offset=offset), regs) == expected


def test_a_float32_reads_as_its_shortest_decimal() -> None:
    # the float32 nearest 21.7 is 21.700000762939453 as a double; the device meant 21.7
    assert decode_registers(channel("float32"), pack_number(21.7, "float32")) == "21.7"
    assert decode_registers(channel("float32"), pack_number(0.1, "float32")) == "0.1"
    assert decode_registers(channel("float32"), pack_number(-0.0, "float32")) == "0"
    assert decode_registers(channel("float64"), pack_number(0.1, "float64")) == "0.1"


def test_float_precision_keeps_that_many_decimals_before_scaling() -> None:
    regs = pack_number(21.456, "float32")
    assert decode_registers(channel("float32", precision=2), regs) == "21.46"
    assert decode_registers(channel("float32", precision=0), regs) == "21"
    assert decode_registers(channel("float32", precision=1, scale="10"), regs) == "215.0"
    assert decode_registers(channel("float32", precision=3), pack_number(2.0, "float32")) == "2.000"


def test_float_scale_and_offset_apply_to_the_decimal() -> None:
    regs = pack_number(21.5, "float32")
    assert decode_registers(channel("float32", scale="0.1", offset="-1"), regs) == "1.15"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("data_type", ["float32", "float64"])
def test_nan_and_infinity_read_as_no_value(value: float, data_type: DataType) -> None:
    assert decode_registers(channel(data_type), pack_number(value, data_type)) is None


def test_bool_register_is_one_when_any_bit_is_set() -> None:
    assert decode_registers(channel("bool"), [0]) == "0"
    assert decode_registers(channel("bool"), [0x0100]) == "1"


def test_huge_floats_fall_back_to_scientific_notation_within_64_characters() -> None:
    text = decode_registers(channel("float64", precision=2), pack_number(1e300, "float64"))
    assert text == "1E+300"
    assert decimal_text(Decimal("-0.000")) == "0.000"


def test_encode_inverts_scale_and_offset() -> None:
    assert encode_value(channel("int16", scale="0.1"), Decimal("-80.3")) == [(-803) & 0xFFFF]
    assert encode_value(channel("uint16", scale="0.01", offset="-40"), Decimal("25.43")) == [6543]
    assert encode_value(channel("int32", word_order="little"), Decimal("-123456789")) == [0x32EB, 0xF8A4]
    assert encode_value(channel("float32"), Decimal("21.5")) == [0x41AC, 0x0000]
    assert encode_value(channel("bool"), Decimal("1")) == [1]


@pytest.mark.parametrize(
    ("data_type", "fields", "value", "message"),
    [
        ("int16", {"scale": "0.1"}, "-80.25", "not a whole number of steps"),
        ("int16", {"scale": "0.1"}, "4000", "out of range"),
        ("uint16", {}, "-1", "out of range"),
        ("float32", {}, "1E+39", "does not fit a float32"),
        ("float64", {}, "1E+400", "out of range"),
        ("float32", {}, "NaN", "cannot be written"),
        ("bool", {}, "2", "write 0 or 1"),
    ],
)
def test_encode_refuses_values_the_registers_cannot_hold(
    data_type: DataType, fields: dict[str, Any], value: str, message: str
) -> None:
    with pytest.raises(UnencodableValueError, match=message):
        encode_value(channel(data_type, **fields), Decimal(value))


def test_unencodable_value_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_value(channel("uint16"), Decimal("70000"))


@given(st.sampled_from(INTEGER_TYPES), st.sampled_from(ORDERS), st.sampled_from(ORDERS), st.data())
def test_integer_registers_round_trip_bit_for_bit(
    data_type: DataType, word_order: Order, byte_order: Order, data: st.DataObject
) -> None:
    regs = data.draw(registers(WIDTH[data_type]))
    orders = {"word_order": word_order, "byte_order": byte_order}
    number = unpack_number(regs, data_type, **orders)
    assert pack_number(number, data_type, **orders) == regs


@given(st.sampled_from(["float32", "float64"]), st.sampled_from(ORDERS), st.sampled_from(ORDERS), st.data())
def test_finite_float_registers_round_trip_through_their_decimal_text(
    data_type: DataType, word_order: Order, byte_order: Order, data: st.DataObject
) -> None:
    regs = data.draw(registers(WIDTH[data_type]))
    orders = {"word_order": word_order, "byte_order": byte_order}
    number = unpack_number(regs, data_type, **orders)
    ch = channel(data_type, **orders)
    text = decode_registers(ch, regs)
    if not math.isfinite(number):
        assert text is None
        return
    assert text is not None
    assert DECIMAL_TEXT.match(text)
    assert len(text) <= 64
    back = encode_value(ch, Decimal(text))
    if number == 0:  # -0.0 reads as "0" and is written back as +0.0
        assert unpack_number(back, data_type, **orders) == 0
    else:
        assert back == regs


@given(
    st.sampled_from(INTEGER_TYPES),
    st.sampled_from(["1", "0.1", "0.01", "0.5", "-0.1", "10", "2.5"]),
    st.sampled_from(["0", "-40", "273.15", "0.5"]),
    st.data(),
)
def test_scaled_integers_round_trip_through_their_decimal_text(
    data_type: DataType, scale: str, offset: str, data: st.DataObject
) -> None:
    regs = data.draw(registers(WIDTH[data_type]))
    ch = channel(data_type, scale=scale, offset=offset)
    text = decode_registers(ch, regs)
    assert text is not None
    assert DECIMAL_TEXT.match(text)
    assert encode_value(ch, Decimal(text)) == regs


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_shortest_float32_decimal_reads_back_as_the_same_float32(number: float) -> None:
    text = float_decimal(number, "float32")
    assert text is not None
    assert struct.pack(">f", float(text)) == struct.pack(">f", number)
    assert len(text.as_tuple().digits) <= 9


@given(st.binary(min_size=0, max_size=16).filter(lambda b: len(b) % 2 == 0))
def test_bytes_and_registers_are_inverse(data: bytes) -> None:
    for word_order in ORDERS:
        for byte_order in ORDERS:
            regs = bytes_to_registers(data, word_order=word_order, byte_order=byte_order)
            assert registers_to_bytes(regs, word_order=word_order, byte_order=byte_order) == data
