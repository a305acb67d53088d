"""A Modbus device as the edge configures it: connection and channel map, and the factory that builds its driver."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from drivers.modbus.config import ModbusChannels, ModbusConnection
from drivers.modbus.driver import ModbusDriver


class ModbusDeviceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    driver: Literal["modbus"] = "modbus"
    connection: ModbusConnection
    channels: ModbusChannels


def create_driver(device_id: str, settings: ModbusDeviceSettings) -> ModbusDriver:
    return ModbusDriver(device_id, settings.connection, settings.channels)
