"""A Modbus device as a ``Driver``: each poll reads every channel, in as few requests as the plan allows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import TypeAdapter, ValidationError

from drivers.base import (
    DeviceExceptionError,
    DriverConfigError,
    DriverError,
    DriverStatus,
    DriverUnavailableError,
)
from drivers.modbus.bus import ModbusBus, bus_for_port
from drivers.modbus.config import (
    BIT_TABLES,
    ModbusChannel,
    ModbusChannels,
    ModbusRtuConnection,
    ModbusTcpConnection,
)
from drivers.modbus.decode import decode_bit, decode_registers, encode_value
from drivers.modbus.plan import ReadBlock, plan_reads, split_block
from protocol.models import Identifier, Observation

logger = logging.getLogger(__name__)

ILLEGAL_DATA_ADDRESS = 0x02
_DEVICE_ID: TypeAdapter[str] = TypeAdapter(Identifier)
_CHANNELS: TypeAdapter[tuple[ModbusChannel, ...]] = TypeAdapter(ModbusChannels)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ModbusDriver:
    """One Modbus device over TCP or RTU.

    ``bus`` defaults to a bus of the device's own for TCP, and to the port's shared bus for RTU. A poll that
    fails raises and returns nothing: no channel is ever given a value the device did not send. A float
    channel holding NaN or infinity reads as ``value=None, quality="bad"``.
    """

    def __init__(
        self,
        device_id: str,
        connection: ModbusTcpConnection | ModbusRtuConnection,
        channels: Sequence[ModbusChannel],
        bus: ModbusBus | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        try:
            self.device_id = _DEVICE_ID.validate_python(device_id)
            self.channels = _CHANNELS.validate_python(tuple(channels))
        except ValidationError as exc:
            raise DriverConfigError(f"device {device_id!r}: {exc}") from exc
        self.connection = connection
        self.bus = bus if bus is not None else _own_bus(connection)
        self.bus.bind(connection)
        self._by_name = {channel.name: channel for channel in self.channels}
        self._plan = plan_reads(self.channels)
        self._clock = clock
        self._attached = False
        self._status = DriverStatus()

    def __repr__(self) -> str:
        return f"ModbusDriver({self.device_id!r}, {self.bus.name!r}, unit={self.connection.unit})"

    @property
    def plan(self) -> tuple[ReadBlock, ...]:
        """The read requests one poll makes."""
        return self._plan

    def status(self) -> DriverStatus:
        return self._status

    async def open(self) -> None:
        if not self._attached:
            self.bus.attach()
            self._attached = True
        try:
            await self.bus.connect()
        except DriverError as exc:
            self._status = self._status.failed(exc, poll=False)
            raise
        self._status = self._status.opened()

    async def close(self) -> None:
        if self._attached:
            self._attached = False
            await self.bus.detach()
        self._status = self._status.closed()

    async def poll(self) -> list[Observation]:
        if not self._attached:
            raise DriverUnavailableError(f"{self.device_id}: closed; call open() first")
        try:
            values = await self._read_all()
        except DriverError as exc:
            self._status = self._status.failed(exc)
            raise
        self._status = self._status.succeeded(self._clock())
        return [
            Observation(
                device=self.device_id,
                channel=channel.name,
                value=values[channel.name],
                unit=channel.unit,
                quality="good" if values[channel.name] is not None else "bad",
            )
            for channel in self.channels
        ]

    async def write_register(self, channel_name: str, value: Decimal) -> None:
        """Make the device hold ``value`` on a writable holding-register channel (scale and offset undone).

        Raises ``DriverConfigError`` for an unknown or read-only channel and ``UnencodableValueError`` for a
        value the registers cannot hold exactly; nothing is sent in either case.
        """
        channel = self._by_name.get(channel_name)
        if channel is None:
            raise DriverConfigError(f"{self.device_id}: no channel named {channel_name!r}")
        if not channel.writable:
            raise DriverConfigError(f"{self.device_id}: channel {channel_name!r} is not marked writable")
        registers = encode_value(channel, value)
        if not self._attached:
            raise DriverUnavailableError(f"{self.device_id}: closed; call open() first")
        try:
            await self.bus.write_registers(channel.address, registers, unit=self.connection.unit)
        except DriverError as exc:
            self._status = self._status.failed(exc, poll=False)
            raise
        self._status = self._status.succeeded(self._clock(), poll=False)

    async def _read_all(self) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for block in self._plan:
            for part, data in await self._read_block(block):
                for channel in part.channels:
                    values[channel.name] = _decode(part, channel, data)
        return values

    async def _read_block(self, block: ReadBlock) -> list[tuple[ReadBlock, Sequence[int]]]:
        try:
            return [(block, await self._read(block))]
        except DeviceExceptionError as exc:
            parts = split_block(block)
            if exc.code != ILLEGAL_DATA_ADDRESS or len(parts) == 1:
                raise
        # Some devices refuse a read that crosses an address they do not implement: from now on, read around
        # the gaps.
        logger.info(
            "%s: %s %d+%d refused as an illegal address; reading it as %d requests",
            self.device_id,
            block.table,
            block.address,
            block.count,
            len(parts),
        )
        index = self._plan.index(block)
        self._plan = (*self._plan[:index], *parts, *self._plan[index + 1 :])
        return [(part, await self._read(part)) for part in parts]

    async def _read(self, block: ReadBlock) -> Sequence[int]:
        unit = self.connection.unit
        if block.table in BIT_TABLES:
            return await self.bus.read_bits(block.table, block.address, block.count, unit=unit)
        return await self.bus.read_registers(block.table, block.address, block.count, unit=unit)


def _decode(block: ReadBlock, channel: ModbusChannel, data: Sequence[int]) -> str | None:
    start = channel.address - block.address
    if block.table in BIT_TABLES:
        return decode_bit(data[start] != 0)
    return decode_registers(channel, data[start : start + channel.width])


def _own_bus(connection: ModbusTcpConnection | ModbusRtuConnection) -> ModbusBus:
    if isinstance(connection, ModbusRtuConnection):
        return bus_for_port(connection.port)
    return ModbusBus(f"tcp:{connection.host}:{connection.port}")
