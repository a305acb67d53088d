"""Alert state for building management systems over MQTT: one retained message (QoS 1) per storage unit or
instrument on ``tracseq/<tenant>/alerts/<unit-or-device>``, holding the group's open alerts and its worst state.

A retained message is the group's state now, read from the database when a change of the group is handled, so a
change published twice or late publishes the same current state: at-least-once publication is harmless. The
publisher owns one connection and reconnects it itself; while the broker is away, handling fails and the
subscriber retries, so no change is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.book import public
from hub.alerts.lifecycle import OPEN_STATES
from hub.alerts.rules import severity_rank
from hub.audit.trail import log_value
from hub.db.alerts_models import Alert
from hub.db.models import Tenant
from hub.errors import UnavailableError
from hub.events.bus import EventEnvelope

if TYPE_CHECKING:  # aiomqtt comes with the edge extra; the hub needs it only with a broker configured
    import aiomqtt

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_STATE_RANK = {"pending": 1, "acknowledged": 2, "firing": 3}


class MqttUnavailableError(UnavailableError):
    """The broker cannot be reached now; the change is published once it can."""


def segment(unit_id: str | None, device_id: str | None, source: str | None, origin: str) -> str:
    """The topic level naming an alert's group: the storage unit, else the instrument behind the edge, else what
    raised it (a saga, a capacity warning without a unit)."""
    if unit_id:
        return _UNSAFE.sub("_", unit_id)
    if device_id:
        return _UNSAFE.sub("_", f"{device_id}.{source}" if source else device_id)
    return _UNSAFE.sub("_", origin or "hub")


def topic(tenant_slug: str, alert: Alert) -> str:
    return f"tracseq/{tenant_slug}/alerts/{segment(alert.unit_id, alert.device_id, alert.source, alert.origin)}"


def group_state(alerts: list[Alert]) -> dict[str, Any]:
    """The worst state and severity of a group's open alerts ("ok" when none is open)."""
    if not alerts:
        return {"state": "ok", "severity": None, "open": 0}
    worst = max(alerts, key=lambda a: (_STATE_RANK.get(a.state, 0), severity_rank(a.severity)))
    return {
        "state": worst.state,
        "severity": max((a.severity for a in alerts), key=severity_rank),
        "open": len(alerts),
    }


class MqttPublisher:
    def __init__(self, url: str, *, identifier: str = "tracseq-hub-alerts", timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"an MQTT URL looks like mqtt://host:1883, not {url!r}")
        self.hostname = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.username = parts.username
        self.password = parts.password
        self.tls = parts.scheme == "mqtts"
        self.identifier = identifier
        self.timeout_s = timeout_s
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()

    async def handle(self, session: AsyncSession, event: EventEnvelope) -> None:
        """Publish the state of the changed alert's group (the subscriber calls this once per change)."""
        if not event.type.startswith("alert.") or event.subject_type != "alert":
            return
        changed = await session.get(Alert, event.subject_id)
        if changed is None:
            return
        slug = (await session.execute(select(Tenant.slug).where(Tenant.id == changed.tenant_id))).scalar_one()
        group = list(
            (
                await session.execute(
                    select(Alert)
                    .where(
                        Alert.tenant_id == changed.tenant_id,
                        Alert.group_key == changed.group_key,
                        Alert.state.in_([s.value for s in OPEN_STATES]),
                    )
                    .order_by(Alert.opened_at)
                    .limit(200)
                )
            ).scalars()
        )
        document = {
            "tenant": slug,
            "group": changed.group_key,
            "unit_id": changed.unit_id,
            "device_id": changed.device_id,
            "source": changed.source,
            **group_state(group),
            "alerts": [log_value(public(a)) for a in group],
            "change": {"type": event.type, "alert_id": changed.id, "offset": event.offset},
            "updated_at": log_value(event.created_at),
        }
        await self.publish(topic(slug, changed), json.dumps(document, separators=(",", ":"), sort_keys=True))

    async def publish(self, name: str, payload: str) -> None:
        client = self._client
        if client is None or not self._connected.is_set():
            raise MqttUnavailableError(f"not connected to the MQTT broker {self.hostname}:{self.port}")
        import aiomqtt

        try:
            await client.publish(name, payload, qos=1, retain=True, timeout=self.timeout_s)
        except aiomqtt.MqttError as exc:
            self._connected.clear()
            raise MqttUnavailableError(f"publishing to {name} failed: {exc}") from exc

    async def wait_connected(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def run(self, stop: asyncio.Event, *, retry_s: float = 2.0) -> None:
        """Hold one connection until ``stop``, reconnecting after a loss; logs an outage once and its end."""
        import aiomqtt

        failing = False
        while not stop.is_set():
            try:
                async with aiomqtt.Client(
                    self.hostname,
                    self.port,
                    identifier=self.identifier,
                    username=self.username,
                    password=self.password,
                    tls_params=aiomqtt.TLSParameters() if self.tls else None,
                    timeout=self.timeout_s,
                ) as client:
                    self._client = client
                    self._connected.set()
                    if failing:
                        logger.info("MQTT broker %s:%s reachable again", self.hostname, self.port)
                    failing = False
                    while not stop.is_set() and self._connected.is_set():
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), 1.0)
            except aiomqtt.MqttError as exc:
                if not failing:
                    logger.error("MQTT broker %s:%s unreachable: %s; retrying", self.hostname, self.port, exc)
                failing = True
            finally:
                self._connected.clear()
                self._client = None
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_s)
