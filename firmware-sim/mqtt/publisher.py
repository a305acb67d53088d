"""The gateway's MQTT side: one connection loop, and an outbox so that readings taken while the broker is away
(a restart, a network cut) are published, in order and late, once it is back — as good gateways do."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import aiomqtt

log = logging.getLogger("mqtt-sim.publisher")

PUBLISH_TIMEOUT_S = 2.0
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)


class Publisher:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        status_topic: str,
        status_payload: Callable[[bool], bytes],
        outbox_size: int,
    ) -> None:
        self._host = host
        self._port = port
        self._client_id = client_id
        self._status_topic = status_topic
        self._status_payload = status_payload
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_size = outbox_size
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self.connected = asyncio.Event()
        self.published = 0
        self.dropped = 0
        self.connects = 0

    @property
    def backlog(self) -> int:
        return len(self._outbox)

    def send(self, topic: str, payload: bytes) -> None:
        """Queue a QoS 1 message; when the outbox is full the oldest waiting message is lost."""
        if len(self._outbox) >= self._outbox_size:
            self._outbox.popleft()
            self.dropped += 1
        self._outbox.append((topic, payload))
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every queued message is published."""
        await self._idle.wait()

    async def run(self) -> None:
        failures = 0
        while True:
            will = aiomqtt.Will(self._status_topic, self._status_payload(False), qos=1, retain=True)
            client = aiomqtt.Client(
                self._host, self._port, identifier=self._client_id, will=will, timeout=PUBLISH_TIMEOUT_S
            )
            try:
                async with client:
                    self.connects += 1
                    failures = 0
                    self.connected.set()
                    log.info("connected to %s:%d", self._host, self._port)
                    await client.publish(self._status_topic, self._status_payload(True), qos=1, retain=True)
                    await self._drain(client)
            except aiomqtt.MqttError as exc:
                if self.connected.is_set() or failures == 0:
                    log.warning("broker connection: %s; %d messages wait", exc, len(self._outbox))
                self.connected.clear()
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            while self._outbox:
                topic, payload = self._outbox[0]
                await client.publish(topic, payload, qos=1, timeout=PUBLISH_TIMEOUT_S)
                self._outbox.popleft()
                self.published += 1
            self._idle.set()
            self._wake.clear()
            await self._wake.wait()
