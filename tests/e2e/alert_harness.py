"""What the alert end-to-end test and ``bench/alert_latency.py`` share, on top of ``harness`` and ``hub_harness``:

- ``Pager``: the integration tests' ``HttpReceiver`` run in a thread of its own, standing in for the webhook
  provider; it keeps every delivery with its arrival time (``time.time()``, the clock every process here shares);
- ``seed_lab``: a tenant set up over the hub's HTTP API as a lab would: people, a webhook channel, everyone's
  preference for it, a storage unit bound to the edge's freezer channel and an escalation policy matching the unit;
- ``enroll_edge``: ``tracseq edge enroll`` for an edge config;
- ``TemperatureWatch``: the simulator's own state, polled over one control connection, to know when the cabinet
  crossed a limit.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.hub_harness import PASSWORD, Hub, tracseq
from tests.integration.hub.notify_receivers import Answer, HttpReceiver, Received


@dataclass(frozen=True)
class Delivery:
    arrived_at: float
    key: str
    document: dict[str, Any]

    @property
    def alert_id(self) -> str:
        return str(self.document.get("context", {}).get("alert_id", ""))

    @property
    def step(self) -> str:
        """The escalation step as the message names it: "1", "2", "1 (round 2)"…"""
        return str(self.document.get("context", {}).get("step", ""))


class Pager:
    """A local webhook receiver (``HttpReceiver``, answering 200) on its own event loop thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pager", daemon=True)
        self._receiver = HttpReceiver(then=self._record)
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []

    def _record(self, request: Received) -> Answer:
        arrived = time.time()
        document = request.json() if request.body else {}
        with self._lock:
            self._deliveries.append(Delivery(arrived, request.headers.get("idempotency-key", ""), document))
        return Answer(200, "ok")

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=10)

    def __enter__(self) -> Pager:
        self._thread.start()
        self._call(self._receiver.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call(self._receiver.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    @property
    def url(self) -> str:
        return self._receiver.url("/pager")

    def deliveries(self, alert_id: str | None = None) -> list[Delivery]:
        with self._lock:
            found = list(self._deliveries)
        return [d for d in found if alert_id is None or d.alert_id == alert_id]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(hub: Hub, token: str, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{hub.url}{path}", headers=bearer(token), timeout=30, **kwargs)
    assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


@dataclass
class Lab:
    """A seeded tenant: tokens by username, the ids of what was set up."""

    hub: Hub
    tenant: str
    tokens: dict[str, str]
    user_ids: dict[str, str]
    channel_id: str
    unit_id: str = ""
    policy_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def call(self, username: str, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        return call(self.hub, self.tokens[username], method, path, expect, **kwargs)


def seed_lab(hub: Hub, tenant: str, admin: str, people: dict[str, str], pager_url: str) -> Lab:
    """People (``{username: role}``) created by the tenant's admin, a webhook channel to ``pager_url`` made by the
    admin, and each person (admin included) choosing that channel in their own preferences."""
    admin_token = hub.login(tenant, admin)
    tokens, user_ids = {admin: admin_token}, {}
    for username, role in people.items():
        body = {"username": username, "display_name": username.title(), "password": PASSWORD, "role": role}
        user_ids[username] = call(hub, admin_token, "POST", "/v1/users", 201, json=body)["id"]
        tokens[username] = hub.login(tenant, username)
    me = call(hub, admin_token, "GET", "/v1/me")
    user_ids[admin] = me["id"]
    channel = {"name": "Freezer pager", "config": {"kind": "webhook", "url": pager_url}}
    channel_id = call(hub, admin_token, "POST", "/v1/notification-channels", 201, json=channel)["id"]
    for token in tokens.values():
        prefs = {"channels": [{"channel_id": channel_id}]}
        call(hub, token, "PUT", "/v1/me/notification-preferences", json=prefs)
    return Lab(hub, tenant, tokens, user_ids, channel_id)


def bind_freezer(lab: Lab, admin: str, device_id: str, source: str, name: str = "ULT freezer 1") -> str:
    """A -80 °C unit whose temperature is the edge's ``source``/temp channel."""
    unit = {"kind": "freezer", "name": name, "parent_id": None, "zone": "-80"}
    unit_id: str = lab.call(admin, "POST", "/v1/storage/containers", 201, json=unit)["id"]
    binding = [{"device_id": device_id, "channel": "temp", "source": source}]
    lab.call(admin, "PUT", f"/v1/storage/units/{unit_id}/bindings", json=binding)
    lab.unit_id = unit_id
    return unit_id


def escalate(
    lab: Lab, manager: str, tiers: Sequence[tuple[float, Sequence[str]]], repeat_every_s: int | None = None
) -> str:
    """A policy for the lab's unit: tiers of (delay in s, usernames)."""
    body = {
        "name": "ULT freezers",
        "matcher": {"unit_id": lab.unit_id},
        "tiers": [{"delay_s": delay, "users": [lab.user_ids[u] for u in users]} for delay, users in tiers],
        "repeat_every_s": repeat_every_s,
    }
    lab.policy_id = lab.call(manager, "POST", "/v1/alerts/policies", 201, json=body)["id"]
    return lab.policy_id


def enroll_edge(hub: Hub, admin_token: str, config: Path) -> str:
    """``tracseq edge enroll`` with a fresh enrolment token; returns the hub's device id."""
    done = tracseq("edge", "enroll", "-c", config, "--hub", hub.url, "--token", hub.enrollment_token(admin_token))
    assert done.returncode == 0, done.stderr
    device_id: str = json.loads((config.parent / "data" / "hub.json").read_text())["device_id"]
    return device_id


@dataclass(frozen=True)
class Sample:
    wall: float
    sim_time_s: float
    reading_c: float


class TemperatureWatch:
    """The simulator's reported reading, polled every ``interval_s`` over one control connection (the simulator
    answers ``{"get": "state"}`` with its model stepped up to now), kept with the wall time of each answer."""

    def __init__(self, control_port: int, interval_s: float = 0.005) -> None:
        self.port = control_port
        self.interval_s = interval_s
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="temperature-watch", daemon=True)

    def __enter__(self) -> TemperatureWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _poll(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            lines = conn.makefile("r")
            while not self._stop.is_set():
                conn.sendall(b'{"get": "state"}\n')
                state = json.loads(lines.readline())
                sample = Sample(time.time(), float(state["sim_time_s"]), float(state["reading_c"]))
                with self._lock:
                    self._samples.append(sample)
                self._stop.wait(self.interval_s)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def latest(self) -> Sample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def crossed_above(self, limit: float, before: float) -> tuple[float, float] | None:
        """When the reading last went from at-or-below ``limit`` to above it before wall time ``before``: the
        midpoint of the two answers around the crossing, and half their distance (the uncertainty)."""
        samples = [s for s in self.samples() if s.wall <= before]
        for previous, current in zip(reversed(samples[:-1]), reversed(samples), strict=False):
            if previous.reading_c <= limit < current.reading_c:
                return (previous.wall + current.wall) / 2, (current.wall - previous.wall) / 2
        return None
