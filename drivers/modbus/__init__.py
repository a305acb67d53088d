"""Modbus TCP and RTU devices (pymodbus 3.16 async clients).

Configure a device with a connection and its channels, then drive it through the ``drivers.Driver`` shape::

    driver = ModbusDriver("freezer-3", ModbusTcpConnection(host="10.0.0.7"), channels)
    await driver.open()
    observations = await driver.poll()

Devices on one RS-485 port share one bus (one lock, one client, a quiet gap between frames): ``bus_for_port``.
"""

from drivers.modbus.bus import ClientFactory, ModbusBus, ModbusClient, bus_for_port, pymodbus_client
from drivers.modbus.config import (
    DataType,
    ModbusChannel,
    ModbusChannels,
    ModbusConnection,
    ModbusRtuConnection,
    ModbusTcpConnection,
    Order,
    Table,
    frame_gap_s,
)
from drivers.modbus.decode import decode_registers, encode_value
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.plan import ReadBlock, plan_reads
from drivers.modbus.settings import ModbusDeviceSettings, create_driver

__all__ = [
    "ClientFactory",
    "DataType",
    "ModbusBus",
    "ModbusChannel",
    "ModbusChannels",
    "ModbusClient",
    "ModbusConnection",
    "ModbusDeviceSettings",
    "ModbusDriver",
    "ModbusRtuConnection",
    "ModbusTcpConnection",
    "Order",
    "ReadBlock",
    "Table",
    "bus_for_port",
    "create_driver",
    "decode_registers",
    "encode_value",
    "frame_gap_s",
    "plan_reads",
    "pymodbus_client",
]
