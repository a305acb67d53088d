"""Benchmark: Modbus TCP polls per second against the freezer simulator process.

    python bench/drivers_modbus.py [--seconds S] [--rounds N]

Against one simulator, in turn: a bare pymodbus ``AsyncModbusTcpClient`` loop reading the same blocks the driver's
plan reads (input registers 0-4, discrete inputs 0-1), and ``ModbusDriver.poll()`` (plan, bus lock, decode to
decimal text, pydantic Observations for five channels). Prints polls per second for both, the median of
``--rounds`` and the median of per-round ratios (each round runs both back to back, so they share its noise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from drivers.modbus import ModbusChannel, ModbusDriver, ModbusTcpConnection

SIM = Path(__file__).resolve().parent.parent / "firmware-sim" / "freezer" / "sim.py"
CHANNELS = [
    ModbusChannel(name="temp", table="input", address=0, data_type="float32", unit="Cel", precision=2),
    ModbusChannel(name="temp_tenths", table="input", address=2, data_type="int16", scale="0.1", unit="Cel"),
    ModbusChannel(name="duty", table="input", address=4, data_type="uint16", unit="%"),
    ModbusChannel(name="door", table="discrete", address=0, data_type="bool"),
    ModbusChannel(name="compressor", table="discrete", address=1, data_type="bool"),
]


async def bare(port: int, seconds: float) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    await client.connect()
    count = 0
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            registers = await client.read_input_registers(0, count=5, device_id=1)
            bits = await client.read_discrete_inputs(0, count=2, device_id=1)
            if registers.isError() or bits.isError():
                raise SystemExit("the simulator answered with an error")
            count += 1
    finally:
        client.close()
    return count / (time.perf_counter() - start)


async def ours(port: int, seconds: float) -> float:
    driver = ModbusDriver("freezer-bench", ModbusTcpConnection(host="127.0.0.1", port=port), CHANNELS)
    await driver.open()
    count = 0
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            if len(await driver.poll()) != len(CHANNELS):
                raise SystemExit("a poll came back short")
            count += 1
    finally:
        await driver.close()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sim = subprocess.Popen(
        [sys.executable, str(SIM), "--tcp", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sim.stdout is not None
        port = int(json.loads(sim.stdout.readline())["tcp"].rsplit(":", 1)[1])
        bares, drivers, ratios = [], [], []
        for _ in range(args.rounds):
            b = asyncio.run(bare(port, args.seconds))
            d = asyncio.run(ours(port, args.seconds))
            bares.append(b)
            drivers.append(d)
            ratios.append(d / b)
    finally:
        sim.terminate()
        sim.wait(10)
        if sim.stdout is not None:
            sim.stdout.close()
    print(f"bare pymodbus loop (2 requests) : {statistics.median(bares):>8,.0f} polls/s")
    print(f"ModbusDriver.poll (5 channels)  : {statistics.median(drivers):>8,.0f} polls/s")
    print(f"ratio                           : {statistics.median(ratios):.2f} (median of per-round ratios)")


if __name__ == "__main__":
    main()
