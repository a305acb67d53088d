"""An MQTT device as a ``Driver``: a persistent QoS 1 session, one reconnect loop, messages buffered between polls.

``open()`` starts the one background task that owns the connection: connect, subscribe, wait for the connection to
end, back off, again, until ``close()`` cancels it. Messages land in a bounded buffer; ``poll()`` maps what arrived
since the last poll into readings, and ``acknowledge()`` sends the broker the PUBACK of every message earlier polls
returned. The edge calls it once those readings are durable, so a message is never acknowledged before it is on disk:
if the agent dies first, the broker still holds it and sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from drivers.base import BadFrameError, DriverConfigError, DriverError, DriverStatus, DriverUnavailableError, Reading
from drivers.mqtt.arrival import DuplicateWindow, OrderTracker, fingerprint
from drivers.mqtt.bursts import BurstLog
from drivers.mqtt.config import MqttDeviceSettings
from drivers.mqtt.mapping import PayloadMapper
from drivers.mqtt.session import InboundMessage, MqttSession, SessionFactory, aiomqtt_session, tls_context
from drivers.mqtt.topics import topic_matches
from protocol.models import Event, Identifier

logger = logging.getLogger(__name__)

_DEVICE_ID: TypeAdapter[str] = TypeAdapter(Identifier)
_ROUTE_CACHE = 4096
_MIN_DUPLICATE_WINDOW = 1024


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MqttCounters:
    """What the driver counted since it was created. ``bad_payloads`` equals ``status().bad_frames``."""

    received: int = 0
    bad_payloads: int = 0
    duplicates: int = 0
    redelivered: int = 0
    out_of_order: int = 0
    out_of_range: int = 0
    unmatched: int = 0
    overflowed: int = 0
    acknowledged: int = 0
    connects: int = 0
    disconnects: int = 0


_COUNTER_NAMES = frozenset(field.name for field in fields(MqttCounters))


@dataclass(frozen=True, slots=True)
class _Arrival:
    connection: int
    message: InboundMessage


@dataclass(frozen=True, slots=True)
class _Unacked:
    mark: int
    connection: int
    mid: int
    qos: int


class MqttDriver:
    """One MQTT device: every subscription of ``settings``, on one broker connection under a stable client id.

    ``poll()`` never raises for a bad payload: it returns a ``bad_frame`` event in its place, and good data around it
    still flows. It raises ``DriverUnavailableError`` only when nothing is buffered and the broker cannot be reached
    (the reconnect loop keeps trying meanwhile). Duplicates are dropped and counted (``counters()``): a message the
    broker marks as redelivered, or any message whose subscription has a time stamp, whose topic and payload match
    one of the recent messages. A reading stamped earlier than one already seen on its channel is kept where it
    arrived, followed by an ``out_of_order`` event.
    """

    def __init__(
        self,
        device_id: str,
        settings: MqttDeviceSettings,
        *,
        clock: Callable[[], datetime] = _utc_now,
        session_factory: SessionFactory = aiomqtt_session,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        try:
            self.device_id = _DEVICE_ID.validate_python(device_id)
        except ValidationError as exc:
            raise DriverConfigError(f"device {device_id!r}: {exc}") from exc
        self.settings = settings
        self._tls: ssl.SSLContext | None = tls_context(settings.broker.tls)
        self._clock = clock
        self._session_factory = session_factory
        self._jitter = jitter
        self._mappers = tuple(PayloadMapper(self.device_id, subscription) for subscription in settings.subscriptions)
        self._filters = [subscription.topic for subscription in settings.subscriptions]
        self._routes: dict[str, PayloadMapper | None] = {}
        self._buffer: deque[_Arrival] = deque()
        self._unacked: deque[_Unacked] = deque()
        self._consumed = 0
        self._events: list[Event] = []
        self._dropped = 0
        self._seen = DuplicateWindow(max(2 * settings.broker.receive_maximum, _MIN_DUPLICATE_WINDOW))
        self._order = OrderTracker()
        self._counts: Counter[str] = Counter()
        self._status = DriverStatus()
        self._task: asyncio.Task[None] | None = None
        self._session: MqttSession | None = None
        self._connection = 0
        self._last_error: DriverError | None = None
        self._changed: asyncio.Event | None = None
        self._stall_warned = False
        self._link = BurstLog(logger, self.device_id, "cannot reach the MQTT broker", logging.ERROR)
        self._bad = BurstLog(logger, self.device_id, "bad payload")
        self._duplicates = BurstLog(logger, self.device_id, "duplicate message dropped", logging.INFO)
        self._unmatched = BurstLog(logger, self.device_id, "message on a topic no subscription maps")
        self._overflow = BurstLog(logger, self.device_id, "buffer full, message dropped", logging.ERROR)

    def __repr__(self) -> str:
        broker = self.settings.broker
        return f"MqttDriver({self.device_id!r}, 'mqtt://{broker.host}:{broker.port}', client_id={broker.client_id!r})"

    @property
    def connected(self) -> bool:
        return self._session is not None

    def status(self) -> DriverStatus:
        return self._status

    def counters(self) -> MqttCounters:
        return MqttCounters(**{name: self._counts[name] for name in _COUNTER_NAMES})

    async def open(self) -> None:
        """Start the connection loop and wait for its first outcome.

        Raises ``DriverUnavailableError`` if that attempt failed or took longer than ``connect_timeout_s``; the loop
        keeps trying all the same, so a later ``poll()`` succeeds once the broker is back. ``close()`` stops it.
        """
        if self._task is None or self._task.done():
            self._changed = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name=f"mqtt:{self.device_id}")
        if self._session is not None or self._changed is None:
            return
        outcome = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.broker.connect_timeout_s + 1.0):
                await outcome.wait()
        if self._session is None:
            error = self._unavailable()
            self._status = replace(self._status.failed(error, poll=False), state="unavailable")
            raise error

    async def close(self) -> None:
        """Stop the loop and disconnect. Nothing is acknowledged: what was not, the broker sends again."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                logger.error("%s: connection loop ended with %r", self.device_id, task.exception())
        self._session = None
        self._buffer.clear()
        self._unacked.clear()
        self._events.clear()
        self._status = self._status.closed()

    async def poll(self) -> list[Reading]:
        """Everything that arrived since the last poll, in arrival order, mapped to readings."""
        if self._task is None:
            raise DriverUnavailableError(f"{self.device_id}: closed; call open() first")
        if self._session is None and not self._buffer and not self._events and not self._dropped:
            error = self._unavailable()
            self._status = replace(self._status.failed(error), state="unavailable")
            raise error
        self._warn_if_stalled()
        readings: list[Reading] = self._take_events()
        for _ in range(len(self._buffer)):
            readings.extend(self._consume(self._buffer.popleft()))
        now = self._clock()
        if self._session is not None:
            self._status = self._status.succeeded(now)
        else:  # data that arrived before the connection dropped
            self._status = replace(self._status, last_ok=now, polls=self._status.polls + 1)
        return readings

    def poll_mark(self) -> int:
        """A mark covering every message returned by polls so far, for ``acknowledge(through=...)``."""
        return self._consumed

    async def acknowledge(self, through: int | None = None) -> None:
        """Acknowledge the messages earlier polls returned: all of them, or those up to a ``poll_mark()``.

        Call it once their readings are durable. An agent whose flush runs while devices keep polling takes
        ``poll_mark()`` before the flush and passes it here after the flush committed, so that readings polled
        meanwhile are not acknowledged before they are on disk. Acknowledgements go out in arrival order.

        Messages received on a connection that has since dropped are not acknowledged: the broker sends them again
        (flagged as redelivered), the driver recognises and drops them, and acknowledges them after the next poll.
        """
        limit = self._consumed if through is None else through
        session = self._session
        sent = 0
        while self._unacked and self._unacked[0].mark <= limit:
            entry = self._unacked.popleft()
            if session is not None and entry.connection == self._connection and session.ack(entry.mid, entry.qos):
                sent += 1
        self._stall_warned = False
        self._counts["acknowledged"] += sent

    async def _run(self) -> None:
        failures = 0
        while True:
            self._connection += 1
            sink = functools.partial(self._receive, self._connection)
            try:
                async with self._session_factory(self.settings.broker, sink, self._tls) as session:
                    # Connected from the CONNACK on: a session the broker kept starts sending at once.
                    self._connected(session)
                    failures = 0
                    self._subscribed(await session.subscribe(self._filters, self.settings.qos))
                    await session.run()
                raise DriverUnavailableError("the broker closed the connection")
            except DriverError as exc:
                self._disconnected(exc)
            except Exception as exc:  # a bug must not end the one loop that owns the connection
                logger.exception("%s: unexpected error in the MQTT connection loop", self.device_id)
                self._disconnected(DriverUnavailableError(f"{type(exc).__name__}: {exc}"))
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        broker = self.settings.broker
        ceiling = min(broker.reconnect_max_s, broker.reconnect_min_s * 2.0 ** min(failures - 1, 30))
        return ceiling * (0.5 + self._jitter() / 2)

    def _connected(self, session: MqttSession) -> None:
        broker = self.settings.broker
        self._session = session
        self._last_error = None
        self._counts["connects"] += 1
        self._status = self._status.opened()
        self._link.recovered()
        logger.info("%s: connected to mqtt://%s:%d as %r", self.device_id, broker.host, broker.port, broker.client_id)

    def _subscribed(self, refused: list[str]) -> None:
        broker = self.settings.broker
        for topic in refused:
            logger.error("%s: the broker refused the subscription to %r", self.device_id, topic)
            self._events.append(
                Event(
                    type="subscription_refused",
                    severity="alarm",
                    device=self.device_id,
                    message=f"the broker refused the subscription to {topic!r}: no data will arrive from it",
                    attrs={"topic": topic[:256], "client_id": broker.client_id},
                )
            )
        self._notify()

    def _disconnected(self, error: DriverError) -> None:
        if self._session is not None:
            self._counts["disconnects"] += 1
        self._session = None
        self._last_error = error
        self._status = replace(self._status.failed(error, poll=False), state="unavailable")
        self._link.failure(str(error))
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = asyncio.Event()

    def _unavailable(self) -> DriverError:
        broker = self.settings.broker
        error = self._last_error
        where = f"{self.device_id}: mqtt://{broker.host}:{broker.port}"
        if error is not None and not error.retryable:
            return DriverConfigError(f"{where}: {error}")
        return DriverUnavailableError(f"{where}: not connected" + (f" ({error})" if error is not None else ""))

    def _receive(self, connection: int, message: InboundMessage) -> None:
        self._counts["received"] += 1
        if len(self._buffer) >= self.settings.buffer_size:
            self._counts["overflowed"] += 1
            self._dropped += 1
            self._overflow.failure(f"{self.settings.buffer_size} messages wait for poll(); dropped {message.topic!r}")
            return
        self._buffer.append(_Arrival(connection, message))

    def _take_events(self) -> list[Reading]:
        readings: list[Reading] = list(self._events)
        self._events.clear()
        if self._dropped:
            readings.append(
                Event(
                    type="buffer_overflow",
                    severity="warning",
                    device=self.device_id,
                    message=f"{self._dropped} messages dropped: {self.settings.buffer_size} were waiting for a poll",
                    attrs={"dropped": self._dropped, "buffer_size": self.settings.buffer_size},
                )
            )
            self._dropped = 0
        else:
            self._overflow.recovered()
        return readings

    def _route(self, topic: str) -> PayloadMapper | None:
        try:
            return self._routes[topic]
        except KeyError:
            pass
        mapper = next((m for m in self._mappers if topic_matches(m.subscription.topic, topic)), None)
        if len(self._routes) >= _ROUTE_CACHE:
            self._routes.clear()
        self._routes[topic] = mapper
        return mapper

    def _consume(self, arrival: _Arrival) -> list[Reading]:
        message = arrival.message
        if message.qos:
            self._consumed += 1
            self._unacked.append(_Unacked(self._consumed, arrival.connection, message.mid, message.qos))
        if message.dup:
            self._counts["redelivered"] += 1
        mapper = self._route(message.topic)
        if mapper is None:
            self._counts["unmatched"] += 1
            self._unmatched.failure(f"topic {message.topic!r}")
            return []
        self._unmatched.recovered()
        seen = self._seen.remember(fingerprint(message.topic, message.payload))
        if seen and (message.dup or mapper.timestamped):
            self._counts["duplicates"] += 1
            self._duplicates.failure(f"topic {message.topic!r}" + (" (redelivered)" if message.dup else ""))
            return []
        self._duplicates.recovered()
        try:
            readings = mapper.map(message.topic, message.payload)
        except BadFrameError as exc:
            return [self._bad_payload(message, exc)]
        except Exception as exc:  # bad input must never stop the agent, even through a bug of ours
            logger.exception("%s: mapping a payload on %r failed unexpectedly", self.device_id, message.topic)
            return [self._bad_payload(message, BadFrameError(f"{type(exc).__name__}: {exc}"))]
        self._bad.recovered()
        readings = self._order.check(message.topic, readings)
        for reading in readings:
            if isinstance(reading, Event):
                self._counts[reading.type] += 1
        return readings

    def _bad_payload(self, message: InboundMessage, error: BadFrameError) -> Event:
        self._counts["bad_payloads"] += 1
        self._status = self._status.failed(error, poll=False)
        self._bad.failure(f"{message.topic!r}: {error}")
        return Event(
            type="bad_frame",
            severity="warning",
            device=self.device_id,
            message=f"{message.topic}: {error}"[:1024],
            attrs={
                "topic": message.topic[:256],
                "error": str(error)[:512],
                "payload_bytes": len(message.payload),
                "payload_head": message.payload[:64].decode("utf-8", "backslashreplace"),
                "bad_frames": self._status.bad_frames,
            },
        )

    def _warn_if_stalled(self) -> None:
        """Polling again while a full window of earlier messages is unacknowledged: nothing more will arrive."""
        broker = self.settings.broker
        if self._stall_warned or broker.protocol != "5" or len(self._unacked) < broker.receive_maximum:
            return
        self._stall_warned = True
        logger.warning(
            "%s: %d polled messages await acknowledge(); the broker sends no more until they are acknowledged",
            self.device_id,
            len(self._unacked),
        )


def create_driver(device_id: str, settings: MqttDeviceSettings) -> MqttDriver:
    """The driver for an MQTT device of the edge's configuration."""
    return MqttDriver(device_id, settings)
