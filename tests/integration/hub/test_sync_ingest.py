"""The hub's sync endpoint on SQLite and PostgreSQL (the two insert paths: executemany and COPY): batches are
mirrored once with their readings and cosignatures, resends and replays change nothing, forks and refusals are kept
and recorded, and odd but well-linked entries are stored rather than answered with a 500 the edge would retry
forever."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from edge.store import LogStore
from hub.db.ingest_models import Cosignature, DeviceEntry, DeviceEvent, DeviceLog, ForkEvidence, Reading
from hub.domain.permissions import Role
from protocol import ChainWriter, CheckpointBody, SigningKey, entry_hash, genesis_hash, sign_checkpoint
from sync import MEDIA_TYPE, BatchHeader, encode_batch
from sync.sender import SyncSender
from sync.transport import HttpTransport
from tests.integration.hub.harness import RunningHub, hub_settings, running_hub, seed

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Edge:
    """A device driven by hand over the in-memory client."""

    def __init__(self, hub: RunningHub, origin: str) -> None:
        self.hub = hub
        self.origin = origin
        self.key = SigningKey.generate(origin)
        self.writer = ChainWriter(origin)
        self.raws: list[bytes] = []
        self.id = ""
        self.token = ""

    async def enroll(self, admin: dict[str, str], name: str) -> None:
        token = (await self.hub.client.post("/v1/devices/enrollment-tokens", headers=admin)).json()["token"]
        request = {"token": token, "name": name, "origin": self.origin, "public_key": self.key.verifier.vkey}
        response = await self.hub.client.post("/v1/sync/enroll", json=request)
        assert response.status_code == 201, response.text
        self.id, self.token = response.json()["device_id"], response.json()["device_token"]

    def append(self, kind: str, payload: dict[str, object]) -> None:
        seq = self.writer.next_seq
        self.raws.append(self.writer.append(kind, payload, T0 + timedelta(seconds=seq), seq).raw)

    def append_raw(self, kind: str, payload_json: str, ts: str) -> None:
        """An entry spelled by hand (as another implementation might), linked into the chain."""
        seq, prev = self.writer.next_seq, self.writer.head
        raw = (
            f'{{"v":1,"seq":{seq},"prev":"{prev.hex()}","ts":"{ts}","mono":{seq},"kind":"{kind}",'
            f'"payload":{payload_json}}}'
        ).encode()
        self.writer = ChainWriter(self.origin, seq + 1, entry_hash(raw))
        self.raws.append(raw)

    def head(self, size: int) -> bytes:
        return entry_hash(self.raws[size - 1]) if size else genesis_hash(self.origin)

    def checkpoint(self, size: int, head: bytes | None = None) -> str:
        return sign_checkpoint(CheckpointBody(self.origin, size, head or self.head(size)), [self.key]).render()

    async def send(
        self, first: int, end: int, checkpoint: str | None = None, origin: str | None = None
    ) -> httpx.Response:
        lines = self.raws[first:end]
        header = BatchHeader(origin=origin or self.origin, first_seq=first, count=len(lines), checkpoint=checkpoint)
        return await self.hub.client.post(
            "/v1/sync/batches",
            content=encode_batch(header, lines),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"},
        )


def reading(i: int) -> dict[str, object]:
    return {"device": "f1", "channel": "temp", "value": f"-80.{i % 100:02d}", "unit": "Cel", "quality": "good"}


def run(db_url: str, tmp_path: Path, body: Callable[[RunningHub, dict[str, str]], Awaitable[None]]) -> None:
    async def main() -> None:
        settings = hub_settings(db_url, tmp_path, witness_key_file=tmp_path / "witness.key")
        async with running_hub(settings) as hub:
            tenants = await seed(hub.state, slugs=("alpha-lab",), roles=(Role.ADMIN,))
            await body(hub, hub.auth(tenants["alpha-lab"].users[Role.ADMIN]))

    asyncio.run(main())


async def published(
    hub: RunningHub, admin: dict[str, str], enough: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The tenant's events once ``enough`` of them are published (the relay gives them their positions)."""
    events: list[dict[str, Any]] = []
    for _ in range(100):
        events = (await hub.client.get("/v1/events", params={"limit": 1000}, headers=admin)).json()["events"]
        if enough(events):
            break
        await asyncio.sleep(0.1)
    return events


async def count(hub: RunningHub, model: Any, device_id: str) -> int:
    async with hub.state.db.read() as session:
        found = await session.execute(select(func.count()).select_from(model).where(model.device_id == device_id))
        return int(found.scalar_one())


def test_batches_are_mirrored_once_with_readings_and_cosignatures(db_url: str, tmp_path: Path) -> None:
    async def body(hub: RunningHub, admin: dict[str, str]) -> None:
        edge = Edge(hub, "tracseq.test/edge/ingest")
        await edge.enroll(admin, "ingest")
        for i in range(30):
            edge.append("observation", reading(i))
        edge.append("event", {"type": "door_open", "severity": "warning", "message": "door"})

        first = await edge.send(0, 20, edge.checkpoint(20))
        assert first.status_code == 200, first.text
        assert first.json()["acked_seq"] == 20
        assert "\u2014 tracseq.local/hub/hub/witness " in first.json()["cosigned"]
        for again in (edge.send(0, 20, edge.checkpoint(20)), edge.send(3, 9, edge.checkpoint(9))):
            response = await again
            assert response.status_code == 200, response.text
            assert response.json()["acked_seq"] == 20  # a resend or a replay: the same answer, nothing rewound
        gap = await edge.send(25, 31)
        assert gap.status_code == 409
        assert gap.json()["expected_seq"] == 20
        rest = await edge.send(15, 31, edge.checkpoint(31))
        assert rest.json()["acked_seq"] == 31

        assert await count(hub, DeviceEntry, edge.id) == 31
        assert await count(hub, Reading, edge.id) == 30
        assert await count(hub, DeviceEvent, edge.id) == 1
        async with hub.state.db.read() as session:
            sizes = (await session.execute(select(Cosignature.size).where(Cosignature.device_id == edge.id))).all()
            log = (await session.execute(select(DeviceLog).where(DeviceLog.device_id == edge.id))).scalar_one()
            hashes = (
                await session.execute(
                    select(DeviceEntry.hash).where(DeviceEntry.device_id == edge.id).order_by(DeviceEntry.seq)
                )
            ).all()
        assert sorted(s for (s,) in sizes) == [9, 20, 31]
        assert (log.next_seq, log.cosigned_size, log.head) == (31, 31, edge.head(31))
        assert [bytes(h) for (h,) in hashes] == [entry_hash(r) for r in edge.raws]
        readings = (await hub.client.get(f"/v1/devices/{edge.id}/readings", headers=admin)).json()
        assert [r["value"] for r in readings[:3]] == ["-80.00", "-80.01", "-80.02"]
        assert readings[0]["ts"].startswith("2026-01-02T03:04:05")

    run(db_url, tmp_path, body)


def test_forks_and_refusals_are_kept_and_recorded(db_url: str, tmp_path: Path) -> None:
    async def body(hub: RunningHub, admin: dict[str, str]) -> None:
        edge = Edge(hub, "tracseq.test/edge/forked")
        other = Edge(hub, "tracseq.test/edge/other")
        await edge.enroll(admin, "forked")
        await other.enroll(admin, "other")
        for i in range(5):
            edge.append("observation", reading(i))
            other.append("observation", reading(i))
        assert (await edge.send(0, 5, edge.checkpoint(5))).status_code == 200

        honest = list(edge.raws)
        edge.raws[2] = edge.raws[2].replace(b'"-80.02"', b'"-79.02"')
        fork = await edge.send(0, 5)
        edge.raws = honest
        assert fork.status_code == 409
        assert (fork.json()["kind"], fork.json()["seq"]) == ("fork", 2)
        lie = await edge.send(5, 5, edge.checkpoint(5, head=b"\x01" * 32))
        assert lie.status_code == 409
        stolen = await edge.send(0, 5, other.checkpoint(5), origin=other.origin)
        assert stolen.status_code == 422
        forged = SigningKey.generate(edge.origin)
        edge.append("observation", reading(5))
        unsigned = await edge.send(
            5, 6, sign_checkpoint(CheckpointBody(edge.origin, 6, edge.head(6)), [forged]).render()
        )
        assert unsigned.status_code == 422

        assert await count(hub, ForkEvidence, edge.id) == 2
        assert await count(hub, DeviceEntry, edge.id) == 5
        assert await count(hub, DeviceEntry, other.id) == 0
        events = await published(hub, admin, lambda found: len(found) >= 9)  # the relay publishes in the background
        mine = [(e["type"], e["payload"].get("seq")) for e in events if e["subject_id"] == edge.id]
        assert ("integrity.fork", 2) in mine
        assert ("integrity.fork", 4) in mine
        reasons = [e["payload"]["reason"] for e in events if e["type"] == "integrity.refused"]
        assert any(other.origin in r for r in reasons), reasons  # another device's log: refused and recorded
        assert any("not signed by the device's key" in r for r in reasons), reasons

    run(db_url, tmp_path, body)


def test_odd_but_well_linked_entries_are_stored_not_answered_with_a_500(db_url: str, tmp_path: Path) -> None:
    async def body(hub: RunningHub, admin: dict[str, str]) -> None:
        edge = Edge(hub, "tracseq.test/edge/odd")
        await edge.enroll(admin, "odd")
        edge.append("observation", {"device": "f1", "channel": "temp", "value": -8012, "unit": "cCel"})  # scaled
        edge.append("observation", {"device": 7, "channel": "temp", "value": None, "unit": "Cel"})
        edge.append("event", {"type": "door_open", "severity": 3, "message": "severity as a number"})
        edge.append_raw("observation", '{"channel":"temp","value":"-80.1"}', "2026-01-02T03:04:05")  # no zone
        edge.append_raw("observation", '{"channel":"temp","value":"-80.2"}', "yesterday")
        response = await edge.send(0, 5, edge.checkpoint(5))
        assert response.status_code == 200, response.text
        assert response.json()["acked_seq"] == 5
        readings = (await hub.client.get(f"/v1/devices/{edge.id}/readings", headers=admin)).json()
        assert [(r["seq"], r["source"], r["value"]) for r in readings] == [
            (0, "f1", "-8012"),
            (1, "7", None),
            (3, "", "-80.1"),
            (4, "", "-80.2"),
        ]
        assert await count(hub, DeviceEvent, edge.id) == 1

    run(db_url, tmp_path, body)


def test_a_batch_from_a_user_or_without_credentials_is_refused(db_url: str, tmp_path: Path) -> None:
    async def body(hub: RunningHub, admin: dict[str, str]) -> None:
        header = BatchHeader(origin="tracseq.test/edge/nobody", first_seq=0, count=0)
        for headers, status in (({}, 401), (admin, 403)):
            response = await hub.client.post(
                "/v1/sync/batches",
                content=encode_batch(header, []),
                headers={**headers, "Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"},
            )
            assert response.status_code == status, response.text

    run(db_url, tmp_path, body)


def test_the_sender_splits_a_batch_the_hub_finds_too_large(db_url: str, tmp_path: Path) -> None:
    """Entries that compress poorly make a full batch larger than the hub's body limit (1 MiB by default): the
    sender halves the batch until the hub takes it, instead of resending the same refused body for ever."""

    async def body(hub: RunningHub, admin: dict[str, str]) -> None:
        origin = "tracseq.test/edge/bulky"
        key = SigningKey.generate(origin)
        store = LogStore(tmp_path / "edge.db", origin, key)
        try:
            rng = random.Random(5)
            for i in range(1500):
                note = "".join(rng.choice("0123456789abcdef") for _ in range(2000))  # ~2 KB, compresses ~2:1
                store.append("event", {"type": "note", "message": note}, T0 + timedelta(seconds=i), i)
            store.checkpoint()
            edge = Edge(hub, origin)
            edge.key = key
            await edge.enroll(admin, "bulky")
            transport = HttpTransport("http://hub", edge.token, client=hub.client)
            report = await SyncSender(store, transport).sync_once(max_batches=20)
            assert report.acked_seq == 1500
            assert store.cosigned_size() == 1500
        finally:
            store.close()
        assert await count(hub, DeviceEntry, edge.id) == 1500

    run(db_url, tmp_path, body)
