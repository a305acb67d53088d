"""The bus: one lock and one client per line, the RTU frame gap, and pymodbus errors translated.

A fake client stands in for pymodbus behind the ``ModbusClient`` seam; time is a fake clock, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

from drivers import BadFrameError, DriverConfigError, DriverTimeoutError, DriverUnavailableError
from drivers.modbus import (
    ModbusBus,
    ModbusChannel,
    ModbusClient,
    ModbusDriver,
    ModbusRtuConnection,
    ModbusTcpConnection,
    bus_for_port,
)

CHANNELS = [ModbusChannel(name="t", table="holding", address=0, data_type="int16", scale="0.1")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeClient:
    """Answers every holding-register read with ``answer(count)``; each exchange takes 1 ms of fake time."""

    def __init__(self, clock: FakeClock, answer: Callable[[int], ModbusPDU] | None = None) -> None:
        self.clock = clock
        self.answer = answer or (lambda count: ReadHoldingRegistersResponse(registers=[0xFCDD] * count))
        self.connected = False
        self.closed = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def connect(self) -> bool:
        self.connected = True
        return True

    def close(self) -> None:
        self.connected = False
        self.closed += 1

    async def _exchange(self, count: int) -> ModbusPDU:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)  # let any other task try to get in
        self.clock.now += 0.001
        self.in_flight -= 1
        return self.answer(count)

    def read_holding_registers(
        self, address: int, *, count: int = 1, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]:
        return self._exchange(count)

    read_coils = read_discrete_inputs = read_input_registers = read_holding_registers

    def write_register(
        self, address: int, value: int, *, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]:
        raise NotImplementedError

    def write_registers(
        self, address: int, values: Sequence[int], *, device_id: int = 1, no_response_expected: bool = False
    ) -> Awaitable[ModbusPDU]:
        raise NotImplementedError


def fake_bus(clock: FakeClock, client: FakeClient) -> ModbusBus:
    def factory(_: ModbusTcpConnection | ModbusRtuConnection) -> ModbusClient:
        return client

    return ModbusBus("fake", client_factory=factory, monotonic=clock.monotonic, sleep=clock.sleep)


def rtu(unit: int = 1, **line: object) -> ModbusRtuConnection:
    return ModbusRtuConnection.model_validate({"port": "/dev/ttyFAKE0", "unit": unit, "inter_frame_gap_s": 0.01} | line)


def test_rtu_bus_keeps_the_line_quiet_for_the_frame_gap_between_requests() -> None:
    clock = FakeClock()
    bus = fake_bus(clock, FakeClient(clock))

    async def scenario() -> None:
        driver = ModbusDriver("probe", rtu(), CHANNELS, bus)
        await driver.open()
        first = await driver.poll()
        await driver.poll()
        await driver.close()
        assert first[0].value == "-80.3"

    asyncio.run(scenario())
    assert clock.sleeps == [pytest.approx(0.01)]


def test_tcp_bus_does_not_wait_between_requests() -> None:
    clock = FakeClock()
    bus = fake_bus(clock, FakeClient(clock))

    async def scenario() -> None:
        driver = ModbusDriver("probe", ModbusTcpConnection(host="h"), CHANNELS, bus)
        await driver.open()
        await driver.poll()
        await driver.poll()

    asyncio.run(scenario())
    assert clock.sleeps == []


def test_devices_on_one_bus_never_have_two_requests_on_the_line() -> None:
    clock = FakeClock()
    client = FakeClient(clock)
    bus = fake_bus(clock, client)

    async def scenario() -> None:
        drivers = [ModbusDriver(f"probe-{unit}", rtu(unit), CHANNELS, bus) for unit in (1, 2, 3)]
        for driver in drivers:
            await driver.open()
        results = await asyncio.gather(*(driver.poll() for driver in drivers for _ in range(3)))
        assert all(result[0].value == "-80.3" for result in results)
        for driver in drivers:
            await driver.close()

    asyncio.run(scenario())
    assert client.most_in_flight == 1
    assert len(clock.sleeps) == 8  # every request after the first waits out the gap


def test_last_driver_to_close_closes_the_shared_client() -> None:
    clock = FakeClock()
    client = FakeClient(clock)
    bus = fake_bus(clock, client)

    async def scenario() -> None:
        a, b = (ModbusDriver(f"probe-{unit}", rtu(unit), CHANNELS, bus) for unit in (1, 2))
        await a.open()
        await b.open()
        await a.close()
        assert client.closed == 0
        assert (await b.poll())[0].value == "-80.3"
        await b.close()
        await b.close()
        assert client.closed == 1

    asyncio.run(scenario())


def test_one_port_is_one_bus() -> None:
    assert bus_for_port("/dev/ttyFAKE1") is bus_for_port("/dev/ttyFAKE1")
    assert bus_for_port("/dev/ttyFAKE1") is not bus_for_port("/dev/ttyFAKE2")


def test_devices_on_one_line_must_agree_on_its_settings() -> None:
    bus = ModbusBus("line")
    ModbusDriver("a", rtu(1), CHANNELS, bus)
    ModbusDriver("b", rtu(2), CHANNELS, bus)
    with pytest.raises(DriverConfigError, match="baudrate: 9600 vs 19200"):
        ModbusDriver("c", rtu(3, baudrate=19200), CHANNELS, bus)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ModbusIOException("No response received after 0 retries"), DriverTimeoutError),
        (ModbusIOException("ERROR: request uses device id=1 but received 2."), BadFrameError),
        (ConnectionException("Not connected"), DriverUnavailableError),
        (ConnectionResetError("reset by peer"), DriverUnavailableError),
    ],
)
def test_pymodbus_errors_are_translated_at_the_bus(raised: Exception, expected: type[Exception]) -> None:
    clock = FakeClock()

    def fail(count: int) -> ModbusPDU:
        raise raised

    bus = fake_bus(clock, FakeClient(clock, fail))

    async def scenario() -> None:
        driver = ModbusDriver("probe", rtu(), CHANNELS, bus)
        await driver.open()
        with pytest.raises(expected) as caught:
            await driver.poll()
        assert caught.value.__cause__ is raised

    asyncio.run(scenario())


def test_an_answer_to_another_function_is_a_bad_frame() -> None:
    clock = FakeClock()
    bus = fake_bus(clock, FakeClient(clock, lambda count: ReadInputRegistersResponse(registers=[0] * count)))

    async def scenario() -> None:
        driver = ModbusDriver("probe", rtu(), CHANNELS, bus)
        await driver.open()
        with pytest.raises(BadFrameError, match="function 4, not 3"):
            await driver.poll()
        assert driver.status().bad_frames == 1

    asyncio.run(scenario())
