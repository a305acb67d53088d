"""SerialDriver against the serial simulator (``firmware-sim/serial``) as a process, over a real pseudo-terminal.

The simulator frames its lines and computes its checksums with code of its own, so a framing or checksum bug in
the driver cannot cancel itself out. Faults are injected through its control socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import serial

from drivers import BadFrameError, DriverError, DriverTimeoutError, DriverUnavailableError
from drivers.serial import (
    BadLineError,
    PortRegistry,
    SerialDeviceSettings,
    SerialDriver,
    SerialLink,
    SerialPortSettings,
)
from protocol.models import Event, Observation
from tests.simulator_process import stop_simulator

pytestmark = pytest.mark.e2e

SIM = Path(__file__).resolve().parents[3] / "firmware-sim" / "serial" / "sim.py"
READY_TIMEOUT_S = 10.0
PROBE_MAP = {"kind": "regex", "pattern": r"T=(?P<t>[-+0-9.]+) C", "groups": {"t": {"channel": "temp", "unit": "Cel"}}}
LN2_MAP = {
    "kind": "fields",
    "delimiter": ";",
    "count": 2,
    "fields": [
        {"index": 0, "channel": "level", "unit": "%", "prefix": "L="},
        {"index": 1, "channel": "vapour", "unit": "Cel", "prefix": "T="},
    ],
}
TWO_DECIMALS = re.compile(r"^-?[0-9]+\.[0-9]{2}$")


class Sim:
    def __init__(self, proc: subprocess.Popen[bytes], ready: dict[str, Any]) -> None:
        self.proc = proc
        self.ready = ready
        self.pty: str = ready["pty"]

    async def send(self, **command: Any) -> dict[str, Any]:
        host, _, port = self.ready["control"].rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(json.dumps(command).encode() + b"\n")
            reply: dict[str, Any] = json.loads(await reader.readline())
        finally:
            writer.close()
            await writer.wait_closed()
        assert reply["ok"], reply
        return reply


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    """Start simulators; at the end stop them and check each exited cleanly, printing nothing more."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*args: str) -> Sim:
        log_path = tmp_path / f"sim{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(SIM), "--log-level", "INFO", *args], stdout=subprocess.PIPE, stderr=log
            )
        started.append((proc, log_path))
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        assert readable, f"no ready line; log:\n{log_path.read_text()}"
        ready = json.loads(proc.stdout.readline())
        assert ready["ready"] is True, ready
        return Sim(proc, ready)

    yield start

    for proc, log_path in started:
        stop_simulator(proc, log_path, timeout=5)


def probe(sim: Sim, **fields: Any) -> SerialDeviceSettings:
    port = {"port": sim.pty, "timeout_s": 0.3, "inter_frame_gap_s": 0, **fields.pop("port", {})}
    return SerialDeviceSettings.model_validate(
        {"mode": "request", "request": "T?\\r", "port": port, "channels": PROBE_MAP, **fields}
    )


def ln2(sim: Sim, **fields: Any) -> SerialDeviceSettings:
    port = {"port": sim.pty, "timeout_s": 0.3, "inter_frame_gap_s": 0, **fields.pop("port", {})}
    return SerialDeviceSettings.model_validate({"mode": "stream", "port": port, "channels": LN2_MAP, **fields})


async def until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def collect(driver: SerialDriver, *, seconds: float) -> list[Observation | Event]:
    readings: list[Observation | Event] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readings += await driver.poll()
        await asyncio.sleep(0.02)
    return readings


async def first_error(driver: SerialDriver, timeout_s: float = 3.0) -> DriverError:
    """Poll until a poll fails; the error it raised."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            await driver.poll()
        except DriverError as exc:
            return exc
        await asyncio.sleep(0.02)
    raise AssertionError(f"no poll failed within {timeout_s} s")


def observations(readings: list[Observation | Event]) -> list[Observation]:
    return [r for r in readings if isinstance(r, Observation)]


def bad_frames(readings: list[Observation | Event]) -> list[Event]:
    return [r for r in readings if isinstance(r, Event) and r.type == "bad_frame"]


# -- request and stream modes ---------------------------------------------------------------------------------


def test_request_mode_reads_the_probe_temperature_as_printed(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("probe-1", probe(sim, checksum={"kind": "xor8"}), ports=PortRegistry())
        await driver.open()
        readings = [r for _ in range(3) for r in await driver.poll()]
        status = driver.status()
        await driver.close()
        got = observations(readings)
        assert len(got) == len(readings) == 3
        assert {(o.device, o.channel, o.unit, o.quality, o.source_ts) for o in got} == {
            ("probe-1", "temp", "Cel", "good", None)
        }
        for reading in got:
            assert reading.value is not None
            assert TWO_DECIMALS.match(reading.value)
            assert Decimal("-81") < Decimal(reading.value) < Decimal("-79")
        assert (status.state, status.polls, status.errors, status.bad_frames) == ("open", 3, 0, 0)
        assert driver.status().state == "closed"
        assert (await sim.send(get="state"))["requests"] == 3

    asyncio.run(scenario(start_sim("--device", "probe", "--checksum", "xor8")))


def test_stream_mode_returns_every_line_since_the_last_poll(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("ln2-1", ln2(sim, checksum={"kind": "crc16_ccitt"}), ports=PortRegistry())
        before = (await sim.send(get="state"))["lines"]
        await driver.open()  # lines printed before the port was opened are flushed
        await asyncio.sleep(0.3)
        sent = (await sim.send(fault="silence"))["lines"] - before
        await asyncio.sleep(0.1)
        readings = await driver.poll()
        await driver.close()
        got = observations(readings)
        assert len(got) == len(readings)
        assert 2 * (sent - 1) <= len(got) <= 2 * sent  # one line may have gone out just before the port opened
        assert sent >= 4
        assert [o.channel for o in got[:4]] == ["level", "vapour", "level", "vapour"]
        level = next(o for o in got if o.channel == "level")
        assert level.value is not None
        assert level.value.startswith("72.")  # printed "072.4", carried without the leading zero
        levels = [o for o in got if o.channel == "level"]
        stamps = [o.source_ts for o in levels if o.source_ts is not None]
        assert len(stamps) == len(levels)
        assert stamps == sorted(stamps)

    asyncio.run(scenario(start_sim("--device", "ln2", "--interval", "0.05", "--checksum", "crc16_ccitt")))


# -- bad input ------------------------------------------------------------------------------------------------


def test_bad_lines_in_a_stream_are_counted_and_recorded_while_good_lines_flow(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("ln2-1", ln2(sim, checksum={"kind": "xor8"}), ports=PortRegistry())
        await driver.open()
        readings = await collect(driver, seconds=0.1)
        for fault, count in [("garbage", 2), ("truncate", 1), ("bad_checksum", 1)]:
            await sim.send(fault=fault, count=count)
            deadline = time.monotonic() + 3
            while (state := await sim.send(get="state"))["faults"]:
                assert time.monotonic() < deadline
                readings += await collect(driver, seconds=0.03)
            # two good lines before the next fault, so that a truncated stump runs into a good line
            while (await sim.send(get="state"))["lines"] < state["lines"] + 2:
                assert time.monotonic() < deadline
                readings += await collect(driver, seconds=0.03)
        readings += await collect(driver, seconds=0.15)
        status = driver.status()
        await driver.close()
        events = bad_frames(readings)
        # a truncated line has no terminator, so it runs into the next line: one bad frame for the two
        assert Counter(str(e.attrs["reason"]) for e in events) == {"not_text": 2, "checksum": 2}
        assert status.bad_frames == 4
        assert all(e.severity == "warning" and e.device == "ln2-1" and e.attrs["bytes"] for e in events)
        last_bad = max(i for i, r in enumerate(readings) if isinstance(r, Event))
        first_bad = min(i for i, r in enumerate(readings) if isinstance(r, Event))
        assert observations(readings[:first_bad])
        assert len(observations(readings[last_bad:])) >= 4
        assert all(o.value is not None for o in observations(readings))

    asyncio.run(scenario(start_sim("--device", "ln2", "--interval", "0.02", "--checksum", "xor8")))


def test_bad_answers_fail_the_poll_as_bad_frames_and_the_next_poll_succeeds(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("probe-1", probe(sim, checksum={"kind": "xor8"}), ports=PortRegistry())
        await driver.open()
        for fault, reason in [("garbage", "not_text"), ("bad_checksum", "checksum"), ("truncate", "truncated")]:
            await sim.send(fault=fault, count=1)
            with pytest.raises(BadLineError) as caught:
                await driver.poll()
            assert caught.value.reason == reason
            assert isinstance(caught.value, BadFrameError)
            assert len(await driver.poll()) == 1
        status = driver.status()
        await driver.close()
        assert (status.state, status.polls, status.errors, status.bad_frames) == ("open", 6, 3, 3)

    asyncio.run(scenario(start_sim("--device", "probe", "--checksum", "xor8")))


# -- silence --------------------------------------------------------------------------------------------------


def test_a_silent_probe_times_out_until_it_answers_again(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("probe-1", probe(sim), ports=PortRegistry())
        await driver.open()
        await sim.send(fault="silence")
        started = time.monotonic()
        with pytest.raises(DriverTimeoutError, match=r"no answer within 0\.3 s"):
            await driver.poll()
        assert 0.3 <= time.monotonic() - started < 2.0
        assert driver.status().state == "unavailable"
        await sim.send(clear="silence")
        assert len(await driver.poll()) == 1
        assert driver.status().state == "open"
        await driver.close()

    asyncio.run(scenario(start_sim("--device", "probe")))


def test_a_silent_stream_times_out_and_recovers_when_lines_return(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("ln2-1", ln2(sim, silence_timeout_s=0.3), ports=PortRegistry())
        await driver.open()
        assert observations(await collect(driver, seconds=0.1))
        await sim.send(fault="silence")
        started = time.monotonic()
        error = await first_error(driver)  # after what arrived before the silence
        assert isinstance(error, DriverTimeoutError)
        silent = re.search(r"nothing received for ([0-9.]+) s", str(error))
        assert silent is not None
        assert float(silent.group(1)) >= 0.3
        await sim.send(clear="silence")
        readings: list[Observation | Event] = []
        while not readings:
            assert time.monotonic() - started < 6
            await asyncio.sleep(0.02)
            with contextlib.suppress(DriverTimeoutError):  # until the first line is back
                readings = await driver.poll()
        assert observations(readings)
        await driver.close()

    asyncio.run(scenario(start_sim("--device", "ln2", "--interval", "0.02")))


# -- a port that disappears -----------------------------------------------------------------------------------


def test_an_unplugged_probe_is_unavailable_and_recovers_once_plugged_back(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("probe-1", probe(sim), ports=PortRegistry())
        await driver.open()
        assert len(await driver.poll()) == 1
        unplugged = await sim.send(fault="unplug")
        assert (unplugged["plugged"], unplugged["tty"]) == (False, None)
        with pytest.raises(DriverUnavailableError):
            await driver.poll()
        assert driver.status().state == "unavailable"
        await driver.close()
        with pytest.raises(DriverUnavailableError, match="cannot open"):
            await driver.open()
        replugged = await sim.send(fault="replug")
        assert replugged["pty"] == sim.pty  # the same path: the symlink now points at the new pty
        await driver.open()
        assert len(await driver.poll()) == 1
        assert driver.status().state == "open"
        await driver.close()

    asyncio.run(scenario(start_sim("--device", "probe")))


def test_an_unplugged_stream_is_unavailable_and_recovers_once_plugged_back(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        driver = SerialDriver("ln2-1", ln2(sim), ports=PortRegistry())
        await driver.open()
        assert observations(await collect(driver, seconds=0.1))
        await sim.send(fault="unplug")
        await until(lambda: driver.status().state == "unavailable")
        assert isinstance(await first_error(driver), DriverUnavailableError)  # after lines from before, if any
        await sim.send(fault="replug")
        await driver.close()
        await driver.open()
        assert observations(await collect(driver, seconds=0.15))
        await driver.close()

    asyncio.run(scenario(start_sim("--device", "ln2", "--interval", "0.02")))


# -- one RS-485 line, two instruments --------------------------------------------------------------------------


def multi_drop(sim: Sim, ports: PortRegistry, *, timeout_s: float) -> tuple[SerialDriver, SerialDriver]:
    common: dict[str, Any] = {"checksum": {"kind": "xor8"}, "port": {"timeout_s": timeout_s}}
    first = SerialDriver("probe-1", probe(sim, address="#01", **common), ports=ports)
    second = SerialDriver("ln2-1", ln2(sim, mode="request", request="L?\\r", address="#02", **common), ports=ports)
    return first, second


def test_two_devices_on_one_port_take_turns_under_its_lock(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        first, second = multi_drop(sim, PortRegistry(), timeout_s=1.0)
        assert first.port is second.port
        await first.open()
        await second.open()
        results = await asyncio.gather(*(d.poll() for _ in range(10) for d in (first, second)))
        await first.close()
        await second.close()
        channels = Counter(o.channel for result in results for o in observations(list(result)))
        assert channels == {"temp": 10, "level": 10, "vapour": 10}
        state = await sim.send(get="state")
        assert (state["requests"], state["answers"], state["collisions"]) == (20, 20, 0)

    asyncio.run(
        scenario(start_sim("--device", "probe@01", "--device", "ln2@02", "--turnaround", "0.005", "--checksum", "xor8"))
    )


def test_without_the_shared_lock_the_same_two_devices_collide(start_sim: Callable[..., Sim]) -> None:
    """The control for the test above: one port handle per device, no shared lock, and the line garbles."""

    def shared_open(settings: SerialPortSettings) -> SerialLink:
        link: SerialLink = serial.Serial(settings.port, timeout=0.05, exclusive=False)
        return link

    async def scenario(sim: Sim) -> None:
        first, _ = multi_drop(sim, PortRegistry(link_factory=shared_open), timeout_s=0.3)
        _, second = multi_drop(sim, PortRegistry(link_factory=shared_open), timeout_s=0.3)
        assert first.port is not second.port
        await first.open()
        await second.open()
        collisions = 0
        for _ in range(10):  # usually the first round collides; each collision costs both a timeout
            await asyncio.gather(first.poll(), second.poll(), return_exceptions=True)
            collisions = (await sim.send(get="state"))["collisions"]
            if collisions:
                break
        await first.close()
        await second.close()
        assert collisions > 0

    asyncio.run(
        scenario(start_sim("--device", "probe@01", "--device", "ln2@02", "--turnaround", "0.005", "--checksum", "xor8"))
    )


def test_a_port_held_by_one_registry_cannot_be_opened_by_another(start_sim: Callable[..., Sim]) -> None:
    async def scenario(sim: Sim) -> None:
        holder = SerialDriver("probe-1", probe(sim), ports=PortRegistry())
        intruder = SerialDriver("probe-2", probe(sim), ports=PortRegistry())
        await holder.open()
        with pytest.raises(DriverUnavailableError, match="lock"):
            await intruder.open()
        await intruder.close()
        await holder.close()

    asyncio.run(scenario(start_sim("--device", "probe")))
