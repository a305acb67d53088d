"""What the alerts integration tests share: a hub with two seeded tenants and an alert engine driven step by step
(publish, catch up, tick with a chosen time), an edge that sends real signed batches through the sync endpoint,
and a recorder standing in for the notifications outbox."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts import AlertEngine
from hub.db.base import utcnow
from hub.domain.permissions import Role
from hub.settings import HubSettings
from protocol import (
    ChainWriter,
    CheckpointBody,
    SigningKey,
    entry_hash,
    format_timestamp,
    genesis_hash,
    sign_checkpoint,
)
from sync import MEDIA_TYPE, BatchHeader, encode_batch
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed


@dataclass
class Pages:
    """Every message an escalation step asked for: (user, kind, dedup key)."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, **message: Any) -> int:
        self.sent.append((message["user_id"], message["kind"], message["dedup_key"]))
        return 1

    def users(self) -> list[str]:
        return [user for user, _, _ in self.sent]


@dataclass
class World:
    hub: RunningHub
    engine: AlertEngine
    pages: Pages
    alpha: SeededTenant
    beta: SeededTenant

    def as_(self, role: Role, tenant: str = "alpha") -> dict[str, str]:
        lab = self.alpha if tenant == "alpha" else self.beta
        return self.hub.auth(lab.users[role])

    def user(self, role: Role, tenant: str = "alpha") -> str:
        return (self.alpha if tenant == "alpha" else self.beta).users[role].id

    @property
    def client(self) -> httpx.AsyncClient:
        return self.hub.client

    async def settle(self, now: datetime | None = None) -> None:
        """Publish what committed, let the engine's subscribers handle it, run the timer once at ``now``, and
        publish what that changed."""
        await self.hub.published()
        await self.engine.catch_up()
        await self.engine.tick(now)
        await self.hub.published()
        await self.engine.catch_up()

    async def alerts(self, role: Role = Role.ADMIN, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/alerts", params=params, headers=self.as_(role))
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found


@contextlib.asynccontextmanager
async def world(db_url: str, tmp_path: Path, **engine_options: Any) -> AsyncIterator[World]:
    pages = Pages()
    # these tests drive their own engine step by step: none may run in the app's lifespan beside it
    quiet = {"alerts_in_process": False} if "alerts_in_process" in HubSettings.model_fields else {}
    async with running_hub(hub_settings(db_url, tmp_path, **quiet)) as hub:
        tenants = await seed(hub.state)
        pager = engine_options.pop("pager", pages)
        engine = AlertEngine(hub.state.db, hub.state.audit, pager=pager, **engine_options)
        try:
            yield World(hub, engine, pages, tenants["alpha-lab"], tenants["beta-lab"])
        finally:
            await engine.webhooks.aclose()


def alarm(
    action: str,
    at: datetime,
    *,
    rule: str = "high",
    value: str | None = "-65.0",
    limit: str | None = "-70",
    device: str = "freezer-1",
    channel: str = "temp",
    severity: str = "alarm",
    **extra: Any,
) -> dict[str, Any]:
    """An edge alarm transition as ``edge.alarms`` logs it."""
    return {
        "action": action,
        "alarm_id": f"{device}/{channel}/{rule}",
        "device": device,
        "channel": channel,
        "rule": rule,
        "severity": severity,
        "value": value,
        "limit": limit,
        "message": f"{channel} {value} Cel beyond {rule} limit {limit}",
        "at": format_timestamp(at),
        "duration_ms": None,
        "by": None,
        "comment": None,
        **extra,
    }


def reading(value: str, *, device: str = "freezer-1", channel: str = "temp", unit: str = "Cel") -> dict[str, Any]:
    return {"device": device, "channel": channel, "value": value, "unit": unit, "quality": "good"}


class Edge:
    """An edge agent driven by hand: entries with chosen times, sent as signed batches to ``/v1/sync/batches``."""

    def __init__(self, hub: RunningHub, name: str) -> None:
        self.hub = hub
        self.origin = f"tracseq.test/edge/{name}"
        self.name = name
        self.key = SigningKey.generate(self.origin)
        self.writer = ChainWriter(self.origin)
        self.raws: list[bytes] = []
        self.sent = 0
        self.id = ""
        self.token = ""

    async def enroll(self, admin: Mapping[str, str]) -> Edge:
        response = await self.hub.client.post("/v1/devices/enrollment-tokens", headers=dict(admin))
        request = {
            "token": response.json()["token"],
            "name": self.name,
            "origin": self.origin,
            "public_key": self.key.verifier.vkey,
        }
        enrolled = await self.hub.client.post("/v1/sync/enroll", json=request)
        assert enrolled.status_code == 201, enrolled.text
        self.id, self.token = enrolled.json()["device_id"], enrolled.json()["device_token"]
        return self

    def append(self, kind: str, payload: Mapping[str, Any], at: datetime | None = None) -> None:
        seq = self.writer.next_seq
        self.raws.append(self.writer.append(kind, dict(payload), at or utcnow(), seq).raw)

    async def send(
        self, first: int | None = None, end: int | None = None, *, checkpoint: bool = True, expect: int = 200
    ) -> httpx.Response:
        """Send entries ``first`` to ``end`` (default: those not sent yet), with a checkpoint of ``end``."""
        first = self.sent if first is None else first
        end = len(self.raws) if end is None else end
        head = entry_hash(self.raws[end - 1]) if end else genesis_hash(self.origin)
        note = sign_checkpoint(CheckpointBody(self.origin, end, head), [self.key]).render() if checkpoint else None
        header = BatchHeader(origin=self.origin, first_seq=first, count=end - first, checkpoint=note)
        response = await self.hub.client.post(
            "/v1/sync/batches",
            content=encode_batch(header, self.raws[first:end]),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"},
        )
        assert response.status_code == expect, response.text
        if expect == 200:
            self.sent = max(self.sent, end)
        return response


def now_s() -> datetime:
    """Now, to the second (edge entries carry microseconds; whole seconds keep expected times readable)."""
    return utcnow().replace(microsecond=0)


def later(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


__all__ = ["UTC", "Edge", "Pages", "World", "alarm", "later", "now_s", "reading", "world"]
