"""Modbus device configuration: what a bad config file is refused for."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from drivers.modbus import (
    ModbusChannel,
    ModbusChannels,
    ModbusConnection,
    ModbusRtuConnection,
    ModbusTcpConnection,
    frame_gap_s,
)


def channel(**fields: Any) -> ModbusChannel:
    return ModbusChannel.model_validate({"name": "t", "table": "holding", "address": 0, "data_type": "int16"} | fields)


def test_tcp_connection_defaults() -> None:
    conn = ModbusTcpConnection(host="10.0.0.7")
    assert (conn.port, conn.unit, conn.timeout_s) == (502, 1, 1.0)


def test_rtu_frame_gap_defaults_to_three_and_a_half_characters() -> None:
    assert ModbusRtuConnection(port="/dev/ttyUSB0").inter_frame_gap_s == pytest.approx(3.5 * 10 / 9600)
    assert ModbusRtuConnection(port="/dev/ttyUSB0", baudrate=1200, parity="E").inter_frame_gap_s == (
        pytest.approx(3.5 * 11 / 1200)
    )


def test_rtu_frame_gap_is_at_least_two_milliseconds() -> None:
    assert ModbusRtuConnection(port="/dev/ttyUSB0", baudrate=115200).inter_frame_gap_s == 0.002
    assert frame_gap_s(19200) == 0.002


def test_rtu_frame_gap_can_be_set() -> None:
    assert ModbusRtuConnection(port="/dev/ttyUSB0", inter_frame_gap_s=0.05).inter_frame_gap_s == 0.05


def test_connection_kind_is_chosen_by_transport() -> None:
    adapter: TypeAdapter[ModbusTcpConnection | ModbusRtuConnection] = TypeAdapter(ModbusConnection)
    assert isinstance(adapter.validate_python({"transport": "tcp", "host": "h"}), ModbusTcpConnection)
    assert isinstance(adapter.validate_python({"transport": "rtu", "port": "COM3"}), ModbusRtuConnection)


@pytest.mark.parametrize(
    "fields",
    [
        {"unit": 0},
        {"unit": 248},
        {"parity": "X"},
        {"stopbits": 3},
        {"timeout_s": 0},
        {"baud": 9600},
    ],
)
def test_rtu_connection_refuses_bad_settings(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ModbusRtuConnection.model_validate({"port": "/dev/ttyUSB0"} | fields)


def test_models_are_frozen() -> None:
    conn = ModbusTcpConnection(host="h")
    with pytest.raises(ValidationError):
        conn.host = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scale": 0.1}, "quoted decimal string"),
        ({"offset": 1.5}, "quoted decimal string"),
        ({"scale": "0"}, "must not be zero"),
        ({"scale": "1/10"}, "pattern"),
        ({"table": "coil"}, "data_type must be 'bool'"),
        ({"data_type": "bool", "scale": "0.1"}, "takes no scale or offset"),
        ({"precision": 2}, "precision applies to float32/float64"),
        ({"data_type": "float64", "address": 65533}, "runs past the last address"),
        ({"table": "input", "writable": True}, "only holding registers can be written"),
        ({"name": "bad name"}, "pattern"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_channel_refuses_inconsistent_settings(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        channel(**fields)


def test_channel_accepts_integer_scale_and_float_precision() -> None:
    assert channel(scale=10).scale == "10"
    assert channel(data_type="float32", precision=2, scale="0.1").precision == 2
    assert channel(table="coil", data_type="bool").width == 1
    assert channel(data_type="float64").width == 4


def test_channel_names_must_be_unique_per_device() -> None:
    adapter: TypeAdapter[tuple[ModbusChannel, ...]] = TypeAdapter(ModbusChannels)
    with pytest.raises(ValidationError, match="repeated: t"):
        adapter.validate_python([channel(), channel(address=1)])
    with pytest.raises(ValidationError):
        adapter.validate_python([])
    assert len(adapter.validate_python([channel(), channel(name="u")])) == 2
