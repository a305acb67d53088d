"""The transport seam: one connection to the broker, as the driver needs it. ``aiomqtt_session`` is the real one;
tests may pass any ``SessionFactory`` to ``MqttDriver`` to run it without sockets.

aiomqtt 2.5.1 keeps three things of paho-mqtt out of its public API that the driver cannot do without, so this
module, and only this module, reaches its paho client (``Client._client``):

- **Manual acknowledgements.** paho-mqtt 2 can hold back the PUBACK of a QoS 1 message until the application calls
  ``ack(mid, qos)`` (``manual_ack``); aiomqtt sends it as soon as the message is queued (upstream issue
  empicano/aiomqtt#345, draft PR #346, both open). Without it a message would be acknowledged before the edge
  wrote it, and lost if the agent died in between.
- **The DUP flag** of a redelivered message, which aiomqtt's ``Message`` drops. The driver needs it to tell the
  broker's redelivery of a message it already has from a reading that honestly repeats.
- **Closing an abandoned attempt.** When the CONNACK does not come in time, or the attempt is cancelled, aiomqtt
  leaves the socket open and registered with the event loop; ``_abandon`` closes it through paho.

Messages go straight from paho's ``on_message`` to the driver's sink; aiomqtt's own (unbounded) queue stays empty
and ``client.messages`` serves only to wait for the connection to end. The version is pinned and
``_paho_client`` refuses any client that does not have what is used here, so an upgrade fails loudly.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from drivers.base import DriverConfigError, DriverUnavailableError
from drivers.mqtt.config import MqttBrokerSettings, MqttTls


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One PUBLISH as it arrived. ``dup`` is set when the broker resends a message it sent before."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    dup: bool = False
    retain: bool = False


MessageSink = Callable[[InboundMessage], None]


class MqttSession(Protocol):
    """A connected session. Its methods raise ``DriverUnavailableError`` when the connection fails."""

    async def subscribe(self, filters: Sequence[str], qos: int) -> list[str]:
        """Subscribe to every filter at once; return the filters the broker refused."""
        ...

    async def run(self) -> None:
        """Return (or raise ``DriverUnavailableError``) when the connection ends; messages go to the sink."""
        ...

    def ack(self, mid: int, qos: int) -> bool:
        """Send the acknowledgement of a received message; ``False`` if it could not be sent."""
        ...


class SessionFactory(Protocol):
    """Connects on entering the context (``DriverUnavailableError`` if it cannot) and disconnects on leaving."""

    def __call__(
        self, broker: MqttBrokerSettings, sink: MessageSink, tls: ssl.SSLContext | None
    ) -> AbstractAsyncContextManager[MqttSession]: ...


def tls_context(tls: MqttTls | None) -> ssl.SSLContext | None:
    """The TLS context for the broker (reads the certificate files: call it at configuration time)."""
    if tls is None:
        return None
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file is not None:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise DriverConfigError(f"mqtt tls: {exc}") from exc
    return context


class _AiomqttSession:
    def __init__(self, client: aiomqtt.Client, paho_client: paho.Client, protocol: str) -> None:
        self._client = client
        self._paho = paho_client
        self._protocol = protocol

    async def subscribe(self, filters: Sequence[str], qos: int) -> list[str]:
        topics: list[tuple[str, Any]]
        if self._protocol == "5":
            # Retained messages only for a subscription the session did not already hold: a reconnect must not
            # replay the last retained value of every topic as if it were new.
            options = SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            topics = [(topic, options) for topic in filters]
        else:
            topics = [(topic, qos) for topic in filters]
        codes = await self._client.subscribe(topics)
        return [topic for topic, code in zip(filters, codes, strict=True) if _refused(code)]

    async def run(self) -> None:
        async for _ in self._client.messages:  # stays empty (see the module docstring): waits for the end
            pass

    def ack(self, mid: int, qos: int) -> bool:
        return self._paho.ack(mid, qos) == paho.MQTT_ERR_SUCCESS


def _refused(code: object) -> bool:
    if isinstance(code, int):
        return code >= 0x80
    return bool(getattr(code, "is_failure", True))


def _paho_client(client: aiomqtt.Client) -> paho.Client:
    inner = getattr(client, "_client", None)
    if not isinstance(inner, paho.Client) or not callable(getattr(inner, "manual_ack_set", None)):
        raise DriverConfigError(
            f"aiomqtt {aiomqtt.__version__} does not expose the paho-mqtt client that manual acknowledgements "
            "need; install the pinned aiomqtt version (see drivers/mqtt/session.py)"
        )
    return inner


def _client(broker: MqttBrokerSettings, tls: ssl.SSLContext | None) -> aiomqtt.Client:
    common: dict[str, Any] = {
        "hostname": broker.host,
        "port": broker.port,
        "identifier": broker.client_id,
        "username": broker.username,
        "password": None if broker.password is None else broker.password.get_secret_value(),
        "keepalive": broker.keepalive,
        "timeout": broker.connect_timeout_s,
        "tls_context": tls,
    }
    if broker.protocol == "3.1.1":
        return aiomqtt.Client(**common, protocol=aiomqtt.ProtocolVersion.V311, clean_session=False)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = broker.session_expiry_s
    properties.ReceiveMaximum = broker.receive_maximum
    # clean_start=False on every connection: aiomqtt's default (clean on the first one) would throw away
    # what the broker kept for us while the agent was down.
    return aiomqtt.Client(**common, protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=properties)


@contextlib.asynccontextmanager
async def aiomqtt_session(
    broker: MqttBrokerSettings, sink: MessageSink, tls: ssl.SSLContext | None = None
) -> AsyncIterator[MqttSession]:
    """A persistent-session connection over aiomqtt, with manual acknowledgements and messages fed to ``sink``."""
    where = f"mqtt://{broker.host}:{broker.port}"
    try:
        client = _client(broker, tls)
        inner = _paho_client(client)
        inner.manual_ack_set(True)
        inner.on_message = _forward_to(sink)
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(client)
            except BaseException:
                _abandon(inner)
                raise
            yield _AiomqttSession(client, inner, broker.protocol)
    except aiomqtt.MqttError as exc:
        raise DriverUnavailableError(f"{where}: {exc}") from exc
    except OSError as exc:  # includes ssl.SSLError
        raise DriverUnavailableError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _abandon(inner: paho.Client) -> None:
    """Close the socket of an attempt that never got its CONNACK (timed out or cancelled).

    aiomqtt 2.5.1 leaves it open and registered with the event loop; paho's own close also unregisters it.
    """
    close = getattr(inner, "_sock_close", None)
    if inner.socket() is not None and callable(close):
        close()


def _forward_to(sink: MessageSink) -> Callable[[paho.Client, Any, paho.MQTTMessage], None]:
    def on_message(_client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse such topics; never let one stop the read loop
            topic = "\ufffd"
        payload = bytes(message.payload)
        sink(InboundMessage(topic, payload, message.qos, message.mid, bool(message.dup), bool(message.retain)))

    return on_message
