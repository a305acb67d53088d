"""Benchmark: serial request/response round trips per second over a pty, against the serial simulator.

    python bench/drivers_serial.py [--seconds S] [--rounds N] [--checksum xor8]

Runs one simulator process (a probe in request mode) and, against it in turn, a bare pyserial loop
(``write(b"T?\\r")`` + ``readline()``) and ``SerialDriver.poll()`` (lock, worker thread, stale-input flush,
checksum, parse, a pydantic Observation). Prints round trips per second for both, median of ``--rounds``, and
the median of the per-round ratios (each round runs both loops back to back, so they share its noise). The
driver runs with ``inter_frame_gap_s=0``: a pty has no line to keep quiet, and the default gap (ten character
times, 10.4 ms at 9600 baud) would cap it near 100 round trips per second.
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

import serial

from drivers.serial import PortRegistry, SerialDeviceSettings, SerialDriver

SIM = Path(__file__).resolve().parent.parent / "firmware-sim" / "serial" / "sim.py"
REQUEST = b"T?\r"


def bare_loop(pty: str, seconds: float) -> float:
    port = serial.Serial(pty, timeout=1.0)
    try:
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            port.write(REQUEST)
            if not port.readline().startswith(b"T="):
                raise SystemExit("bare loop: unexpected answer")
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        port.close()


async def driver_loop(settings: SerialDeviceSettings, seconds: float) -> float:
    driver = SerialDriver("bench-probe", settings, ports=PortRegistry())
    await driver.open()
    try:
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            (_observation,) = await driver.poll()
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        await driver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each timed loop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checksum", default="xor8", choices=["none", "xor8", "sum8", "crc16_modbus", "crc16_ccitt"])
    args = parser.parse_args()
    sim = subprocess.Popen(
        [sys.executable, str(SIM), "--device", "probe", "--checksum", args.checksum, "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
    )
    assert sim.stdout is not None
    try:
        ready = json.loads(sim.stdout.readline())
        settings = SerialDeviceSettings.model_validate(
            {
                "mode": "request",
                "request": "T?\\r",
                "port": {"port": ready["pty"], "timeout_s": 1.0, "inter_frame_gap_s": 0},
                "channels": {
                    "kind": "regex",
                    "pattern": r"T=(?P<t>[-+0-9.]+) C",
                    "groups": {"t": {"channel": "temp", "unit": "Cel"}},
                },
                "checksum": {"kind": args.checksum},
            }
        )
        bare: list[float] = []
        ours: list[float] = []
        for round_number in range(1, args.rounds + 1):
            bare.append(bare_loop(ready["pty"], args.seconds))
            ours.append(asyncio.run(driver_loop(settings, args.seconds)))
            print(
                f"round {round_number}: bare pyserial {bare[-1]:,.0f}/s, SerialDriver.poll {ours[-1]:,.0f}/s,"
                f" ratio {ours[-1] / bare[-1]:.2f}"
            )
    finally:
        sim.terminate()
        sim.wait(timeout=5)
        sim.stdout.close()
    bare_rate, our_rate = statistics.median(bare), statistics.median(ours)
    print(f"bare pyserial write+readline : {bare_rate:,.0f} round trips/s (median of {args.rounds})")
    print(f"SerialDriver.poll            : {our_rate:,.0f} round trips/s (median of {args.rounds})")
    ratio = statistics.median(o / b for o, b in zip(ours, bare, strict=True))
    print(f"ratio driver / bare          : {ratio:.2f} (median of the per-round ratios; the machine is noisy)")


if __name__ == "__main__":
    main()
