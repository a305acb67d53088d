"""Modbus answers, fuzzed from the wire to the observation.

``tests/unit/drivers/test_modbus_decode.py`` proves the register codecs round-trip. Here a device answers with
anything: raw RTU frames decoded by pymodbus' own framer (as the client would), and well-formed response PDUs with
the wrong function code, too few or too many registers or bits, any exception code, and any register values for
channels of every type, word and byte order, scale, offset and precision. ``ModbusDriver.poll`` must give
observations whose values are decimal text, or raise a ``DriverError``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

from drivers import DriverError
from drivers.modbus import ModbusBus, ModbusChannel, ModbusDriver, ModbusRtuConnection
from drivers.modbus.bus import ModbusClient
from drivers.modbus.config import REGISTER_WIDTH
from tests.fuzz.budget import fuzz_settings, watchdog

DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")  # protocol.models.DecimalText
UNIT = 7
RESPONSES: dict[int, type[ModbusPDU]] = {
    1: ReadCoilsResponse,
    2: ReadDiscreteInputsResponse,
    3: ReadHoldingRegistersResponse,
    4: ReadInputRegistersResponse,
}
BIT_FUNCTIONS = {1, 2}
Answer = Callable[[int, int], ModbusPDU]  # (function code, count asked for) -> what the device answers


class FakeClient:
    """A connected client whose every read is answered by ``answer``; pymodbus' I/O error when it gives None."""

    def __init__(self, answer: Callable[[int, int], ModbusPDU | None]) -> None:
        self.answer = answer
        self.connected = False

    async def connect(self) -> bool:
        self.connected = True
        return True

    def close(self) -> None:
        self.connected = False

    def _read(self, function: int) -> Callable[..., Awaitable[ModbusPDU]]:
        async def read(address: int, *, count: int = 1, device_id: int = 1, **_: Any) -> ModbusPDU:
            pdu = self.answer(function, count)
            if pdu is None:
                raise ModbusIOException("No response received after 3 retries")
            return pdu

        return read

    def __getattr__(self, name: str) -> Any:
        functions = {"read_coils": 1, "read_discrete_inputs": 2, "read_holding_registers": 3}
        return self._read(functions.get(name, 4))


def poll(channels: Sequence[ModbusChannel], answer: Callable[[int, int], ModbusPDU | None]) -> None:
    """One poll of a device with ``channels`` whose answers come from ``answer``: observations or a DriverError."""

    def factory(_: object) -> ModbusClient:
        return FakeClient(answer)  # type: ignore[return-value]

    async def no_sleep(_: float) -> None:
        return None

    async def run() -> None:
        bus = ModbusBus("fuzz", client_factory=factory, sleep=no_sleep)
        connection = ModbusRtuConnection.model_validate({"port": "/dev/ttyFUZZ", "unit": UNIT})
        driver = ModbusDriver("fuzzed-device", connection, channels, bus)
        await driver.open()
        try:
            observations = await driver.poll()
        except DriverError:
            return
        finally:
            await driver.close()
        for observation in observations:
            assert observation.value is None or DECIMAL_TEXT.fullmatch(observation.value), observation

    with watchdog():
        asyncio.run(run())


# -- channels -----------------------------------------------------------------------------------------------------

_DECIMALS = st.one_of(
    st.sampled_from(
        ["1", "0.1", "-1", "10", "0.001", "1e3", "1E-30", "7e9999999", "1e-70", "1e-999000", "3.3333333333333333"]
    ),
    st.from_regex(r"-?[1-9][0-9]{0,30}(\.[0-9]{1,31})?", fullmatch=True),
)


@st.composite
def channel_sets(draw: st.DrawFn) -> list[ModbusChannel]:
    """One to four channels in one table, at nearby addresses (so some share a read block)."""
    table = draw(st.sampled_from(["holding", "input", "coil", "discrete"]))
    channels: list[ModbusChannel] = []
    for i in range(draw(st.integers(1, 4))):
        if table in ("coil", "discrete"):
            data_type, scale, offset, precision = "bool", "1", "0", None
        else:
            data_type = draw(st.sampled_from(sorted(REGISTER_WIDTH.keys() - {"bool"})))
            scale, offset = draw(_DECIMALS), draw(st.just("0") | _DECIMALS)
            precision = draw(st.none() | st.integers(0, 15)) if data_type.startswith("float") else None
            if Decimal(scale).is_zero():
                scale = "1"
        channels.append(
            ModbusChannel(
                name=f"c{i}",
                table=table,
                address=draw(st.integers(0, 12)) + 16 * i,
                data_type=data_type,
                word_order=draw(st.sampled_from(["big", "little"])),
                byte_order=draw(st.sampled_from(["big", "little"])),
                scale=scale,
                offset=offset,
                precision=precision,
            )
        )
    return channels


# -- answers ------------------------------------------------------------------------------------------------------


def well_formed(function: int, count: int, registers: list[int], bits: list[bool]) -> ModbusPDU:
    if function in BIT_FUNCTIONS:
        return RESPONSES[function](bits=(bits * count)[:count] or [False] * count, dev_id=UNIT)
    return RESPONSES[function](registers=(registers * count)[:count] or [0] * count, dev_id=UNIT)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    """A device that answers each read in a drawn way: right, short, long, the wrong function, an exception."""
    registers = draw(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=8))
    bits = draw(st.lists(st.booleans(), min_size=1, max_size=8))
    kinds = draw(st.lists(st.sampled_from(["good", "short", "long", "wrong_function", "exception"]), min_size=1))
    skew = draw(st.integers(1, 9))
    code = draw(st.integers(0, 255))
    calls = iter(range(1 << 30))

    def answer(function: int, count: int) -> ModbusPDU:
        kind = kinds[next(calls) % len(kinds)]
        if kind == "short":
            return well_formed(function, max(count - skew, 0), registers, bits)
        if kind == "long":
            return well_formed(function, count + skew, registers, bits)
        if kind == "wrong_function":
            return well_formed(function % 4 + 1, count, registers, bits)
        if kind == "exception":
            return ExceptionResponse(function, code, device_id=UNIT)
        return well_formed(function, count, registers, bits)

    return answer


@fuzz_settings(120)
@given(channels=channel_sets(), answer=answers())
@example(  # found: 1 * 1e-70 + 1 has 71 significant digits, over DecimalText's 64 characters even as 1.0…1E+0
    channels=[ModbusChannel(name="c0", table="holding", address=0, data_type="int16", scale="1e-70", offset="1")],
    answer=lambda function, count: well_formed(function, count, [1], []),
)
@example(  # a scale past the decimal context's exponent limit: decimal.Overflow, not a DriverError
    channels=[ModbusChannel(name="c0", table="holding", address=0, data_type="int16", scale="7e9999999")],
    answer=lambda function, count: well_formed(function, count, [0x7FFF], []),
)
def test_any_answer_to_any_channel_gives_decimal_observations_or_a_driver_error(
    channels: list[ModbusChannel], answer: Answer
) -> None:
    poll(channels, answer)


@st.composite
def rtu_frames(draw: st.DrawFn) -> bytes:
    """Bytes on the line: a valid RTU answer (right CRC) with mutated fields, or noise."""
    framer = FramerRTU(DecodePDU(False))
    function = draw(st.sampled_from(sorted(RESPONSES)))
    pdu = well_formed(function, draw(st.integers(0, 125)), draw(st.lists(st.integers(0, 0xFFFF), max_size=4)), [True])
    pdu.dev_id = draw(st.sampled_from([UNIT, 0, 255]))
    frame = framer.buildFrame(pdu)
    body = bytearray(frame[:-2])
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(body)))
        body[at : at + draw(st.integers(0, 2))] = draw(st.binary(max_size=3))
    crc = FramerRTU.compute_CRC(bytes(body))
    return draw(st.sampled_from([bytes(body) + crc.to_bytes(2, "big"), frame, bytes(body)]) | st.binary(max_size=40))


@fuzz_settings(100)
@given(channels=channel_sets(), frames=st.lists(rtu_frames(), min_size=1, max_size=6))
def test_any_bytes_on_the_line_give_decimal_observations_or_a_driver_error(
    channels: list[ModbusChannel], frames: list[bytes]
) -> None:
    framer = FramerRTU(DecodePDU(False))
    queue = iter(frames * 8)

    def answer(_function: int, _count: int) -> ModbusPDU | None:
        try:
            _, pdu = framer.handleFrame(next(queue), UNIT, 0)
        except StopIteration:
            return None
        return pdu

    poll(channels, answer)
