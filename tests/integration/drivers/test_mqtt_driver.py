"""MqttDriver against a real Mosquitto: the shared broker for most tests, a private one for the broker restart.

Every test uses its own topic prefix and client ids, and MQTT 5 sessions that expire a minute after the test, so
tests neither see each other's messages nor leave sessions behind on the shared broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from drivers import Driver, DriverUnavailableError, Reading
from drivers.mqtt import FieldMapping, MqttDeviceSettings, MqttDriver, MqttSubscription, create_driver
from protocol.models import Event, Observation

FIRMWARE_SIM = Path(__file__).resolve().parents[3] / "firmware-sim" / "mqtt"
Need = Callable[[str], tuple[str, int]]


@dataclass(frozen=True)
class Names:
    prefix: str
    client_id: str


@pytest.fixture
def names() -> Names:
    token = uuid.uuid4().hex[:12]
    return Names(prefix=f"tracseq-test/{token}", client_id=f"tracseq-test-{token}")


def settings(host: str, port: int, names: Names, **broker: Any) -> MqttDeviceSettings:
    return MqttDeviceSettings.model_validate(
        {
            "driver": "mqtt",
            "broker": {
                "host": host,
                "port": port,
                "client_id": names.client_id,
                "session_expiry_s": 60,
                "connect_timeout_s": 2,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.2,
                **broker,
            },
            "subscriptions": [
                MqttSubscription(
                    topic=f"{names.prefix}/+",
                    channel_segment=-1,
                    timestamp="$.ts",
                    mappings=[FieldMapping(path="$.value", unit="Cel", unit_path="$.unit")],
                )
            ],
        }
    )


def reading(n: int, value: str = "21.40") -> bytes:
    return f'{{"ts":"2025-11-25T12:00:{n:02d}.000Z","value":{value},"unit":"Cel"}}'.encode()


async def publish(host: str, port: int, topic: str, *payloads: bytes) -> None:
    async with aiomqtt.Client(host, port, identifier=f"pub-{uuid.uuid4().hex[:12]}") as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


async def collect(driver: MqttDriver, count: int, within: float = 5.0) -> list[Reading]:
    """Poll until ``count`` readings (observations and events) arrived, or fail after ``within`` seconds."""
    readings: list[Reading] = []
    deadline = time.monotonic() + within
    while len(readings) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{len(readings)} of {count} readings arrived: {readings}")
        readings.extend(await driver.poll())
        await asyncio.sleep(0.02)
    return readings


async def reconnected(driver: MqttDriver, within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if driver.connected:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"not reconnected within {within} s: {driver.status()}")


async def settle_acks() -> None:
    """Give the broker time to read the PUBACKs that a closed driver wrote.

    MQTT never confirms a PUBACK. A client that reconnects at once under the same id can take the session over
    before the broker has read the old connection's last packets, and then gets those messages again: correct
    at-least-once behaviour, but not what these tests are about.
    """
    await asyncio.sleep(0.2)


async def quiet(driver: MqttDriver, seconds: float = 0.3) -> list[Reading]:
    """Everything that arrives within ``seconds`` (expected: nothing)."""
    await asyncio.sleep(seconds)
    return list(await driver.poll())


def values(readings: Sequence[Reading]) -> list[str | None]:
    return [r.value for r in readings if isinstance(r, Observation)]


def test_readings_flow_with_their_exact_decimal_text_and_time_stamps(require_service: Need, names: Names) -> None:
    host, port = require_service("mqtt")

    async def scenario() -> list[Reading]:
        driver = create_driver("ln2-room-1", settings(host, port, names))
        assert isinstance(driver, Driver)
        await driver.open()
        try:
            assert driver.status().state == "open"
            await publish(host, port, f"{names.prefix}/temperature", reading(1), reading(2, "21.5"))
            await publish(host, port, f"{names.prefix}/o2", reading(3, "20.90"))
            readings = await collect(driver, 3)
            await driver.acknowledge()
            assert driver.counters().acknowledged == 3
            assert driver.status().polls >= 1
        finally:
            await driver.close()
        return readings

    readings = asyncio.run(scenario())
    assert [(r.channel, r.value, r.unit, r.quality) for r in readings if isinstance(r, Observation)] == [
        ("temperature", "21.40", "Cel", "good"),
        ("temperature", "21.5", "Cel", "good"),
        ("o2", "20.90", "Cel", "good"),
    ]
    first = readings[0]
    assert isinstance(first, Observation)
    assert first.source_ts is not None
    assert first.source_ts.isoformat() == "2025-11-25T12:00:01+00:00"


def test_malformed_and_wrong_type_payloads_become_bad_frame_events_while_good_data_flows(
    require_service: Need, names: Names
) -> None:
    host, port = require_service("mqtt")

    async def scenario() -> tuple[list[Reading], int]:
        driver = MqttDriver("ln2-room-1", settings(host, port, names))
        await driver.open()
        try:
            topic = f"{names.prefix}/temperature"
            malformed = reading(2)[:20]
            wrong_type = b'{"ts":"2025-11-25T12:00:03.000Z","value":"21.40","unit":"Cel"}'
            await publish(host, port, topic, reading(1), malformed, wrong_type, b"\x00\xff", reading(4, "21.6"))
            readings = await collect(driver, 5)
            await driver.acknowledge()
        finally:
            await driver.close()
        return readings, driver.status().bad_frames

    readings, bad_frames = asyncio.run(scenario())
    assert [r.type if isinstance(r, Event) else r.value for r in readings] == [
        "21.40",
        "bad_frame",
        "bad_frame",
        "bad_frame",
        "21.6",
    ]
    assert bad_frames == 3
    events = [r for r in readings if isinstance(r, Event)]
    assert "malformed JSON" in str(events[0].attrs["error"])
    assert 'expected a number, got string "21.40"' in str(events[1].attrs["error"])
    assert "not UTF-8" in str(events[2].attrs["error"])


def test_messages_published_while_the_driver_is_closed_arrive_when_it_reopens_with_the_same_client_id(
    require_service: Need, names: Names
) -> None:
    host, port = require_service("mqtt")

    async def scenario() -> None:
        first = MqttDriver("ln2-room-1", settings(host, port, names))
        await first.open()  # creates the session and its subscription on the broker
        await first.close()
        await publish(host, port, f"{names.prefix}/temperature", *(reading(n, f"21.{n}") for n in range(1, 6)))

        restarted = MqttDriver("ln2-room-1", settings(host, port, names))  # as a new agent process would
        await restarted.open()
        try:
            assert values(await collect(restarted, 5)) == ["21.1", "21.2", "21.3", "21.4", "21.5"]
            await restarted.acknowledge()
        finally:
            await restarted.close()

        await settle_acks()
        again = MqttDriver("ln2-room-1", settings(host, port, names))
        await again.open()
        try:
            assert await quiet(again) == []  # acknowledged: the broker forgot them
        finally:
            await again.close()

    asyncio.run(scenario())


def test_a_message_not_acknowledged_before_the_agent_stops_is_delivered_again(
    require_service: Need, names: Names
) -> None:
    host, port = require_service("mqtt")

    async def scenario() -> None:
        crashed = MqttDriver("ln2-room-1", settings(host, port, names))
        await crashed.open()
        await publish(host, port, f"{names.prefix}/temperature", reading(1), reading(2))
        assert values(await collect(crashed, 2)) == ["21.40", "21.40"]
        await crashed.close()  # the edge never flushed them, so it never called acknowledge()

        restarted = MqttDriver("ln2-room-1", settings(host, port, names))
        await restarted.open()
        try:
            assert len(values(await collect(restarted, 2))) == 2
            assert restarted.counters().redelivered == 2
            await restarted.acknowledge()
        finally:
            await restarted.close()

        await settle_acks()
        again = MqttDriver("ln2-room-1", settings(host, port, names))
        await again.open()
        try:
            assert await quiet(again) == []
        finally:
            await again.close()

    asyncio.run(scenario())


def test_qos_0_and_mqtt_3_1_1_sessions_also_deliver(require_service: Need, names: Names) -> None:
    host, port = require_service("mqtt")

    async def scenario() -> list[Reading]:
        driver = MqttDriver("ln2-room-1", settings(host, port, names, protocol="3.1.1"))
        await driver.open()
        try:
            async with aiomqtt.Client(host, port, identifier=f"{names.client_id}-pub") as client:
                await client.publish(f"{names.prefix}/temperature", reading(1), qos=0)
            readings = await collect(driver, 1)
            await driver.acknowledge()
        finally:
            await driver.close()
        async with aiomqtt.Client(host, port, identifier=names.client_id, clean_session=True):
            pass  # an MQTT 3.1.1 session never expires: remove it from the shared broker
        return readings

    assert values(asyncio.run(scenario())) == ["21.40"]


class Silent(asyncio.Protocol):
    """Accepts a connection and never answers: a broker that hangs before its CONNACK."""

    def __init__(self, transports: list[asyncio.BaseTransport]) -> None:
        self.transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transports.append(transport)


def test_a_broker_that_never_answers_fails_open_after_the_timeout_and_close_leaves_nothing_behind(
    caplog: pytest.LogCaptureFixture, names: Names
) -> None:
    async def scenario() -> float:
        transports: list[asyncio.BaseTransport] = []
        server = await asyncio.get_running_loop().create_server(lambda: Silent(transports), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        driver = MqttDriver("ln2-room-1", settings("127.0.0.1", port, names, connect_timeout_s=0.3))
        started = time.monotonic()
        with pytest.raises(DriverUnavailableError, match="timed out"):
            await driver.open()
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.15)  # the loop is inside its next attempt when close() cancels it
        await driver.close()
        for transport in transports:
            transport.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)  # any callback on a leaked socket would run now
        return elapsed

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        elapsed = asyncio.run(scenario())
    assert 0.25 < elapsed < 1.0
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


# --- a private broker, restarted under the driver ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class PrivateBroker:
    """Mosquitto through firmware-sim/mqtt/broker.py, on a fixed port, with its sessions saved in ``data_dir``."""

    def __init__(self, port: int, data_dir: Path, log: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(FIRMWARE_SIM / "broker.py"),
                    "--impl",
                    "mosquitto",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], 10)
        assert readable, self.log.read_text()
        ready = json.loads(self.proc.stdout.readline())
        assert ready["port"] == self.port, ready

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)  # Mosquitto saves its sessions on the way out
        code = self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.proc = None
        assert code == 0, self.log.read_text()


@pytest.fixture
def private_broker(require_service: Need, tmp_path: Path) -> Iterator[PrivateBroker]:
    require_service("mqtt")
    if shutil.which("mosquitto") is None and not os.access("/usr/sbin/mosquitto", os.X_OK):
        message = "the mosquitto binary is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    data_dir = tmp_path / "mosquitto"
    data_dir.mkdir()
    broker = PrivateBroker(free_port(), data_dir, tmp_path / "broker.log")
    broker.start()
    yield broker
    broker.stop()


def test_a_broker_restart_is_a_gap_for_the_supervisor_but_loses_no_qos1_message(
    private_broker: PrivateBroker, names: Names
) -> None:
    host, port = "127.0.0.1", private_broker.port
    topic = f"{names.prefix}/temperature"

    async def scenario() -> None:
        driver = MqttDriver("ln2-room-1", settings(host, port, names))
        await driver.open()
        try:
            await publish(host, port, topic, reading(1, "21.1"))
            assert values(await collect(driver, 1)) == ["21.1"]
            await driver.acknowledge()
            await publish(host, port, topic, reading(2, "21.2"), reading(3, "21.3"))
            assert values(await collect(driver, 2)) == ["21.2", "21.3"]  # polled, not yet durable: no ack

            private_broker.stop()
            with pytest.raises(DriverUnavailableError, match="not connected"):
                await collect(driver, 1, within=2)
            assert driver.status().state == "unavailable"

            private_broker.start()
            await publish(host, port, topic, reading(4, "21.4"), reading(5, "21.5"))
            await reconnected(driver)
            after = await collect(driver, 2)
            await driver.acknowledge()
            assert values(after) == ["21.4", "21.5"]  # queued in the restored session, none lost
            counters = driver.counters()
            assert counters.redelivered == 2  # 21.2 and 21.3 came back from the saved session...
            assert counters.duplicates == 2  # ...and were recognised as already returned
            assert counters.connects == 2
            assert driver.status().state == "open"
        finally:
            await driver.close()

        await settle_acks()
        again = MqttDriver("ln2-room-1", settings(host, port, names))
        await again.open()
        try:
            assert await quiet(again) == []
        finally:
            await again.close()

    asyncio.run(scenario())


# --- the room simulator as the device ---------------------------------------------------------------------------

SENSORS = {"temperature": ("Cel", ("-40", "85")), "humidity": ("%", ("0", "100")), "co2": ("[ppm]", ("0", "10000"))}
SENSORS["o2"] = ("%", ("0", "25"))


def room_settings(host: str, port: int, names: Names, room: str) -> MqttDeviceSettings:
    """What a site's configuration for the simulated room would say: one subscription per sensor."""
    subscriptions = [
        MqttSubscription(
            topic=f"{room}/{sensor}",
            timestamp="$.ts",
            mappings=[
                FieldMapping(path="$.value", channel=sensor, unit=unit, unit_path="$.unit", range=limits),
                FieldMapping(path="$.seq", channel=f"{sensor}_seq"),
            ],
        )
        for sensor, (unit, limits) in SENSORS.items()
    ]
    base = settings(host, port, names)
    return base.model_copy(update={"subscriptions": tuple(subscriptions)})


@contextlib.contextmanager
def room_sim(broker: str, prefix: str, log_path: Path, *args: str) -> Iterator[dict[str, Any]]:
    command = [sys.executable, str(FIRMWARE_SIM / "sim.py"), "--broker", broker, "--prefix", prefix]
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*command, "--control", "127.0.0.1:0", *args], stdout=subprocess.PIPE, stderr=log)
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], 10)
        assert readable, log_path.read_text()
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log_path.read_text()
        if proc.stdout is not None:
            proc.stdout.close()


def control(ready: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    host, _, port = ready["control"].rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(json.dumps(command).encode() + b"\n")
        with sock.makefile("rb") as lines:
            reply: dict[str, Any] = json.loads(lines.readline())
    assert reply["ok"] is True, reply
    return reply


def test_the_room_simulators_faults_reach_the_edge_as_events_while_good_data_flows(
    require_service: Need, names: Names, tmp_path: Path
) -> None:
    host, port = require_service("mqtt")
    room = f"{names.prefix}/site-a/ln2-room-1"

    async def scenario() -> tuple[list[Reading], Any]:
        driver = MqttDriver("ln2-room-1", room_settings(host, port, names, room))
        await driver.open()  # subscribed before the first reading is published
        try:
            with room_sim(f"{host}:{port}", names.prefix, tmp_path / "sim.log", "--interval", "30") as sim:
                readings = await collect(driver, 8)  # the cycle published at start-up
                for command in (
                    {"fault": "malformed_json", "sensor": "co2"},
                    {"fault": "wrong_type", "sensor": "temperature"},
                    {"fault": "out_of_range", "sensor": "o2"},
                    {"fault": "duplicate", "sensor": "humidity"},
                    {"fault": "out_of_order", "sensor": "temperature"},
                ):
                    control(sim, command)
                for _ in range(3):
                    control(sim, {"publish": "now"})
                    # lateness is judged by the readings' own times (milliseconds): cycles published within one
                    # millisecond would carry the same time, and the held-back reading would not be late
                    await asyncio.sleep(0.02)
                # Each reading is two observations (value, seq). Cycle 1: two bad frames, o2 + its out_of_range
                # event, humidity once (its duplicate dropped) = 7. Cycle 2: temperature held back = 6. Cycle 3:
                # eight, then the held temperature with an out_of_order event per channel = 12.
                readings += await collect(driver, 7 + 6 + 12)
                assert await quiet(driver) == []
                await driver.acknowledge()
        finally:
            await driver.close()
        return readings, driver.counters()

    readings, counters = asyncio.run(scenario())
    events = [r for r in readings if isinstance(r, Event)]
    assert sorted(e.type for e in events) == ["bad_frame", "bad_frame", "out_of_order", "out_of_order", "out_of_range"]
    assert {e.attrs["topic"] for e in events if e.type == "bad_frame"} == {f"{room}/co2", f"{room}/temperature"}
    assert counters.duplicates == 1
    good = [r for r in readings if isinstance(r, Observation) and r.quality == "good" and "seq" not in r.channel]
    assert {r.channel for r in good} == set(SENSORS)
    bad = [r for r in readings if isinstance(r, Observation) and r.quality == "bad"]
    assert [(r.channel, r.value) for r in bad] == [("o2", "99.9")]


def test_readings_taken_while_the_broker_restarts_all_reach_the_edge_once(
    private_broker: PrivateBroker, names: Names, tmp_path: Path
) -> None:
    host, port = "127.0.0.1", private_broker.port
    room = f"{names.prefix}/site-a/ln2-room-1"

    async def scenario() -> list[Reading]:
        driver = MqttDriver("ln2-room-1", room_settings(host, port, names, room))
        await driver.open()
        readings: list[Reading] = []
        try:
            with room_sim(f"{host}:{port}", names.prefix, tmp_path / "sim.log", "--interval", "0.05") as sim:
                readings += await collect(driver, 16)
                private_broker.stop()
                await asyncio.sleep(0.5)  # the sensors keep measuring; the gateway keeps what it cannot send
                private_broker.start()
                await reconnected(driver)
                readings += await collect(driver, 16)
                await asyncio.sleep(0.3)
                state = control(sim, {"get": "state"})
                assert state["connects"] == 2
                readings += await driver.poll()
                await driver.acknowledge()
        finally:
            await driver.close()
        return readings

    readings = asyncio.run(scenario())
    seqs = [int(r.value) for r in readings if isinstance(r, Observation) and r.channel == "temperature_seq" and r.value]
    assert seqs == list(range(1, len(seqs) + 1))  # none lost, none twice, in order
    assert len(seqs) >= 10
