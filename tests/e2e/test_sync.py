"""Edge → hub sync with both as processes and the hub on PostgreSQL: a long partition, the hub killed in the middle
of a batch, the edge killed in the middle of a send, and attacks on the sync endpoint. Afterwards the hub holds every
entry exactly once (checked with SQL against the edge's own log) and the edge's export verifies with the hub's
cosignatures.

Kill counts, backlog and seed are tunable: TRACSEQ_SYNC_HUB_KILLS, TRACSEQ_SYNC_EDGE_KILLS, TRACSEQ_SYNC_BACKLOG,
TRACSEQ_SYNC_SEED; TRACSEQ_E2E_KEEP_DB=1 keeps the hub's database for a post-mortem.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from edge.store import LogStore
from protocol import ChainWriter, CheckpointBody, SigningKey, entry_hash, sign_checkpoint
from sync import MEDIA_TYPE, BatchHeader, encode_batch
from tests.e2e.harness import freezer_config, start_agent, start_simulator, stop_agent, tracseq
from tests.e2e.hub_harness import Database, Hub, enroll_device, wait_until

pytestmark = pytest.mark.e2e

HUB_KILLS = int(os.environ.get("TRACSEQ_SYNC_HUB_KILLS", "2"))
EDGE_KILLS = int(os.environ.get("TRACSEQ_SYNC_EDGE_KILLS", "3"))
SEED = int(os.environ.get("TRACSEQ_SYNC_SEED", "23"))
BACKLOG = int(os.environ.get("TRACSEQ_SYNC_BACKLOG", "20000"))  # entries an edge holds when the kills start
T0 = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


# -- the hub, once per module ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(require_service: Callable[[str], tuple[str, int]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    host, port = require_service("postgresql")
    db = Database.create(host, port)
    server = Hub(db, tmp_path_factory.mktemp("hub"))
    try:
        server.migrate()
        server.seed({"lab-one": "ana", "lab-two": "bea"})
        server.start()
        yield server
    finally:
        server.stop()
        if os.environ.get("TRACSEQ_E2E_KEEP_DB"):  # for a post-mortem: psql the database named in the output
            print(f"kept the hub's database {db.name} and folder {server.folder}")
        else:
            db.drop()


@pytest.fixture(scope="module")
def admin(hub: Hub) -> str:
    return hub.login("lab-one", "ana")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the edge ---------------------------------------------------------------------------------------------------


class Edge:
    """One edge's folder: a config with freezers (``config``) and one without devices (``quiet``), sharing the
    data directory, so the same log can be drained without new readings arriving."""

    def __init__(self, folder: Path, edge_id: str, freezer_port: int | None = None, devices: int = 0) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        freezers = [(f"freezer-{i:02d}", freezer_port) for i in range(devices)] if freezer_port else []
        text = freezer_config(folder, freezers, poll_interval_s=0.05, checkpoint_interval_s=1.0).read_text()
        text = text.replace('id = "e2e-host"', f'id = "{edge_id}"', 1)
        self.config = folder / "edge.toml"
        self.config.write_text(text, encoding="utf-8")
        self.quiet = folder / "quiet.toml"
        self.quiet.write_text(text.split("[[devices]]", 1)[0], encoding="utf-8")
        self.origin = f"tracseq.local/edge/{edge_id}"
        self.data = folder / "data"
        self.db = self.data / "log.db"

    def enroll(self, hub: Hub, admin: str) -> str:
        done = tracseq("edge", "enroll", "-c", self.config, "--hub", hub.url, "--token", hub.enrollment_token(admin))
        assert done.returncode == 0, done.stderr
        device_id: str = json.loads((self.data / "hub.json").read_text())["device_id"]
        return device_id

    def key(self) -> SigningKey:
        return SigningKey.load(self.data / "edge.key", self.origin)

    def backlog(self, n: int, checkpoint_every: int = 1000) -> None:
        """Append ``n`` readings (and a checkpoint every ``checkpoint_every``) straight into the edge's store."""
        store = LogStore(self.db, self.origin, self.key())
        begin = datetime.now(UTC) - timedelta(milliseconds=n)  # recent: older entries are the agent's to prune
        try:
            start = store.status().next_seq
            for i in range(start, start + n):
                value = f"-80.{i % 100:02d}"
                payload = {"device": "f1", "channel": "temp", "value": value, "unit": "Cel", "quality": "good"}
                store.append("observation", payload, begin + timedelta(milliseconds=i - start), i)
                if (i + 1) % checkpoint_every == 0:
                    store.checkpoint()
            store.checkpoint()
        finally:
            store.close()

    def durable(self) -> int:
        """Entries on disk (the store inserts only durable ones); read-only, the agent may be running."""
        if not self.db.exists():
            return 0
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()

    def log(self, upto: int) -> list[bytes]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT seq, raw FROM entries WHERE seq < ? ORDER BY seq", (upto,)).fetchall()
        finally:
            conn.close()
        assert [r[0] for r in rows] == list(range(upto))
        return [bytes(r[1]) for r in rows]

    def acked(self) -> int:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'acked_seq'").fetchone()
        finally:
            conn.close()
        return int(row[0]) if row else 0

    def verify_export(self, name: str = "log") -> dict[str, Any]:
        export, trust = self.folder / f"{name}.jsonl", self.folder / f"{name}.trust.json"
        done = tracseq("edge", "export", "--config", self.config, "--out", export)
        assert done.returncode == 0, done.stderr
        done = tracseq("edge", "trust", "--config", self.config, "--out", trust)
        assert done.returncode == 0, done.stderr
        assert json.loads(trust.read_text())["witness_keys"], "the trust file names the hub's witness key"
        verified = tracseq("verify", export, "--trust", trust, "--json")
        report: dict[str, Any] = json.loads(verified.stdout)
        assert verified.returncode == 0, report
        return report


def hub_next_seq(hub: Hub, admin: str, device_id: str) -> int:
    try:
        devices = hub.devices(admin)
    except (httpx.HTTPError, AssertionError):
        return -1
    return next(int(d["next_seq"]) for d in devices if d["id"] == device_id)


def wait_caught_up(hub: Hub, admin: str, edge: Edge, device_id: str, timeout: float) -> int:
    """Until the hub's next_seq equals the edge's durable count, twice in a row (the edge is quiet)."""
    last = [-1]

    def caught_up() -> int:
        durable, held = edge.durable(), hub_next_seq(hub, admin, device_id)
        done = held == durable and last[0] == durable
        last[0] = durable if held == durable else -1
        return durable if done else 0

    n: int = wait_until(caught_up, timeout, "the hub to hold everything the edge has", interval=0.5)
    return n


def assert_mirrored_exactly_once(hub: Hub, edge: Edge, device_id: str, n: int) -> None:
    """SQL on the hub's database: seqs 0..n-1 once each, with the edge's hashes; one reading per observation."""
    rows = hub.db.fetch("SELECT seq, hash FROM device_entries WHERE device_id = $1 ORDER BY seq", device_id)
    assert [r["seq"] for r in rows] == list(range(n)), "every seq 0..n-1 exactly once"
    raws = edge.log(n)
    assert [bytes(r["hash"]) for r in rows] == [entry_hash(raw) for raw in raws], "the edge's exact bytes"
    observations = sum(1 for raw in raws if b'"kind":"observation"' in raw)
    readings = hub.db.value("SELECT count(*) FROM readings WHERE device_id = $1", device_id)
    assert readings == observations
    assert hub.db.value("SELECT next_seq FROM device_logs WHERE device_id = $1", device_id) == n


def synced_ranges(hub: Hub, admin: str, device_id: str) -> list[tuple[int, int]]:
    events = [e for e in hub.events(admin, "device.synced") if e["subject_id"] == device_id]
    return sorted((int(e["payload"]["from"]), int(e["payload"]["to"])) for e in events)


def assert_stored_once(hub: Hub, admin: str, device_id: str, n: int) -> None:
    """The hub's device.synced events tile 0..n-1: no entry was ever stored twice or skipped. (Events are listed
    once the hub's relay has published them, a moment after the commit.)"""

    def up_to_the_end() -> list[tuple[int, int]] | None:
        ranges = synced_ranges(hub, admin, device_id)
        return ranges if ranges and ranges[-1][1] >= n - 1 else None

    expected = 0
    for start, end in wait_until(up_to_the_end, 30, f"device.synced events up to seq {n - 1}"):
        assert start == expected, f"stored range {start}..{end} after {expected - 1}: overlap or gap"
        expected = end + 1
    assert expected == n


def published(hub: Hub, admin: str, type: str, device_id: str, enough: int) -> list[dict[str, Any]]:
    """``type`` events about ``device_id``, once at least ``enough`` are published."""

    def found() -> list[dict[str, Any]] | None:
        events = [e for e in hub.events(admin, type) if e["subject_id"] == device_id]
        return events if len(events) >= enough else None

    events: list[dict[str, Any]] = wait_until(found, 30, f"{enough} {type} events")
    return events


def kill_agent(agent: subprocess.Popen[str]) -> None:
    agent.send_signal(signal.SIGKILL)
    agent.wait(10)
    if agent.stderr is not None:
        agent.stderr.close()


class WriteWatch:
    """Sees the hub's database from the side: is a write transaction (an ingest) open right now?"""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def wait_for_write(self, within_s: float) -> bool:
        connection = await asyncpg.connect(self.db.dsn)
        try:
            deadline = time.monotonic() + within_s
            while time.monotonic() < deadline:
                busy = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
                    " AND backend_xid IS NOT NULL AND query ILIKE '%device_entries%'",
                    self.db.name,
                )
                if busy:
                    return True
                await asyncio.sleep(0.002)
            return False
        finally:
            await connection.close()

    def during_ingest(self, timeout: float) -> bool:
        return asyncio.run(self.wait_for_write(timeout))


# -- a. a long partition ----------------------------------------------------------------------------------------


def test_a_long_partition_ends_with_every_entry_at_the_hub_once_and_a_witnessed_export(
    hub: Hub, admin: str, tmp_path: Path
) -> None:
    sim = start_simulator(speed=5)
    edge = Edge(tmp_path, "partition", sim.tcp_port, devices=20)
    agent = quiet = None
    try:
        device_id = edge.enroll(hub, admin)
        agent = start_agent(edge.config)
        wait_until(lambda: hub_next_seq(hub, admin, device_id) > 200, 60, "the first readings at the hub")
        hub.kill()  # the link is cut: nothing answers at the hub's address
        cut_at = edge.durable()
        wait_until(lambda: edge.durable() - cut_at >= 3000, 60, "a backlog of 3,000 entries while the hub is down")
        assert agent.poll() is None, "the agent runs on while the hub is away"
        held = hub.db.value("SELECT next_seq FROM device_logs WHERE device_id = $1", device_id)
        backlog = edge.durable() - held
        hub.start()
        target = held + backlog
        wait_until(lambda: hub_next_seq(hub, admin, device_id) >= target, 90, "the backlog at the hub")
        err = stop_agent(agent)
        assert agent.returncode == 0, err
        quiet = start_agent(edge.quiet)  # no devices: the log stops growing, the uplink drains it
        n = wait_caught_up(hub, admin, edge, device_id, 60)
        assert_mirrored_exactly_once(hub, edge, device_id, n)
        assert_stored_once(hub, admin, device_id, n)
        readings = httpx.get(
            f"{hub.url}/v1/devices/{device_id}/readings", params={"limit": 5}, headers=bearer(admin), timeout=30
        )
        assert readings.status_code == 200
        assert [r["seq"] for r in readings.json()] == sorted(r["seq"] for r in readings.json())
        assert len(readings.json()) == 5
        err = stop_agent(quiet)
        assert quiet.returncode == 0, err
    finally:
        for proc in (agent, quiet):
            if proc is not None and proc.poll() is None:
                kill_agent(proc)
        sim.stop()
    report = edge.verify_export()
    assert report["last_seq"] == edge.durable() - 1
    assert report["witnessed_size"] >= n - 5, report  # cosigned up to (almost) the end the hub saw
    assert report["unwitnessed_tail"] <= edge.durable() - n + 5
    assert backlog >= 3000


# -- b. the hub killed in the middle of a batch -----------------------------------------------------------------


def test_the_hub_killed_mid_batch_loses_and_duplicates_nothing(hub: Hub, admin: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    edge = Edge(tmp_path, "hub-kills")
    device_id = edge.enroll(hub, admin)
    edge.backlog(BACKLOG)
    watch = WriteWatch(hub.db)
    agent = start_agent(edge.quiet)
    mid_batch = 0
    try:
        for round_no in range(HUB_KILLS):
            before = max(0, hub_next_seq(hub, admin, device_id))
            time.sleep(rng.uniform(0.0, 0.5))
            mid_batch += watch.during_ingest(timeout=30)
            hub.kill()
            held = hub.db.value("SELECT next_seq FROM device_logs WHERE device_id = $1", device_id)
            assert held >= before, f"round {round_no}: the hub went back from {before} to {held}"
            hub.start()
        n = wait_caught_up(hub, admin, edge, device_id, 120)
    finally:
        err = stop_agent(agent)
    assert agent.returncode == 0, err
    assert mid_batch >= 1, "no kill landed while the hub was writing a batch"
    assert_mirrored_exactly_once(hub, edge, device_id, n)
    assert_stored_once(hub, admin, device_id, n)
    report = edge.verify_export()
    assert report["witnessed_size"] >= BACKLOG


# -- c. the edge killed in the middle of a send -----------------------------------------------------------------


def test_the_edge_killed_mid_send_resumes_from_the_hubs_ack(hub: Hub, admin: str, tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    edge = Edge(tmp_path, "edge-kills")
    device_id = edge.enroll(hub, admin)
    edge.backlog(BACKLOG)
    watch = WriteWatch(hub.db)
    mid_send = 0
    behind = 0
    for _ in range(EDGE_KILLS):
        agent = start_agent(edge.quiet)
        try:
            time.sleep(rng.uniform(0.0, 0.5))
            mid_send += watch.during_ingest(timeout=30)
        finally:
            kill_agent(agent)
        time.sleep(0.5)  # the batch in flight commits at the hub; the edge never hears the answer
        behind += hub_next_seq(hub, admin, device_id) > edge.acked()
    agent = start_agent(edge.quiet)
    try:
        n = wait_caught_up(hub, admin, edge, device_id, 120)
    finally:
        err = stop_agent(agent)
    assert agent.returncode == 0, err
    assert mid_send >= 1, "no kill landed while a batch was in flight"
    assert behind >= 1, "no kill left the edge behind the hub's ack, so nothing was resent"
    assert_mirrored_exactly_once(hub, edge, device_id, n)
    assert_stored_once(hub, admin, device_id, n)
    assert edge.acked() == hub_next_seq(hub, admin, device_id)
    report = edge.verify_export()
    assert report["witnessed_size"] >= BACKLOG


# -- d. attacks on the sync endpoint ----------------------------------------------------------------------------


class Device:
    """A device driven by hand: its key, its chain, its credential."""

    def __init__(self, hub: Hub, admin: str, name: str) -> None:
        enrolled = enroll_device(hub, admin, name)
        self.hub = hub
        self.id: str = enrolled["device_id"]
        self.token: str = enrolled["device_token"]
        self.key: SigningKey = enrolled["key"]
        self.origin: str = enrolled["origin"]
        self.writer = ChainWriter(self.origin)
        self.entries: list[bytes] = []
        self.heads: list[bytes] = []

    def append(self, n: int) -> None:
        for _ in range(n):
            seq = self.writer.next_seq
            payload = {"device": "f1", "channel": "temp", "value": f"-80.{seq:02d}", "unit": "Cel", "quality": "good"}
            entry = self.writer.append("observation", payload, T0 + timedelta(seconds=seq), seq)
            self.entries.append(entry.raw)
            self.heads.append(entry.hash)

    def checkpoint(self, size: int, key: SigningKey | None = None, head: bytes | None = None) -> str:
        body = CheckpointBody(self.origin, size, head or self.heads[size - 1])
        return sign_checkpoint(body, [key or self.key]).render()

    def body(self, first: int, end: int, checkpoint: str | None = None, origin: str | None = None) -> bytes:
        lines = self.entries[first:end]
        header = BatchHeader(origin=origin or self.origin, first_seq=first, count=len(lines), checkpoint=checkpoint)
        return encode_batch(header, lines)

    def send(self, body: bytes, token: str | None = None, **headers: str) -> httpx.Response:
        return httpx.post(
            f"{self.hub.url}/v1/sync/batches",
            content=body,
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Content-Type": MEDIA_TYPE,
                "Content-Encoding": "gzip",
                **headers,
            },
            timeout=30,
        )

    def rows(self) -> int:
        return int(self.hub.db.value("SELECT count(*) FROM device_entries WHERE device_id = $1", self.id))


def metric(hub: Hub, route: str, status: int) -> float:
    text = httpx.get(f"{hub.url}/metrics", timeout=30).text
    pattern = rf'^tracseq_bad_input_total\{{route="{re.escape(route)}",status="{status}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_attacks_on_the_sync_endpoint_are_refused_and_logged(hub: Hub, admin: str) -> None:
    a = Device(hub, admin, "attack-a")
    b = Device(hub, admin, "attack-b")
    a.append(30)
    b.append(5)

    first = a.send(a.body(0, 20, a.checkpoint(20)))
    assert first.status_code == 200, first.text
    assert first.json()["acked_seq"] == 20
    assert first.json()["cosigned"]

    # a resent or replayed batch: the same answer, nothing stored twice
    replay = a.send(a.body(0, 20, a.checkpoint(20)))
    assert replay.status_code == 200, replay.text
    assert replay.json()["acked_seq"] == 20
    older = a.send(a.body(5, 10, a.checkpoint(10)))
    assert older.status_code == 200, older.text
    assert older.json()["acked_seq"] == 20, "a replay of an older range must not rewind the hub"
    assert a.rows() == 20

    # a forged checkpoint signature: refused, and recorded
    forger = SigningKey.generate(a.origin)
    forged = a.send(a.body(20, 25, a.checkpoint(25, key=forger)))
    assert forged.status_code == 422, forged.text
    assert a.rows() == 20

    # different bytes for a held seq: a fork, refused, with both pieces kept as evidence
    tampered = list(a.entries)
    a.entries[7] = a.entries[7].replace(b'"-80.07"', b'"-70.07"')
    fork = a.send(a.body(0, 20))
    a.entries = tampered
    assert fork.status_code == 409, fork.text
    assert fork.json()["kind"] == "fork"
    evidence = hub.db.fetch("SELECT seq, held, offered FROM fork_evidence WHERE device_id = $1", a.id)
    assert [(r["seq"], bytes(r["held"])) for r in evidence] == [(7, a.heads[7])]
    assert b'"-70.07"' in bytes(evidence[0]["offered"])

    # a second, different checkpoint for a size the hub cosigned: a fork too
    lie = a.send(a.body(20, 20, a.checkpoint(20, head=b"\x07" * 32)))
    assert lie.status_code == 409, lie.text
    assert hub.db.value("SELECT count(*) FROM fork_evidence WHERE device_id = $1", a.id) == 2

    # device A's credential with device B's log
    stolen = a.send(b.body(0, 5, b.checkpoint(5)))
    assert stolen.status_code == 422, stolen.text
    assert b.rows() == 0
    assert a.rows() == 20

    # the honest continuation still goes through after all that
    honest = a.send(a.body(20, 30, a.checkpoint(30)))
    assert honest.status_code == 200, honest.text
    assert honest.json()["acked_seq"] == 30
    assert a.rows() == 30

    refused = published(hub, admin, "integrity.refused", a.id, 2)
    assert any("not signed by the device's key" in e["payload"]["reason"] for e in refused), refused
    assert any(b.origin in e["payload"]["reason"] for e in refused), refused
    forks = published(hub, admin, "integrity.fork", a.id, 2)
    assert sorted(e["payload"]["seq"] for e in forks) == [7, 19]


def test_credentials_are_kept_to_their_device_tenant_and_purpose(hub: Hub, admin: str) -> None:
    other_admin = hub.login("lab-two", "bea")
    one = Device(hub, admin, "tenant-one-edge")
    two = Device(hub, other_admin, "tenant-two-edge")
    two.append(3)
    assert two.send(two.body(0, 3, two.checkpoint(3))).status_code == 200
    forbidden_before = metric(hub, "/v1/devices", 403)
    refused_before = metric(hub, "/v1/sync/batches", 403)

    # a device credential is no key to the users' API, in its own tenant or another
    for path in ("/v1/devices", f"/v1/devices/{two.id}/readings", f"/v1/devices/{one.id}/readings", "/v1/events"):
        response = httpx.get(f"{hub.url}{path}", headers=bearer(one.token), timeout=30)
        assert response.status_code == 403, (path, response.text)
    # an admin of one tenant does not see the other's devices
    assert two.id not in {d["id"] for d in hub.devices(admin)}
    response = httpx.get(f"{hub.url}/v1/devices/{two.id}/readings", headers=bearer(admin), timeout=30)
    assert response.status_code == 404
    response = httpx.post(
        f"{hub.url}/v1/devices/{two.id}/commands", json={"type": "request_export"}, headers=bearer(admin), timeout=30
    )
    assert response.status_code == 404
    # tenant one's device cannot write into tenant two's log
    assert one.send(two.body(0, 3)).status_code == 422
    assert two.rows() == 3

    # a user's access token is not a device credential
    assert one.send(one.body(0, 0), token=admin).status_code == 403
    # a made-up or tampered device credential
    assert one.send(one.body(0, 0), token=one.token[:-2] + "xx").status_code == 401
    assert one.send(one.body(0, 0), token=f"tsd_{two.id}.{one.token.split('.', 1)[1]}").status_code == 401

    # an enrolment token is spent once
    token = hub.enrollment_token(admin)
    key = SigningKey.generate("tracseq.test/edge/once")
    request = {"token": token, "name": "once", "origin": key.name, "public_key": key.verifier.vkey}
    assert httpx.post(f"{hub.url}/v1/sync/enroll", json=request, timeout=30).status_code == 201
    again = {**request, "name": "twice", "origin": "tracseq.test/edge/twice"}
    again["public_key"] = SigningKey.generate("tracseq.test/edge/twice").verifier.vkey
    assert httpx.post(f"{hub.url}/v1/sync/enroll", json=again, timeout=30).status_code == 401

    assert metric(hub, "/v1/devices", 403) > forbidden_before, "refusals are counted"
    assert metric(hub, "/v1/sync/batches", 403) > refused_before


def test_oversized_or_malformed_batches_are_refused_before_ingest(hub: Hub, admin: str) -> None:
    device = Device(hub, admin, "oversize")
    device.append(3)
    too_big = os.urandom(2 << 20)  # over the hub's body limit (1 MiB by default)
    assert device.send(too_big).status_code == 413
    bomb = gzip.compress(b"\n" * (20 << 20), compresslevel=9)  # small on the wire, 20 MiB inflated
    response = device.send(bomb)
    assert response.status_code == 400, response.text
    assert "larger than" in response.json()["detail"]
    assert device.send(b"not gzip").status_code == 400
    wrong_type = device.send(device.body(0, 3), **{"Content-Type": "application/json"})
    assert wrong_type.status_code == 400
    assert device.rows() == 0
    assert device.send(device.body(0, 3, device.checkpoint(3))).status_code == 200
    assert device.rows() == 3
