"""MqttDriver's own logic (buffering, acknowledgements, duplicates, order, reconnects) over a fake session: no sockets.

``FakeBroker`` stands in for the transport seam (``SessionFactory``): each connection is a ``FakeSession`` the test
feeds messages into and can drop; acknowledgements are recorded per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from drivers import Driver, DriverConfigError, DriverUnavailableError, Reading
from drivers.mqtt import (
    FieldMapping,
    InboundMessage,
    MessageSink,
    MqttBrokerSettings,
    MqttDeviceSettings,
    MqttDriver,
    MqttSession,
    MqttSubscription,
    create_driver,
)
from protocol.models import Event, Observation

ROOM = "lab/site-a/ln2-room-1"


class FakeSession:
    def __init__(self, number: int, sink: MessageSink, refuse: set[str], subscribed: asyncio.Event) -> None:
        self.number = number
        self.sink = sink
        self.refuse = refuse
        self.subscribed = subscribed
        self.acks: list[int] = []
        self.filters: list[str] = []
        self._dropped = asyncio.Event()
        self._mid = 0

    async def subscribe(self, filters: Sequence[str], qos: int) -> list[str]:
        self.filters = list(filters)
        self.subscribed.set()  # the driver counts as connected as soon as this returns
        return [topic for topic in filters if topic in self.refuse]

    async def run(self) -> None:
        await self._dropped.wait()
        self.subscribed.clear()
        raise DriverUnavailableError("connection lost")

    def ack(self, mid: int, qos: int) -> bool:
        self.acks.append(mid)
        return True

    def deliver(self, topic: str, payload: bytes, *, qos: int = 1, dup: bool = False, mid: int | None = None) -> int:
        if mid is None:
            self._mid += 1
            mid = self._mid
        self.sink(InboundMessage(topic, payload, qos, mid, dup))
        return mid

    def drop(self) -> None:
        self._dropped.set()


class FakeBroker:
    def __init__(self) -> None:
        self.up = True
        self.refuse: set[str] = set()
        self.sessions: list[FakeSession] = []
        self.attempts = 0
        self.subscribed = asyncio.Event()

    @property
    def session(self) -> FakeSession:
        return self.sessions[-1]

    def __call__(self, broker: MqttBrokerSettings, sink: MessageSink, tls: Any) -> Any:
        return self._connect(sink)

    @contextlib.asynccontextmanager
    async def _connect(self, sink: MessageSink) -> AsyncIterator[MqttSession]:
        self.attempts += 1
        if not self.up:
            raise DriverUnavailableError("connection refused")
        self.subscribed.clear()
        session = FakeSession(len(self.sessions) + 1, sink, self.refuse, self.subscribed)
        self.sessions.append(session)
        yield session

    async def wait_connected(self, driver: MqttDriver) -> None:
        async with asyncio.timeout(2):
            await self.subscribed.wait()
        assert driver.connected


def settings(**fields: Any) -> MqttDeviceSettings:
    broker = {"host": "broker.invalid", "client_id": "edge-1", "reconnect_min_s": 0.001, "reconnect_max_s": 0.002}
    broker.update(fields.pop("broker", {}))
    data: dict[str, Any] = {
        "driver": "mqtt",
        "broker": broker,
        "subscriptions": [
            MqttSubscription(
                topic=f"{ROOM}/+",
                channel_segment=-1,
                timestamp="$.ts",
                mappings=[FieldMapping(path="$.value", unit="Cel", range=("-40", "85"))],
            ),
            MqttSubscription(topic=f"{ROOM}/door/state", payload="plain", mappings=[FieldMapping(channel="door")]),
        ],
    }
    data.update(fields)
    return MqttDeviceSettings.model_validate(data)


def reading(second: int, value: str = "21.40") -> bytes:
    return f'{{"ts": "2025-11-25T12:00:{second:02d}Z", "value": {value}}}'.encode()


def make(fake: FakeBroker, **fields: Any) -> MqttDriver:
    return MqttDriver("ln2-room-1", settings(**fields), session_factory=fake, jitter=lambda: 0.0)


def values(readings: Sequence[Reading]) -> list[str | None]:
    return [r.value for r in readings if isinstance(r, Observation)]


def kinds(readings: Sequence[Reading]) -> list[str]:
    return [r.type if isinstance(r, Event) else "observation" for r in readings]


def test_poll_returns_what_arrived_and_acknowledge_acks_exactly_what_was_returned() -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker)
        assert isinstance(driver, Driver)
        await driver.open()
        assert broker.session.filters == [f"{ROOM}/+", f"{ROOM}/door/state"]
        first = broker.session.deliver(f"{ROOM}/temperature", reading(1))
        second = broker.session.deliver(f"{ROOM}/door/state", b"1", qos=0)
        readings = await driver.poll()
        later = broker.session.deliver(f"{ROOM}/temperature", reading(2, "21.5"))
        assert broker.session.acks == []  # nothing before the edge says the readings are durable
        await driver.acknowledge()
        assert broker.session.acks == [first]  # QoS 0 needs no ack; the later message was not returned yet
        assert second != later
        assert values(await driver.poll()) == ["21.5"]
        await driver.acknowledge()
        assert broker.session.acks == [first, later]
        assert driver.counters().acknowledged == 2
        await driver.close()
        assert values(readings) == ["21.40", "1"]
        observation = readings[0]
        assert isinstance(observation, Observation)
        assert (observation.channel, observation.unit, observation.device) == ("temperature", "Cel", "ln2-room-1")
        assert observation.source_ts is not None

    asyncio.run(scenario())


def test_acknowledge_through_a_mark_leaves_what_was_polled_after_it_for_the_next_flush() -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker)
        await driver.open()
        session = broker.session
        first = session.deliver(f"{ROOM}/temperature", reading(1))
        await driver.poll()
        mark = driver.poll_mark()  # the agent's flush starts here...
        second = session.deliver(f"{ROOM}/temperature", reading(2))
        await driver.poll()  # ...while this device keeps polling
        await driver.acknowledge(through=mark)  # the flush committed only the first
        assert session.acks == [first]
        await driver.acknowledge(through=driver.poll_mark())
        assert session.acks == [first, second]
        await driver.acknowledge()
        assert session.acks == [first, second]
        await driver.close()

    asyncio.run(scenario())


def test_bad_payloads_become_events_in_place_counted_and_logged_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[Reading]:
        broker = FakeBroker()
        driver = make(broker)
        await driver.open()
        session = broker.session
        session.deliver(f"{ROOM}/temperature", reading(1))
        for payload in (b'{"ts": "2025-11-25T12:00:02Z", "val', b'{"ts": "x", "value": 1}', b"\xff\xfe"):
            session.deliver(f"{ROOM}/humidity", payload)
        session.deliver(f"{ROOM}/door/state", b"open")
        session.deliver(f"{ROOM}/temperature", reading(3))
        session.deliver(f"{ROOM}/temperature", b"[]")
        with caplog.at_level(logging.INFO, logger="drivers.mqtt.driver"):
            readings = await driver.poll()
        status, counters = driver.status(), driver.counters()
        await driver.acknowledge()
        assert len(session.acks) == 7  # bad payloads are acknowledged too, once their events are durable
        await driver.close()
        assert (status.bad_frames, counters.bad_payloads, status.state) == (5, 5, "open")
        return readings

    readings = asyncio.run(scenario())
    assert kinds(readings) == ["observation", *["bad_frame"] * 4, "observation", "bad_frame"]
    bad = [r for r in readings if isinstance(r, Event)]
    assert {(e.severity, e.device) for e in bad} == {("warning", "ln2-room-1")}
    assert bad[0].attrs["topic"] == f"{ROOM}/humidity"
    assert bad[0].attrs["payload_head"] == '{"ts": "2025-11-25T12:00:02Z", "val'
    assert "malformed JSON" in str(bad[0].attrs["error"])
    assert [e.attrs["bad_frames"] for e in bad] == [1, 2, 3, 4, 5]
    assert bad[2].attrs["payload_head"] == "\\xff\\xfe"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    recoveries = [r for r in caplog.records if "now recovered" in r.getMessage()]
    assert len(warnings) == 2  # one per burst: four in a row, then one more
    assert len(recoveries) == 1


def test_duplicates_are_dropped_but_honest_repeats_are_kept() -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker)
        await driver.open()
        session = broker.session
        session.deliver(f"{ROOM}/temperature", reading(1))
        session.deliver(f"{ROOM}/temperature", reading(1))  # the device sent it twice: same time stamp
        session.deliver(f"{ROOM}/door/state", b"1")
        session.deliver(f"{ROOM}/door/state", b"1")  # no time stamp: a door still open is a new reading
        session.deliver(f"{ROOM}/door/state", b"1", dup=True)  # the broker's redelivery of one we have
        session.deliver(f"{ROOM}/door/state", b"0", dup=True)  # redelivered, but new to us
        readings = await driver.poll()
        await driver.acknowledge()
        assert values(readings) == ["21.40", "1", "1", "0"]
        counters = driver.counters()
        assert (counters.duplicates, counters.redelivered, counters.received) == (2, 2, 6)
        assert len(session.acks) == 6
        await driver.close()

    asyncio.run(scenario())


def test_a_reading_stamped_before_the_newest_is_kept_where_it_arrived_and_flagged() -> None:
    async def scenario() -> list[Reading]:
        broker = FakeBroker()
        driver = make(broker)
        await driver.open()
        broker.session.deliver(f"{ROOM}/temperature", reading(5, "21.5"))
        broker.session.deliver(f"{ROOM}/temperature", reading(3, "21.3"))
        broker.session.deliver(f"{ROOM}/o2", reading(4, "20.9"))  # another channel has its own order
        broker.session.deliver(f"{ROOM}/temperature", reading(6, "21.6"))
        readings = await driver.poll()
        assert driver.counters().out_of_order == 1
        await driver.close()
        return readings

    readings = asyncio.run(scenario())
    assert kinds(readings) == ["observation", "observation", "out_of_order", "observation", "observation"]
    assert values(readings) == ["21.5", "21.3", "20.9", "21.6"]
    event = readings[2]
    assert isinstance(event, Event)
    assert (event.channel, event.severity) == ("temperature", "info")
    assert event.attrs == {
        "topic": f"{ROOM}/temperature",
        "source_ts": "2025-11-25T12:00:03.000000Z",
        "newest_ts": "2025-11-25T12:00:05.000000Z",
    }


def test_out_of_range_values_are_bad_observations_with_an_event() -> None:
    async def scenario() -> list[Reading]:
        broker = FakeBroker()
        driver = make(broker)
        await driver.open()
        broker.session.deliver(f"{ROOM}/temperature", reading(1, "-273.15"))
        readings = await driver.poll()
        assert driver.counters().out_of_range == 1
        await driver.close()
        return readings

    observation, event = asyncio.run(scenario())
    assert isinstance(observation, Observation)
    assert isinstance(event, Event)
    assert (observation.value, observation.quality, event.type) == ("-273.15", "bad", "out_of_range")


def test_a_lost_connection_is_unavailable_until_the_loop_reconnects_and_old_acks_are_not_sent() -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker, broker={"reconnect_min_s": 0.05, "reconnect_max_s": 0.05})
        await driver.open()
        first = broker.session
        first.deliver(f"{ROOM}/temperature", reading(1))
        assert values(await driver.poll()) == ["21.40"]
        first.deliver(f"{ROOM}/temperature", reading(2))  # arrives, then the connection drops
        broker.up = False
        first.drop()
        await asyncio.sleep(0.01)
        assert driver.status().state == "unavailable"
        assert values(await driver.poll()) == ["21.40"]  # what arrived before the drop still flows
        with pytest.raises(DriverUnavailableError, match="not connected"):
            await driver.poll()
        assert driver.status().state == "unavailable"
        await driver.acknowledge()  # nowhere to send them: the broker will redeliver
        assert first.acks == []
        broker.up = True
        await broker.wait_connected(driver)
        second = broker.session
        second.deliver(f"{ROOM}/temperature", reading(1), dup=True, mid=1)  # the broker redelivers both
        second.deliver(f"{ROOM}/temperature", reading(2), dup=True, mid=2)
        second.deliver(f"{ROOM}/temperature", reading(3), mid=3)
        assert values(await driver.poll()) == ["21.40"]
        await driver.acknowledge()
        assert second.acks == [1, 2, 3]
        counters = driver.counters()
        assert (counters.connects, counters.disconnects, counters.duplicates) == (2, 1, 2)
        assert driver.status().state == "open"
        await driver.close()

    asyncio.run(scenario())


def test_open_fails_fast_when_the_broker_is_down_and_the_loop_keeps_trying() -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        broker.up = False
        driver = make(broker)
        with pytest.raises(DriverUnavailableError, match="connection refused"):
            await driver.open()
        assert driver.status().state == "unavailable"
        with pytest.raises(DriverUnavailableError):
            await driver.poll()
        broker.up = True
        await broker.wait_connected(driver)  # no second open(): the driver's own loop reconnected
        assert await driver.poll() == []
        assert broker.attempts >= 2
        await driver.close()

    asyncio.run(scenario())


def test_a_full_buffer_drops_and_says_so_in_an_event() -> None:
    async def scenario() -> list[Reading]:
        broker = FakeBroker()
        driver = make(broker, buffer_size=3, broker={"protocol": "3.1.1"})
        await driver.open()
        for second in range(5):
            broker.session.deliver(f"{ROOM}/temperature", reading(second))
        readings = await driver.poll()
        assert driver.counters().overflowed == 2
        assert kinds(await driver.poll()) == []
        await driver.close()
        return readings

    readings = asyncio.run(scenario())
    assert kinds(readings) == ["buffer_overflow", "observation", "observation", "observation"]
    assert isinstance(readings[0], Event)
    assert readings[0].attrs == {"dropped": 2, "buffer_size": 3}


def test_a_refused_subscription_is_an_alarm_event_and_the_others_still_flow() -> None:
    async def scenario() -> list[Reading]:
        broker = FakeBroker()
        broker.refuse = {f"{ROOM}/door/state"}
        driver = make(broker)
        await driver.open()
        broker.session.deliver(f"{ROOM}/temperature", reading(1))
        readings = await driver.poll()
        await driver.close()
        return readings

    readings = asyncio.run(scenario())
    assert kinds(readings) == ["subscription_refused", "observation"]
    assert isinstance(readings[0], Event)
    assert (readings[0].severity, readings[0].attrs["topic"]) == ("alarm", f"{ROOM}/door/state")


def test_messages_on_topics_no_subscription_maps_are_counted_and_acknowledged() -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker)
        await driver.open()
        broker.session.deliver("lab/elsewhere/x", b"1")  # a subscription an older configuration left behind
        assert await driver.poll() == []
        await driver.acknowledge()
        assert broker.session.acks == [1]
        assert driver.counters().unmatched == 1
        await driver.close()

    asyncio.run(scenario())


def test_close_is_safe_twice_acknowledges_nothing_and_poll_after_close_is_refused() -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker)
        await driver.close()
        await driver.open()
        broker.session.deliver(f"{ROOM}/temperature", reading(1))
        await driver.poll()
        await driver.close()
        await driver.close()
        assert broker.session.acks == []
        assert driver.status().state == "closed"
        with pytest.raises(DriverUnavailableError, match="call open"):
            await driver.poll()
        await driver.open()
        assert driver.status().state == "open"
        assert len(broker.sessions) == 2
        await driver.close()

    asyncio.run(scenario())


def test_a_poller_that_never_acknowledges_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker, broker={"receive_maximum": 2})
        await driver.open()
        with caplog.at_level(logging.WARNING, logger="drivers.mqtt.driver"):
            for second in range(4):
                broker.session.deliver(f"{ROOM}/temperature", reading(second))
                await driver.poll()
        await driver.close()

    asyncio.run(scenario())
    assert [r.getMessage() for r in caplog.records if "await acknowledge()" in r.getMessage()] == [
        "ln2-room-1: 2 polled messages await acknowledge(); the broker sends no more until they are acknowledged"
    ]


def test_a_poller_that_acknowledges_after_each_poll_is_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        broker = FakeBroker()
        driver = make(broker, broker={"receive_maximum": 2})
        await driver.open()
        with caplog.at_level(logging.WARNING, logger="drivers.mqtt.driver"):
            for second in range(0, 8, 2):
                broker.session.deliver(f"{ROOM}/temperature", reading(second))
                broker.session.deliver(f"{ROOM}/temperature", reading(second + 1))
                await driver.poll()
                await driver.acknowledge()
        await driver.close()

    asyncio.run(scenario())
    assert [r for r in caplog.records if "await acknowledge()" in r.getMessage()] == []


def test_a_bad_device_id_is_a_configuration_error() -> None:
    with pytest.raises(DriverConfigError, match="device 'room 1'"):
        MqttDriver("room 1", settings())


def test_unreadable_tls_files_are_a_configuration_error_at_construction(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    with pytest.raises(DriverConfigError, match="mqtt tls"):
        MqttDriver("ln2-room-1", settings(broker={"tls": {"ca_file": str(missing)}}))


def test_create_driver_builds_the_driver_the_edge_asks_for() -> None:
    driver = create_driver("ln2-room-1", settings())
    assert isinstance(driver, MqttDriver)
    assert driver.device_id == "ln2-room-1"
    assert driver.status().state == "closed"
    assert repr(driver) == "MqttDriver('ln2-room-1', 'mqtt://broker.invalid:1883', client_id='edge-1')"
