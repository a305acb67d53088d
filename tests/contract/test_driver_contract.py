"""The contract every driver keeps (``drivers.base.Driver``), run against each family's real simulator.

One behaviour for all of them:

- ``poll()`` returns a sequence of ``Observation``/``Event`` of the driver's device; values are decimal text or
  ``None`` (never a float, and ``None`` is never "good"); ``status()`` is ``open`` and counts the polls.
- ``close()`` is safe before ``open()`` and twice; a closed driver is ``closed`` and its ``poll()`` raises
  ``DriverUnavailableError`` (retryable: a supervisor that polls it reopens it) without changing its state.
- An unreachable device: ``open()`` raises ``DriverUnavailableError`` within the driver's configured timeout (plus
  ``MARGIN_S``), so does every ``poll()`` after it, and ``status().state`` is ``unavailable``.
- A bad frame: a request/response driver's poll raises ``BadFrameError``; a streaming driver's poll returns one
  ``bad_frame`` event in its place. Either way ``bad_frames`` and ``errors`` grow by one and the next good frame reads.
- A failing device never yields a made-up value: once the failure shows, no observation carries a value.

What "bad frame", "fails" and "unreachable" mean for each family is in ``devices.py``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence

import pytest

from drivers import BadFrameError, Driver, DriverError, DriverUnavailableError, Reading
from protocol.models import Event, Observation
from tests.contract.devices import ContractDevice

pytestmark = pytest.mark.e2e

MARGIN_S = 1.0
"""How much longer than its configured timeout a driver may take to report a failure."""
CLOSE_WITHIN_S = 2.0
SCENARIO_LIMIT_S = 20.0
"""No test may hang: each scenario is cancelled (and fails) after this long."""
POLL_GAP_S = 0.02
STILL_FAILING_S = 0.3
"""How long polls keep being checked after a failure first showed."""
DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(SCENARIO_LIMIT_S):
            await scenario()

    asyncio.run(bounded())


def checked(batch: object, device: ContractDevice) -> list[Reading]:
    """One poll's readings, each checked against the protocol."""
    assert isinstance(batch, Sequence), f"poll() returned {type(batch).__name__}, not a sequence"
    for reading in batch:
        assert isinstance(reading, Observation | Event), f"not a protocol reading: {reading!r}"
        assert reading.device == device.device_id, f"device {reading.device!r}, expected {device.device_id!r}"
        if isinstance(reading, Observation):
            value = reading.value
            if value is None:
                assert reading.quality != "good", f"no value, yet quality good: {reading!r}"
            else:
                assert type(value) is str, f"value {value!r} is a {type(value).__name__}, not decimal text"
                assert DECIMAL_TEXT.fullmatch(value), f"value {value!r} is not decimal text"
        else:
            floats = {key: value for key, value in reading.attrs.items() if isinstance(value, float)}
            assert not floats, f"event attributes hold floats: {floats}"
    return list(batch)


def is_bad_frame(reading: Reading) -> bool:
    return isinstance(reading, Event) and reading.type == "bad_frame"


def has_value(reading: Reading) -> bool:
    return isinstance(reading, Observation) and reading.value is not None


async def poll_until(
    driver: Driver, device: ContractDevice, done: Callable[[list[Reading]], bool], within_s: float, what: str
) -> list[Reading]:
    """Poll until ``done(every reading so far)``; fail after ``within_s``."""
    readings: list[Reading] = []
    deadline = time.monotonic() + within_s
    while True:
        readings += checked(await driver.poll(), device)
        if done(readings):
            return readings
        if time.monotonic() >= deadline:
            raise AssertionError(f"no {what} within {within_s} s; readings: {readings}")
        await asyncio.sleep(POLL_GAP_S)


async def good_readings(driver: Driver, device: ContractDevice) -> list[Reading]:
    """Make the device send good data and poll until some arrived."""
    await device.produce()
    return await poll_until(
        driver, device, lambda readings: any(map(device.is_good, readings)), device.data_within_s, "good reading"
    )


async def close(driver: Driver) -> None:
    async with asyncio.timeout(CLOSE_WITHIN_S):
        await driver.close()


def test_an_open_driver_polls_protocol_readings_with_decimal_text_values(device: ContractDevice) -> None:
    driver = device.driver()
    assert isinstance(driver, Driver)

    async def scenario() -> None:
        assert driver.status().state == "closed"
        await driver.open()
        try:
            opened = driver.status()
            assert opened.state == "open"
            readings = await good_readings(driver, device)
            readings += checked(await driver.poll(), device)
            status = driver.status()
        finally:
            await close(driver)
        assert status.state == "open"
        assert status.polls >= opened.polls + 2
        assert status.last_ok is not None
        assert status.last_ok.tzinfo is not None
        assert (status.errors, status.bad_frames) == (0, 0), status
        assert not any(map(is_bad_frame, readings)), readings

    run(scenario)


def test_close_is_safe_twice_and_a_closed_driver_refuses_to_poll(device: ContractDevice) -> None:
    driver = device.driver()

    async def scenario() -> None:
        await close(driver)  # never opened
        assert driver.status().state == "closed"
        await driver.open()
        try:
            await good_readings(driver, device)
        finally:
            await close(driver)
        await close(driver)
        assert driver.status().state == "closed"
        with pytest.raises(DriverUnavailableError):
            await driver.poll()
        assert driver.status().state == "closed"
        await close(driver)

    run(scenario)


def test_an_unreachable_device_is_unavailable_within_its_timeout(device: ContractDevice) -> None:
    driver = device.unavailable_driver()
    limit_s = device.unavailable_within_s + MARGIN_S

    async def scenario() -> None:
        try:
            started = time.monotonic()
            with pytest.raises(DriverUnavailableError):
                async with asyncio.timeout(limit_s):
                    await driver.open()
            took_s = time.monotonic() - started
            assert took_s <= limit_s, f"open() took {took_s:.2f} s to give up"
            status = driver.status()
            assert status.state == "unavailable", status
            assert status.last_error is not None
            assert status.errors >= 1
            for _ in range(2):
                started = time.monotonic()
                with pytest.raises(DriverUnavailableError):
                    async with asyncio.timeout(limit_s):
                        await driver.poll()  # nothing returned, so nothing made up
                took_s = time.monotonic() - started
                assert took_s <= limit_s, f"poll() took {took_s:.2f} s to give up"
                assert driver.status().state == "unavailable", driver.status()
        finally:
            await close(driver)
        await close(driver)
        assert driver.status().state == "closed"

    run(scenario)


def test_a_bad_frame_is_counted_and_the_driver_keeps_reading(device: ContractDevice) -> None:
    driver = device.driver()

    async def scenario() -> None:
        await driver.open()
        try:
            await good_readings(driver, device)
            before = driver.status()
            await device.corrupt()
            if device.streaming:
                readings = await poll_until(
                    driver, device, lambda rs: any(map(is_bad_frame, rs)), device.failure_within_s, "bad_frame event"
                )
            else:
                with pytest.raises(BadFrameError):
                    await driver.poll()
                readings = []
            readings += await good_readings(driver, device)
            status = driver.status()
        finally:
            await close(driver)
        bad = [index for index, reading in enumerate(readings) if is_bad_frame(reading)]
        assert len(bad) == (1 if device.streaming else 0), readings
        assert any(map(device.is_good, readings[bad[0] if bad else 0 :])), "no good reading after the bad frame"
        assert status.bad_frames == before.bad_frames + 1, (before, status)
        assert status.errors == before.errors + 1, (before, status)
        assert status.last_error is not None
        assert status.state == "open"

    run(scenario)


def test_a_failing_device_never_yields_a_made_up_value(device: ContractDevice) -> None:
    driver = device.driver()

    async def scenario() -> None:
        await driver.open()
        try:
            await good_readings(driver, device)
            await device.fail()
            # A streaming driver may still hand over what arrived before the failure; a polled one may not.
            failed_at = None if device.streaming else time.monotonic()
            failures = 0
            deadline = time.monotonic() + device.failure_within_s + MARGIN_S
            while failed_at is None or failures < 2 or time.monotonic() - failed_at < STILL_FAILING_S:
                try:
                    readings = checked(await driver.poll(), device)
                except DriverError:
                    failures += 1
                    failed_at = failed_at or time.monotonic()
                    readings = []
                for reading in readings:
                    if is_bad_frame(reading):
                        failures += 1
                        failed_at = failed_at or time.monotonic()
                    assert failed_at is None or not has_value(reading), f"a value from a failing device: {reading}"
                assert failures or device.streaming, f"a poll of a failing device succeeded: {readings}"
                assert time.monotonic() < deadline, f"only {failures} failures reported in time"
                await asyncio.sleep(POLL_GAP_S)
        finally:
            await close(driver)

    run(scenario)
