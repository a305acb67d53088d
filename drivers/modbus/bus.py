"""A Modbus line: one client, one lock, a quiet gap between frames, and pymodbus errors translated to ours.

Every device on one RS-485 port shares one bus (``bus_for_port``): per-device locks would let two requests
collide on the wire. A TCP device gets a bus of its own unless the caller passes a shared one (several units
behind one gateway). pymodbus neither retries nor reconnects on its own here: the edge supervisor does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from drivers.base import (
    BadFrameError,
    DeviceExceptionError,
    DriverConfigError,
    DriverError,
    DriverTimeoutError,
    DriverUnavailableError,
)
from drivers.modbus.config import ModbusRtuConnection, ModbusTcpConnection, Table

logger = logging.getLogger(__name__)

Connection = ModbusTcpConnection | ModbusRtuConnection
ReadTable = Callable[["ModbusClient", int, int, int], Awaitable[ModbusPDU]]

READ_FUNCTION_CODES: dict[Table, int] = {"coil": 0x01, "discrete": 0x02, "holding": 0x03, "input": 0x04}
WRITE_SINGLE_REGISTER = 0x06
WRITE_MULTIPLE_REGISTERS = 0x10
EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server device busy",
    0x08: "memory parity error",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target device failed to respond",
}
RETRYABLE_EXCEPTIONS = frozenset({0x05, 0x06, 0x0A, 0x0B})
# pymodbus 3.16 reports a request that got no answer as a ModbusIOException with this text, and no other mark.
_NO_RESPONSE = "No response received"


class ModbusClient(Protocol):
    """The part of a pymodbus async client a bus uses; the seam for testing without sockets."""

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> bool: ...

    def close(self) -> None: ...

    def read_coils(
        self, address: int, *, count: int = 1, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]: ...

    def read_discrete_inputs(
        self, address: int, *, count: int = 1, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]: ...

    def read_holding_registers(
        self, address: int, *, count: int = 1, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]: ...

    def read_input_registers(
        self, address: int, *, count: int = 1, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]: ...

    def write_register(
        self, address: int, value: int, *, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]: ...

    def write_registers(
        self, address: int, values: Sequence[int], *, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]: ...


ClientFactory = Callable[[Connection], ModbusClient]


def pymodbus_client(connection: Connection) -> ModbusClient:
    """A pymodbus client for the line, its own retries and reconnects turned off. Needs a running loop."""
    if isinstance(connection, ModbusTcpConnection):
        return AsyncModbusTcpClient(
            connection.host,
            port=connection.port,
            timeout=connection.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
    return AsyncModbusSerialClient(
        connection.port,
        baudrate=connection.baudrate,
        bytesize=connection.bytesize,
        parity=connection.parity,
        stopbits=connection.stopbits,
        timeout=connection.timeout_s,
        retries=0,
        reconnect_delay=0,
    )


class ModbusBus:
    """One line to one or more Modbus devices: one client and one lock, shared by the devices' drivers.

    The line's settings come from the first connection bound to it; devices that disagree are refused. The
    client is created on first ``connect`` (it needs the running loop) and closed when the last driver leaves.
    """

    def __init__(
        self,
        name: str,
        *,
        client_factory: ClientFactory = pymodbus_client,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self._client_factory = client_factory
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._line: Connection | None = None
        self._client: ModbusClient | None = None
        self._users = 0
        self._quiet_at = float("-inf")

    def __repr__(self) -> str:
        return f"ModbusBus({self.name!r}, users={self._users})"

    @property
    def line(self) -> Connection | None:
        """The connection whose settings the line uses (its ``unit`` is the first device's, nothing more)."""
        return self._line

    def bind(self, connection: Connection) -> None:
        """Check that a device's connection fits this line; the first one sets the line's settings."""
        if self._line is None:
            self._line = connection
            return
        ours, theirs = _line_settings(self._line), _line_settings(connection)
        if ours != theirs:
            diff = ", ".join(f"{k}: {ours.get(k)!r} vs {theirs.get(k)!r}" for k in ours if ours[k] != theirs.get(k))
            raise DriverConfigError(f"{self.name}: every device on one line must share its settings ({diff})")

    def attach(self) -> None:
        """Count one more driver using the line."""
        self._users += 1

    async def detach(self) -> None:
        """Count one driver fewer; the last one out closes the client. Never raises."""
        self._users = max(0, self._users - 1)
        if self._users or self._client is None:
            return
        client, self._client = self._client, None
        try:
            client.close()
        except Exception:  # close must not raise; nothing useful can be done with the error
            logger.warning("closing %s failed", self.name, exc_info=True)

    async def connect(self) -> None:
        """Connect the line's client if it is not connected. ``DriverUnavailableError`` when that fails."""
        if self._line is None:
            raise DriverConfigError(f"{self.name}: no connection bound to the line")
        async with self._lock:
            if self._client is None:
                try:
                    self._client = self._client_factory(self._line)
                except (TypeError, ValueError, ModbusException, RuntimeError) as exc:
                    raise DriverConfigError(f"{self.name}: cannot create a client: {exc}") from exc
            if self._client.connected:
                return
            try:
                connected = await self._client.connect()
            except ValueError as exc:  # pyserial refusing the port settings
                raise DriverConfigError(f"{self.name}: {exc}") from exc
            except (OSError, ModbusException) as exc:
                raise DriverUnavailableError(f"{self.name}: cannot connect: {exc}") from exc
            if not connected:
                raise DriverUnavailableError(f"{self.name}: cannot connect")

    async def read_registers(self, table: Table, address: int, count: int, *, unit: int) -> list[int]:
        """``count`` holding or input registers from ``address``."""
        function_code = READ_FUNCTION_CODES[table]
        read = _READERS[function_code]
        what = f"read of {count} {table} registers at {address} from unit {unit}"
        response = await self._exchange(lambda c: read(c, address, count, unit), function_code, what)
        registers = list(response.registers)
        if len(registers) != count:
            raise BadFrameError(f"{self.name}: {what} answered with {len(registers)} registers")
        return registers

    async def read_bits(self, table: Table, address: int, count: int, *, unit: int) -> list[bool]:
        """``count`` coils or discrete inputs from ``address``."""
        function_code = READ_FUNCTION_CODES[table]
        read = _READERS[function_code]
        what = f"read of {count} {table}s at {address} from unit {unit}"
        response = await self._exchange(lambda c: read(c, address, count, unit), function_code, what)
        bits = list(response.bits)
        if not count <= len(bits) < count + 8:  # bits arrive in whole bytes, padded with zeros
            raise BadFrameError(f"{self.name}: {what} answered with {len(bits)} bits")
        return bits[:count]

    async def write_registers(self, address: int, registers: Sequence[int], *, unit: int) -> None:
        """Write holding registers: function 6 for one, 16 for several."""
        what = f"write of {len(registers)} registers at {address} to unit {unit}"
        if len(registers) == 1:
            value = registers[0]
            await self._exchange(
                lambda c: c.write_register(address, value, device_id=unit), WRITE_SINGLE_REGISTER, what
            )
        else:
            values = list(registers)
            await self._exchange(
                lambda c: c.write_registers(address, values, device_id=unit), WRITE_MULTIPLE_REGISTERS, what
            )

    async def _exchange(
        self, request: Callable[[ModbusClient], Awaitable[ModbusPDU]], function_code: int, what: str
    ) -> ModbusPDU:
        async with self._lock:
            client = self._client
            if client is None or not client.connected:
                raise DriverUnavailableError(f"{self.name}: not connected")
            await self._wait_for_quiet_line()
            try:
                response = await request(client)
            except ModbusIOException as exc:
                if _NO_RESPONSE in exc.message:
                    raise DriverTimeoutError(f"{self.name}: no answer to the {what}") from exc
                raise BadFrameError(f"{self.name}: {what}: {exc}") from exc
            except ConnectionException as exc:
                raise DriverUnavailableError(f"{self.name}: connection lost during the {what}") from exc
            except TimeoutError as exc:
                raise DriverTimeoutError(f"{self.name}: no answer to the {what}") from exc
            except OSError as exc:
                raise DriverUnavailableError(f"{self.name}: {what}: {exc}") from exc
            except ModbusException as exc:
                raise DriverError(f"{self.name}: {what}: {exc}") from exc
            finally:
                self._quiet_at = self._monotonic() + self._gap_s
        if response.isError():
            raise _device_exception(self.name, what, response.exception_code)
        if response.function_code != function_code:
            raise BadFrameError(
                f"{self.name}: {what} answered with function {response.function_code}, not {function_code}"
            )
        return response

    @property
    def _gap_s(self) -> float:
        return self._line.inter_frame_gap_s if isinstance(self._line, ModbusRtuConnection) else 0.0

    async def _wait_for_quiet_line(self) -> None:
        wait = self._quiet_at - self._monotonic()
        if wait > 0:
            await self._sleep(wait)


def _line_settings(connection: Connection) -> dict[str, object]:
    return connection.model_dump(exclude={"unit"})


def _device_exception(bus: str, what: str, code: int) -> DeviceExceptionError:
    name = EXCEPTION_NAMES.get(code, "unknown exception")
    return DeviceExceptionError(
        f"{bus}: the device refused the {what}: exception {code:#04x} ({name})",
        code=code,
        retryable=code in RETRYABLE_EXCEPTIONS,
    )


_READERS: dict[int, ReadTable] = {
    0x01: lambda c, address, count, unit: c.read_coils(address, count=count, device_id=unit),
    0x02: lambda c, address, count, unit: c.read_discrete_inputs(address, count=count, device_id=unit),
    0x03: lambda c, address, count, unit: c.read_holding_registers(address, count=count, device_id=unit),
    0x04: lambda c, address, count, unit: c.read_input_registers(address, count=count, device_id=unit),
}

_SERIAL_BUSES: weakref.WeakValueDictionary[str, ModbusBus] = weakref.WeakValueDictionary()


def bus_for_port(port: str) -> ModbusBus:
    """The bus of a serial port, shared by every device on that RS-485 line.

    Paths are resolved, so ``/dev/serial/by-id/...`` and the ``/dev/ttyUSB0`` it points to are one line. A bus
    lives as long as some driver holds it.
    """
    key = os.path.realpath(port) if os.path.isabs(port) else port
    bus = _SERIAL_BUSES.get(key)
    if bus is None:
        bus = ModbusBus(f"rtu:{key}")
        _SERIAL_BUSES[key] = bus
    return bus
