"""Feeds for facilities on a real hub: the server-sent events stream (backlog, resume with Last-Event-ID, live over a
real HTTP server), signed webhooks to a receiver on 127.0.0.1 (a 500 retried, a 410 given up), and retained alert
state published to the real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.alerts import Condition, verify
from hub.alerts.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from hub.db.base import utcnow
from hub.domain.permissions import Role
from tests.integration.hub.alerts_world import Edge, World, now_s, world

pytestmark = pytest.mark.integration

SECRET = "receiver-secret-0123456789"


def run(db_url: str, tmp_path: Path, body: Callable[[World], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        async with world(db_url, tmp_path, **options) as w:
            await body(w)

    asyncio.run(main())


async def open_alert(w: World, key: str = "saga:s-1", device_id: str | None = None) -> str:
    start = now_s()
    async with w.hub.state.db.transaction() as session:
        alert = await w.engine.book.open(
            session,
            Condition(
                tenant_id=w.alpha.id,
                dedup_key=key,
                origin="edge" if device_id else "saga",
                kind="high" if device_id else "intake",
                severity="alarm",
                title="freezer-1 too warm" if device_id else "intake saga failed",
                started_at=start,
                device_id=device_id,
                source="freezer-1" if device_id else None,
                channel="temp" if device_id else None,
                value="-65",
                limit="-70",
            ),
            start,
        )
        return alert.id


def frames(text: str) -> list[dict[str, str]]:
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            found.append(fields)
    return found


@contextlib.asynccontextmanager
async def serving(app: Any, lifespan: str = "off") -> AsyncIterator[str]:
    """``app`` on a real HTTP server on 127.0.0.1 and a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, log_config=None, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def test_the_stream_sends_the_backlog_and_resumes_after_the_last_event_id(db_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        alert_id = await open_alert(w)
        acked = await w.client.post(
            f"/v1/alerts/{alert_id}/acknowledge", json={"comment": "restarting intake"}, headers=w.as_(Role.FACILITIES)
        )
        assert acked.status_code == 200
        await w.hub.published()

        whole = await w.client.get("/v1/alerts/stream", params={"once": "true"}, headers=w.as_(Role.SCIENTIST))
        assert whole.headers["content-type"].startswith("text/event-stream")
        sent = frames(whole.text)
        assert [f["event"] for f in sent] == ["alert.pending", "alert.firing", "alert.acknowledged"]
        assert [json.loads(f["data"])["alert"]["id"] for f in sent] == [alert_id] * 3
        ids = [int(f["id"]) for f in sent]
        assert ids == sorted(ids)

        headers = {**w.as_(Role.SCIENTIST), "Last-Event-ID": str(ids[0])}
        rest = await w.client.get("/v1/alerts/stream", headers=headers)  # not text/event-stream: ends after it
        assert [int(f["id"]) for f in frames(rest.text)] == ids[1:]
        after = await w.client.get("/v1/alerts/stream", params={"after": ids[2]}, headers=w.as_(Role.SCIENTIST))
        assert frames(after.text) == []
        other = await w.client.get("/v1/alerts/stream", params={"once": "true"}, headers=w.as_(Role.FACILITIES, "beta"))
        assert frames(other.text) == []
        device = await w.client.get(
            "/v1/alerts/stream", params={"once": "true"}, headers={"Last-Event-ID": "x1"} | w.as_(Role.SCIENTIST)
        )
        assert device.status_code == 422

    run(db_url, tmp_path, body)


def test_an_event_source_follows_changes_live_over_http(sqlite_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        alert_id = await open_alert(w)
        await w.hub.published()
        received: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        async with serving(w.hub.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:

            async def listen() -> None:
                headers = {**w.as_(Role.FACILITIES), "Accept": "text/event-stream"}
                async with client.stream("GET", "/v1/alerts/stream", params={"max_s": 30}, headers=headers) as stream:
                    buffer = ""
                    async for chunk in stream.aiter_text():
                        buffer += chunk
                        *done, buffer = buffer.split("\n\n")
                        for frame in frames("\n\n".join(done)):
                            await received.put(frame)

            listener = asyncio.create_task(listen())
            try:
                backlog = [await asyncio.wait_for(received.get(), 5) for _ in range(2)]
                assert [f["event"] for f in backlog] == ["alert.pending", "alert.firing"]
                started = asyncio.get_running_loop().time()
                acked = await w.client.post(
                    f"/v1/alerts/{alert_id}/acknowledge", json={"comment": "on it"}, headers=w.as_(Role.FACILITIES)
                )
                assert acked.status_code == 200
                live = await asyncio.wait_for(received.get(), 5)  # the hub's own relay publishes it
                assert live["event"] == "alert.acknowledged"
                assert asyncio.get_running_loop().time() - started < 2
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    run(sqlite_url, tmp_path, body)


class Receiver:
    """A facilities endpoint: records every request, answers from a script per path."""

    def __init__(self, script: dict[str, list[int]]) -> None:
        self.script = script
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.app = Starlette(routes=[Route("/{name}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append((path, dict(request.headers), await request.body()))
        statuses = self.script[path]
        return Response(status_code=statuses.pop(0) if len(statuses) > 1 else statuses[0])


def test_webhooks_are_signed_over_the_exact_body_retried_after_a_500_and_given_up_after_a_410(
    sqlite_url: str, tmp_path: Path
) -> None:
    receiver = Receiver({"/bms": [500, 200], "/gone": [410]})

    async def body(w: World) -> None:
        async with serving(receiver.app) as base:
            manage = w.as_(Role.FACILITIES)
            bms = await w.client.post(
                "/v1/alerts/webhooks",
                json={"name": "bms", "url": f"{base}/bms", "event_types": ["alert.firing"], "secret": SECRET},
                headers=manage,
            )
            assert bms.status_code == 201, bms.text
            assert bms.json()["secret"] == SECRET
            gone = await w.client.post(
                "/v1/alerts/webhooks", json={"name": "old", "url": f"{base}/gone"}, headers=manage
            )
            assert gone.status_code == 201
            listed = await w.client.get("/v1/alerts/webhooks", headers=manage)
            assert all(h["secret"] is None for h in listed.json())  # the secret is shown once

            alert_id = await open_alert(w)
            await w.settle()
            assert await w.engine.webhooks.deliver_due() == 3  # bms: firing; old: pending and firing
            await asyncio.sleep(0.15)
            assert await w.engine.webhooks.deliver_due() == 1  # only the 500 is tried again
            assert await w.engine.webhooks.deliver_due() == 0

            to_bms = [(h, b) for path, h, b in receiver.requests if path == "/bms"]
            assert len(to_bms) == 2
            assert to_bms[0][1] == to_bms[1][1]  # the same stored bytes every time
            for headers, sent in to_bms:
                verify(SECRET, headers[TIMESTAMP_HEADER.lower()], sent, headers[SIGNATURE_HEADER.lower()], now=utcnow())
            assert to_bms[0][0][EVENT_ID_HEADER.lower()] == to_bms[1][0][EVENT_ID_HEADER.lower()]
            document = json.loads(to_bms[0][1])
            assert (document["type"], document["alert"]["id"], document["alert"]["state"]) == (
                "alert.firing",
                alert_id,
                "firing",
            )

            deliveries = await w.client.get(f"/v1/alerts/webhooks/{bms.json()['id']}/deliveries", headers=manage)
            [delivery] = deliveries.json()
            assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == ("delivered", 2, 200)
            given_up = await w.client.get(f"/v1/alerts/webhooks/{gone.json()['id']}/deliveries", headers=manage)
            assert {(d["status"], d["attempts"], d["last_status"]) for d in given_up.json()} == {("failed", 1, 410)}
            elsewhere = await w.client.get(
                f"/v1/alerts/webhooks/{bms.json()['id']}/deliveries", headers=w.as_(Role.ADMIN, "beta")
            )
            assert elsewhere.status_code == 404

    run(sqlite_url, tmp_path, body, webhook_backoff=timedelta(milliseconds=100))


def test_alert_state_is_published_retained_to_mqtt(
    sqlite_url: str, tmp_path: Path, require_service: Callable[[str], tuple[str, int]]
) -> None:
    host, port = require_service("mqtt")

    async def body(w: World) -> None:
        stop = asyncio.Event()
        assert w.engine.mqtt is not None
        connection = asyncio.create_task(w.engine.mqtt.run(stop))
        topic = ""
        try:
            assert await w.engine.mqtt.wait_connected(5)
            edge = await Edge(w.hub, "freezer-gw").enroll(w.as_(Role.ADMIN))
            alert_id = await open_alert(w, "edge:freezer-1/temp/high", device_id=edge.id)
            await w.settle()
            topic = f"tracseq/alpha-lab/alerts/{edge.id}.freezer-1"
            async with aiomqtt.Client(host, port, identifier=f"test-{uuid.uuid4().hex[:8]}") as client:
                await client.subscribe(topic, qos=1)
                message = await asyncio.wait_for(anext(aiter(client.messages)), 5)  # retained: it was there first
            assert message.retain
            state = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            assert (state["tenant"], state["state"], state["severity"], state["open"]) == (
                "alpha-lab",
                "firing",
                "alarm",
                1,
            )
            assert [a["id"] for a in state["alerts"]] == [alert_id]
        finally:
            stop.set()
            await connection
            if topic:
                async with aiomqtt.Client(host, port) as client:
                    await client.publish(topic, b"", qos=1, retain=True)  # leave the broker as it was

    run(sqlite_url, tmp_path, body, mqtt_url=f"mqtt://{host}:{port}")
