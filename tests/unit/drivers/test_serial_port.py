"""SerialDriver and its shared port against a scripted link: no device, no sleeping, a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from drivers import BadFrameError, Driver, DriverConfigError, DriverTimeoutError, DriverUnavailableError
from drivers.serial import (
    BadLineError,
    PortRegistry,
    SerialDeviceSettings,
    SerialDriver,
    SerialLink,
    SerialPortSettings,
)
from drivers.serial.link import READ_SLICE_S
from protocol.models import Event, Observation

PROBE = {"kind": "regex", "pattern": r"T=(?P<t>\S+) C", "groups": {"t": {"channel": "temp", "unit": "Cel"}}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeLink:
    """Answers each request at once with ``answer(request)``; an empty read takes one read slice of fake time
    (request mode) or a millisecond of real time (stream mode, so the reader does not spin)."""

    def __init__(self, clock: FakeClock, answer: Callable[[bytes], bytes], *, stream: bool = False) -> None:
        self.clock = clock
        self.answer = answer
        self.stream = stream
        self.incoming = bytearray()
        self.writes: list[tuple[float, bytes]] = []
        self.fail: OSError | None = None
        self.closed = False
        self.lock = threading.Lock()

    @property
    def in_waiting(self) -> int:
        return len(self.incoming)

    def read(self, size: int = 1) -> bytes:
        if self.fail is not None:
            raise self.fail
        with self.lock:
            data = bytes(self.incoming[:size])
            del self.incoming[:size]
        if not data:
            if self.stream:
                time.sleep(0.001)
            else:
                self.clock.now += READ_SLICE_S
        return data

    def write(self, data: bytes, /) -> int:
        if self.fail is not None:
            raise self.fail
        self.writes.append((self.clock.now, data))
        self.push(self.answer(data))
        return len(data)

    def push(self, data: bytes) -> None:
        with self.lock:
            self.incoming += data

    def reset_input_buffer(self) -> None:
        with self.lock:
            self.incoming.clear()

    def cancel_read(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


WAIT_S = 5.0  # for the stream reader's thread; a loaded machine can be slow to schedule it


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.002)


async def poll_until(driver: SerialDriver, count: int) -> list[Observation | Event]:
    """Poll until ``count`` readings came; a stream that was silent times out until its next line arrives."""
    readings: list[Observation | Event] = []
    deadline = time.monotonic() + WAIT_S
    while len(readings) < count:
        assert time.monotonic() < deadline, f"{count} readings did not arrive in time"
        with contextlib.suppress(DriverTimeoutError):
            readings += await driver.poll()
        await asyncio.sleep(0.002)
    return readings


class Rig:
    def __init__(self, answer: Callable[[bytes], bytes] = lambda request: b"T=-80.12 C\r\n", **link: Any) -> None:
        self.clock = FakeClock()
        self.links: list[FakeLink] = []
        self.answer = answer
        self.link_options = link
        self.ports = PortRegistry(link_factory=self.open, monotonic=self.clock.monotonic, sleep=self.clock.sleep)

    def open(self, settings: SerialPortSettings) -> SerialLink:
        link = FakeLink(self.clock, self.answer, **self.link_options)
        self.links.append(link)
        return link

    @property
    def link(self) -> FakeLink:
        return self.links[-1]

    def driver(self, device_id: str = "probe-1", **fields: Any) -> SerialDriver:
        port = {"port": "/dev/ttyS9", "timeout_s": 0.5, "inter_frame_gap_s": 0.02, **fields.pop("port", {})}
        mode = {"request": "T?\\r"} if fields.get("mode", "request") == "request" else {}
        settings = SerialDeviceSettings.model_validate({"port": port, "channels": PROBE, **mode, **fields})
        return SerialDriver(device_id, settings, ports=self.ports, monotonic=self.clock.monotonic)


def test_a_poll_sends_the_request_and_returns_the_parsed_answer() -> None:
    rig = Rig()

    async def scenario() -> list[Observation | Event]:
        driver = rig.driver()
        assert isinstance(driver, Driver)
        await driver.open()
        try:
            return await driver.poll()
        finally:
            await driver.close()

    (observation,) = asyncio.run(scenario())
    assert isinstance(observation, Observation)
    assert (observation.channel, observation.value, observation.unit) == ("temp", "-80.12", "Cel")
    assert [data for _, data in rig.link.writes] == [b"T?\r"]
    assert rig.link.closed


def test_devices_on_one_port_share_one_link_and_keep_the_gap_between_frames() -> None:
    rig = Rig(lambda request: request[:3] + b"T=1.5 C\r\n")

    async def scenario() -> None:
        first, second = rig.driver("probe-1", address="#01"), rig.driver("probe-2", address="#02")
        assert first.port is second.port
        await first.open()
        await second.open()
        results = await asyncio.gather(*(d.poll() for d in [first, second] * 3))
        assert all(len(r) == 1 for r in results)
        await first.close()
        assert not rig.link.closed  # the second device still uses the port
        await second.close()
        await second.close()

    asyncio.run(scenario())
    assert len(rig.links) == 1
    assert rig.link.closed
    times = [at for at, _ in rig.link.writes]
    assert [data[:3] for _, data in rig.link.writes] == [b"#01", b"#02"] * 3
    assert all(later - earlier >= 0.02 - 1e-9 for earlier, later in itertools.pairwise(times))


def test_devices_that_disagree_on_the_line_settings_cannot_share_a_port() -> None:
    rig = Rig()
    first = rig.driver("probe-1")  # a port lives while a driver holds it
    with pytest.raises(DriverConfigError, match="baudrate: 9600 vs 19200"):
        rig.driver("probe-2", port={"baudrate": 19200})
    assert first.port.settings is not None


def test_a_streaming_device_needs_its_port_to_itself() -> None:
    rig = Rig()
    probe = rig.driver("probe-1")
    with pytest.raises(DriverConfigError, match="ln2-1 streams, so it needs the port to itself"):
        rig.driver("ln2-1", mode="stream")
    other = Rig()
    ln2 = other.driver("ln2-1", mode="stream")
    with pytest.raises(DriverConfigError, match="ln2-1 streams"):
        other.driver("probe-1")
    assert probe.port is not ln2.port


def test_no_answer_is_a_timeout_and_the_device_unavailable() -> None:
    rig = Rig(lambda request: b"")

    async def scenario() -> SerialDriver:
        driver = rig.driver()
        await driver.open()
        with pytest.raises(DriverTimeoutError, match=r"no answer within 0\.5 s"):
            await driver.poll()
        return driver

    status = asyncio.run(scenario()).status()
    assert (status.state, status.polls, status.errors, status.bad_frames) == ("unavailable", 1, 1, 0)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [(b"T=-80.1", "truncated"), (b"T=" + b"9" * 300, "too_long"), (b"T=" + b"9" * 300 + b"\r\n", "too_long")],
)
def test_an_answer_without_its_terminator_in_time_is_a_bad_frame(answer: bytes, reason: str) -> None:
    rig = Rig(lambda request: answer)

    async def scenario() -> SerialDriver:
        driver = rig.driver()
        await driver.open()
        with pytest.raises(BadLineError) as caught:
            await driver.poll()
        assert caught.value.reason == reason
        return driver

    status = asyncio.run(scenario()).status()
    assert (status.state, status.bad_frames) == ("open", 1)


def test_stale_input_is_discarded_before_each_request() -> None:
    rig = Rig()

    async def scenario() -> list[Observation | Event]:
        driver = rig.driver()
        await driver.open()
        rig.link.push(b"T=99.9 C\r\n")  # a late answer to an earlier, abandoned request
        return await driver.poll()

    (observation,) = asyncio.run(scenario())
    assert isinstance(observation, Observation)
    assert observation.value == "-80.12"


def test_a_port_that_vanishes_is_unavailable_until_the_device_is_opened_again() -> None:
    rig = Rig()

    async def scenario() -> None:
        driver = rig.driver()
        await driver.open()
        rig.link.fail = OSError(5, "Input/output error")
        with pytest.raises(DriverUnavailableError, match="Input/output error"):
            await driver.poll()
        assert rig.link.closed
        assert driver.status().state == "unavailable"
        with pytest.raises(DriverUnavailableError, match="not open"):
            await driver.poll()
        await driver.open()
        assert len(await driver.poll()) == 1
        assert driver.status().state == "open"
        await driver.close()

    asyncio.run(scenario())
    assert len(rig.links) == 2


def test_polling_a_closed_device_is_unavailable() -> None:
    async def scenario() -> None:
        with pytest.raises(DriverUnavailableError, match="call open"):
            await Rig().driver().poll()

    asyncio.run(scenario())


def test_a_stream_returns_good_lines_and_bad_frame_events_in_arrival_order() -> None:
    rig = Rig(stream=True)

    async def scenario() -> tuple[list[Observation | Event], SerialDriver]:
        driver = rig.driver(mode="stream", silence_timeout_s=5)
        await driver.open()
        rig.link.push(b"T=-80.10 C\r\n\r\nT=-80.11 C\r\n\xfe\xff garbage\r\nT=-80.12 C\r\nT=-80.1")
        readings = await poll_until(driver, 4)
        await driver.close()
        return readings, driver

    readings, driver = asyncio.run(scenario())
    kinds = [r.value if isinstance(r, Observation) else r.type for r in readings]
    assert kinds == ["-80.10", "-80.11", "bad_frame", "-80.12"]
    event = readings[2]
    assert isinstance(event, Event)
    assert (event.severity, event.device, event.attrs["reason"]) == ("warning", "probe-1", "not_text")
    assert event.attrs["bytes"] == b"\xfe\xff garbage".hex()
    assert all(r.source_ts is not None for r in readings if isinstance(r, Observation))
    assert driver.status().bad_frames == 1


def test_a_silent_stream_times_out_and_a_failed_one_is_unavailable_after_its_last_lines() -> None:
    rig = Rig(stream=True)

    async def scenario() -> None:
        driver = rig.driver(mode="stream", silence_timeout_s=5)
        await driver.open()
        assert await driver.poll() == []
        rig.clock.now += 5
        with pytest.raises(DriverTimeoutError, match=r"nothing received for 5\.0 s"):
            await driver.poll()
        rig.link.push(b"T=1.0 C\r\n")
        assert len(await poll_until(driver, 1)) == 1
        assert driver.status().state == "open"
        rig.link.push(b"T=2.0 C\r\n")
        await until(lambda: rig.link.in_waiting == 0)
        rig.link.fail = OSError(5, "Input/output error")
        await until(lambda: driver.status().state == "unavailable")
        assert len(await driver.poll()) == 1  # what came before the failure still comes out
        with pytest.raises(DriverUnavailableError, match="Input/output error"):
            await driver.poll()
        rig.link.fail = None
        await driver.close()
        await driver.open()
        assert await driver.poll() == []
        await driver.close()

    asyncio.run(scenario())
    assert len(rig.links) == 2


def test_bad_frames_are_logged_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([b"X\r\n", b"Y\r\n", b"T=1 C\r\n", b"Z\r\n"])
    rig = Rig(lambda request: next(answers))

    async def scenario() -> None:
        driver = rig.driver()
        await driver.open()
        for _ in range(4):
            with contextlib.suppress(BadFrameError):
                await driver.poll()
        assert driver.status().bad_frames == 3

    with caplog.at_level("INFO", logger="drivers.serial.driver"):
        asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert sum("bad frame (no_match)" in m for m in messages) == 2
    assert any("good frames again after 2 bad" in m for m in messages)
