"""ModbusDriver against real Modbus servers: pymodbus's own server on 127.0.0.1, started in the test's loop.

The server's register map is built with pymodbus's ``SimData`` types (its encoder, not ours), so a decoding bug
in the driver cannot cancel itself out. Timeouts use a raw TCP server that accepts and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers import (
    BadFrameError,
    DeviceExceptionError,
    Driver,
    DriverConfigError,
    DriverTimeoutError,
    DriverUnavailableError,
    UnencodableValueError,
)
from drivers.modbus import (
    ModbusBus,
    ModbusChannel,
    ModbusDriver,
    ModbusRtuConnection,
    ModbusTcpConnection,
    bus_for_port,
)

LOCALHOST = "127.0.0.1"
Action = Callable[[int, int, int, int, list[int], "list[int] | list[bool] | None"], Any]


def freezer(unit: int = 1, action: Action | None = None) -> SimDevice:
    """A freezer controller: temperatures, set point, door and alarm bits, and a sparse register map."""
    return SimDevice(
        id=unit,
        simdata=(
            [SimData(address=0, values=[False, True] + [False] * 14, datatype=DataType.BITS)],  # coils
            [SimData(address=0, values=[True] + [False] * 15, datatype=DataType.BITS)],  # discrete inputs
            [  # holding registers; 8..19 and 22..29 are not implemented
                SimData(address=0, values=[-803], datatype=DataType.INT16),
                SimData(address=1, values=[-800], datatype=DataType.INT16),
                SimData(address=2, values=[21.7], datatype=DataType.FLOAT32),
                SimData(address=4, values=[math.nan], datatype=DataType.FLOAT32),
                SimData(address=6, values=[0x0000, 0x41AC], datatype=DataType.REGISTERS),
                SimData(address=20, values=[1234567], datatype=DataType.UINT32),
                SimData(address=30, values=[7], datatype=DataType.UINT16),
            ],
            [SimData(address=0, values=[6543], datatype=DataType.UINT16)],  # input registers
        ),
        action=action,
    )


CHANNELS = [
    ModbusChannel(name="cabinet", table="holding", address=0, data_type="int16", scale="0.1", unit="degC"),
    ModbusChannel(
        name="setpoint", table="holding", address=1, data_type="int16", scale="0.1", unit="degC", writable=True
    ),
    ModbusChannel(name="ambient", table="holding", address=2, data_type="float32", unit="degC"),
    ModbusChannel(name="spare_probe", table="holding", address=4, data_type="float32", unit="degC"),
    ModbusChannel(name="humidity", table="holding", address=6, data_type="float32", word_order="little", unit="%"),
    ModbusChannel(name="compressor_s", table="holding", address=20, data_type="uint32", unit="s"),
    ModbusChannel(name="supply_v", table="input", address=0, data_type="uint16", scale="0.01", offset="-40"),
    ModbusChannel(name="defrost", table="coil", address=1, data_type="bool"),
    ModbusChannel(name="door_open", table="discrete", address=0, data_type="bool"),
]


@contextlib.asynccontextmanager
async def modbus_server(
    *devices: SimDevice,
    port: int = 0,
    framer: FramerType = FramerType.SOCKET,
    trace_pdu: Callable[[bool, ModbusPDU], ModbusPDU] | None = None,
) -> AsyncIterator[tuple[int, ModbusTcpServer]]:
    server = ModbusTcpServer(list(devices), address=(LOCALHOST, port), framer=framer, trace_pdu=trace_pdu)
    await server.serve_forever(background=True)
    try:
        listener = cast(asyncio.Server, server.transport)
        yield listener.sockets[0].getsockname()[1], server
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]


class Silent(asyncio.Protocol):
    """Accepts a connection, reads every request, answers none."""

    transports: list[asyncio.BaseTransport]

    def __init__(self, transports: list[asyncio.BaseTransport]) -> None:
        self.transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transports.append(transport)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    transports: list[asyncio.BaseTransport] = []
    server = await asyncio.get_running_loop().create_server(lambda: Silent(transports), LOCALHOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for transport in transports:
            transport.close()
        server.close()
        await server.wait_closed()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
    return port


def tcp(port: int, unit: int = 1, timeout_s: float = 1.0) -> ModbusTcpConnection:
    return ModbusTcpConnection(host=LOCALHOST, port=port, unit=unit, timeout_s=timeout_s)


def test_poll_returns_one_observation_per_channel_as_the_device_encodes_it() -> None:
    requests: list[int] = []

    def count_requests(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            requests.append(pdu.function_code)
        return pdu

    async def scenario() -> None:
        async with modbus_server(freezer(), trace_pdu=count_requests) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), CHANNELS)
            await driver.open()
            try:
                observations = await driver.poll()
            finally:
                await driver.close()
        got = {o.channel: (o.value, o.quality, o.unit) for o in observations}
        assert got == {
            "cabinet": ("-80.3", "good", "degC"),
            "setpoint": ("-80.0", "good", "degC"),
            "ambient": ("21.7", "good", "degC"),
            "spare_probe": (None, "bad", "degC"),
            "humidity": ("21.5", "good", "%"),
            "compressor_s": ("1234567", "good", "s"),
            "supply_v": ("25.43", "good", ""),
            "defrost": ("1", "good", ""),
            "door_open": ("1", "good", ""),
        }
        assert [o.channel for o in observations] == [c.name for c in CHANNELS]
        assert {o.device for o in observations} == {"freezer-3"}
        assert isinstance(driver, Driver)

    asyncio.run(scenario())
    # holding 0..7 and 20..21 are two reads (a 12-register gap), then one read per other table
    assert requests == [3, 3, 4, 1, 2]


def test_status_counts_polls_and_remembers_the_last_success() -> None:
    async def scenario() -> None:
        async with modbus_server(freezer()) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), CHANNELS)
            assert driver.status().state == "closed"
            await driver.open()
            assert driver.status().state == "open"
            await driver.poll()
            await driver.poll()
            status = driver.status()
            await driver.close()
        assert (status.polls, status.errors, status.bad_frames) == (2, 0, 0)
        assert status.last_ok is not None
        assert status.last_ok.tzinfo is not None
        assert driver.status().state == "closed"

    asyncio.run(scenario())


def test_device_exception_carries_its_code_and_whether_to_retry() -> None:
    async def busy(fc: int, start: int, address: int, count: int, regs: list[int], values: Any) -> ExcCodes | None:
        return ExcCodes.DEVICE_BUSY if fc == 3 else None

    async def scenario() -> None:
        async with modbus_server(freezer(action=busy)) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), CHANNELS)
            await driver.open()
            with pytest.raises(DeviceExceptionError, match="server device busy") as caught:
                await driver.poll()
            await driver.close()
        assert caught.value.code == 6
        assert caught.value.retryable
        status = driver.status()
        assert (status.polls, status.errors, status.last_ok) == (1, 1, None)
        assert status.last_error is not None
        assert status.last_error.startswith("DeviceExceptionError")

    asyncio.run(scenario())


def test_reading_an_address_the_device_lacks_is_a_permanent_device_exception() -> None:
    channels = [ModbusChannel(name="missing", table="holding", address=40, data_type="uint16")]

    async def scenario() -> None:
        async with modbus_server(freezer()) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), channels)
            await driver.open()
            with pytest.raises(DeviceExceptionError) as caught:
                await driver.poll()
            await driver.close()
        assert caught.value.code == 2
        assert not caught.value.retryable
        assert driver.status().state == "closed"

    asyncio.run(scenario())


def test_a_merged_read_the_device_refuses_is_split_around_the_gap() -> None:
    channels = [
        ModbusChannel(name="compressor_s", table="holding", address=20, data_type="uint32"),
        ModbusChannel(name="fan_speed", table="holding", address=30, data_type="uint16"),
    ]

    async def scenario() -> None:
        async with modbus_server(freezer()) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), channels)
            assert [(b.address, b.count) for b in driver.plan] == [(20, 11)]
            await driver.open()
            first = await driver.poll()
            second = await driver.poll()
            await driver.close()
        assert [o.value for o in first] == [o.value for o in second] == ["1234567", "7"]
        assert [(b.address, b.count) for b in driver.plan] == [(20, 2), (30, 1)]

    asyncio.run(scenario())


def test_a_response_of_the_wrong_length_is_a_bad_frame_and_never_a_value() -> None:
    def truncate(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending and pdu.function_code == 3:
            pdu.registers = list(pdu.registers)[:-1]
        return pdu

    async def scenario() -> None:
        async with modbus_server(freezer(), trace_pdu=truncate) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), CHANNELS)
            await driver.open()
            with pytest.raises(BadFrameError, match="answered with 7 registers"):
                await driver.poll()
            await driver.close()
        status = driver.status()
        assert (status.errors, status.bad_frames) == (1, 1)

    asyncio.run(scenario())


def test_a_device_that_never_answers_times_out_as_unavailable() -> None:
    async def scenario() -> None:
        async with silent_server() as port:
            driver = ModbusDriver("freezer-3", tcp(port, timeout_s=0.1), CHANNELS)
            await driver.open()
            started = time.monotonic()
            with pytest.raises(DriverTimeoutError, match="no answer"):
                await driver.poll()
            elapsed = time.monotonic() - started
            assert driver.status().state == "unavailable"
            await driver.close()
        assert 0.09 < elapsed < 0.5  # one timeout for the whole poll: it stops at the first silent request

    asyncio.run(scenario())


def test_a_refused_connection_is_unavailable() -> None:
    async def scenario() -> None:
        driver = ModbusDriver("freezer-3", tcp(free_port()), CHANNELS)
        with pytest.raises(DriverUnavailableError, match="cannot connect"):
            await driver.open()
        assert driver.status().state == "unavailable"
        with pytest.raises(DriverUnavailableError):
            await driver.poll()
        await driver.close()

    asyncio.run(scenario())


def test_a_device_that_goes_away_is_unavailable_until_it_is_back_and_reopened() -> None:
    async def scenario() -> None:
        async with modbus_server(freezer()) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), CHANNELS)
            await driver.open()
            await driver.poll()
        await asyncio.sleep(0.05)  # let the client see the connection close
        with pytest.raises(DriverUnavailableError):
            await driver.poll()
        with pytest.raises(DriverUnavailableError):
            await driver.open()
        async with modbus_server(freezer(), port=port):
            with pytest.raises(DriverUnavailableError):
                await driver.poll()  # a poll does not reconnect: the supervisor reopens
            await driver.open()
            assert (await driver.poll())[0].value == "-80.3"
            await driver.close()
        assert driver.status().errors == 3

    asyncio.run(scenario())


def test_close_is_safe_twice_and_poll_after_close_is_refused() -> None:
    async def scenario() -> None:
        async with modbus_server(freezer()) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), CHANNELS)
            await driver.close()
            await driver.open()
            await driver.close()
            await driver.close()
            with pytest.raises(DriverUnavailableError, match="call open"):
                await driver.poll()
            await driver.open()  # and it opens again
            assert len(await driver.poll()) == len(CHANNELS)
            await driver.close()

    asyncio.run(scenario())


def test_write_register_sets_the_scaled_value_on_the_device() -> None:
    channels = [
        *CHANNELS,
        ModbusChannel(name="alarm_high", table="holding", address=2, data_type="float32", writable=True),
    ]

    async def scenario() -> None:
        async with modbus_server(freezer()) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), channels)
            await driver.open()
            await driver.write_register("setpoint", Decimal("-75.5"))
            await driver.write_register("alarm_high", Decimal("-60.25"))
            got = {o.channel: o.value for o in await driver.poll()}
            await driver.close()
        assert got["setpoint"] == "-75.5"
        assert got["alarm_high"] == "-60.25"
        assert got["cabinet"] == "-80.3"

    asyncio.run(scenario())


def test_write_register_refuses_before_sending_anything() -> None:
    sent: list[int] = []

    def record(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            sent.append(pdu.function_code)
        return pdu

    async def scenario() -> None:
        async with modbus_server(freezer(), trace_pdu=record) as (port, _):
            driver = ModbusDriver("freezer-3", tcp(port), CHANNELS)
            await driver.open()
            with pytest.raises(DriverConfigError, match="not marked writable"):
                await driver.write_register("cabinet", Decimal("1"))
            with pytest.raises(DriverConfigError, match="no channel named"):
                await driver.write_register("nope", Decimal("1"))
            with pytest.raises(UnencodableValueError, match="whole number of steps"):
                await driver.write_register("setpoint", Decimal("-75.55"))
            await driver.close()

    asyncio.run(scenario())
    assert sent == []


def test_units_behind_one_gateway_share_one_connection() -> None:
    async def scenario() -> None:
        async with modbus_server(freezer(unit=1), freezer(unit=2)) as (port, server):
            bus = ModbusBus(f"gateway:{port}")
            a = ModbusDriver("freezer-1", tcp(port, unit=1), CHANNELS, bus)
            b = ModbusDriver("freezer-2", tcp(port, unit=2), CHANNELS, bus)
            await a.open()
            await b.open()
            results = await asyncio.gather(a.poll(), b.poll(), a.poll(), b.poll())
            assert len(server.active_connections) == 1
            await a.close()
            assert len(await b.poll()) == len(CHANNELS)
            await b.close()
        assert [{o.device for o in r} for r in results] == [{"freezer-1"}, {"freezer-2"}] * 2

    asyncio.run(scenario())


def test_rtu_devices_on_one_port_share_the_line() -> None:
    # RTU framing over a TCP socket (pyserial's socket:// URL): the serial client and framer, without hardware.
    async def scenario() -> None:
        async with modbus_server(freezer(unit=1), freezer(unit=2), framer=FramerType.RTU) as (port, server):
            url = f"socket://{LOCALHOST}:{port}"
            a = ModbusDriver("freezer-1", ModbusRtuConnection(port=url, unit=1), CHANNELS)
            b = ModbusDriver("freezer-2", ModbusRtuConnection(port=url, unit=2), CHANNELS)
            assert a.bus is b.bus is bus_for_port(url)
            await a.open()
            await b.open()
            results = await asyncio.gather(a.poll(), b.poll())
            assert len(server.active_connections) == 1
            await a.close()
            await b.close()
        assert [r[0].value for r in results] == ["-80.3", "-80.3"]

    asyncio.run(scenario())


def test_a_serial_port_that_does_not_exist_is_unavailable(tmp_path: Path) -> None:
    async def scenario() -> None:
        driver = ModbusDriver("probe", ModbusRtuConnection(port=str(tmp_path / "ttyUSB9")), CHANNELS)
        with pytest.raises(DriverUnavailableError, match="cannot connect"):
            await driver.open()
        await driver.close()

    asyncio.run(scenario())


def test_a_port_and_a_symlink_to_it_are_one_line(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    alias = tmp_path / "usb-FTDI_FT232R-if00-port0"
    alias.symlink_to(port)
    assert bus_for_port(str(alias)) is bus_for_port(str(port))
