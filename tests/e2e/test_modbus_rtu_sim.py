"""The Modbus driver over RTU on a pseudo-terminal, against the freezer simulator process."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from decimal import Decimal

import pytest

from drivers import DriverTimeoutError
from drivers.modbus import ModbusChannel, ModbusDriver, ModbusRtuConnection
from tests.e2e.harness import SIM

pytestmark = pytest.mark.e2e

CHANNELS = [
    ModbusChannel(name="temp", table="input", address=0, data_type="float32", unit="Cel", precision=2),
    ModbusChannel(name="temp_tenths", table="input", address=2, data_type="int16", scale="0.1", unit="Cel"),
    ModbusChannel(
        name="setpoint", table="holding", address=0, data_type="int16", scale="0.1", unit="Cel", writable=True
    ),
]


def test_rtu_over_a_pty_reads_the_freezer_and_writes_its_setpoint() -> None:
    sim = subprocess.Popen(
        [sys.executable, str(SIM), "--rtu-pty", "--unit", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert sim.stdout is not None
    pty = json.loads(sim.stdout.readline())["pty"]

    async def scenario() -> None:
        driver = ModbusDriver("freezer-rtu", ModbusRtuConnection(port=pty, unit=3, baudrate=19200), CHANNELS)
        await driver.open()
        try:
            readings = {o.channel: o for o in await driver.poll()}
            assert -85 < float(readings["temp"].value or "nan") < -75
            assert abs(Decimal(readings["temp"].value or "0") - Decimal(readings["temp_tenths"].value or "0")) < 1
            await driver.write_register("setpoint", Decimal("-75.5"))
            readings = {o.channel: o for o in await driver.poll()}
            assert readings["setpoint"].value == "-75.5"
        finally:
            await driver.close()
        other = ModbusDriver("nobody", ModbusRtuConnection(port=pty, unit=9, baudrate=19200), CHANNELS[:1])
        await other.open()
        try:
            with pytest.raises(DriverTimeoutError):
                await other.poll()
        finally:
            await other.close()

    try:
        asyncio.run(scenario())
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
        sim.stdout.close()
