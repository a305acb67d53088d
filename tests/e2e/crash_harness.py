"""What the hub crash campaign needs on top of ``harness``, ``hub_harness`` and ``alert_harness``:

- ``HubPair``: ``tracseq hub serve`` with Redis events (so it runs no relay, alerts, notifier or sagas) and
  ``tracseq hub worker`` (which runs them all), each SIGKILLed and started again at will;
- ``CrashEdge``: an edge folder with a live config, a device-less ("quiet") config on the same log, and a backlog
  written straight into its store (``edge.store.LogStore``, as ``bench/sync.py`` does);
- the counts at the end, each a ``Tally`` of lost and duplicated items of one kind, read with SQL from the hub's
  database, from the edges' logs, from the Redis stream and from the pager's deliveries.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.harness import freezer_config
from tests.e2e.hub_harness import Database, Hub, tracseq

# -- the hub as two processes -------------------------------------------------------------------------------------


@dataclass
class Worker:
    """``tracseq hub worker`` with the API's environment."""

    hub: Hub
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the worker is running already"
        log = (self.hub.folder / f"worker-{self.starts}.log").open("wb")
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "protocol", "hub", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.hub.env, "PYTHONUNBUFFERED": "1"},
        )
        log.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class HubPair:
    """The API and one worker sharing a database and a Redis stream of their own."""

    api: Hub
    worker: Worker
    stream: str
    kills: Counter[str] = field(default_factory=Counter)

    @classmethod
    def create(cls, db: Database, folder: Path, redis_url: str, stream: str) -> HubPair:
        api = Hub(db, folder, extra_env={"TRACSEQ_HUB_REDIS_URL": redis_url, "TRACSEQ_HUB_EVENTS_STREAM": stream})
        return cls(api, Worker(api), stream)

    def kill(self, which: str) -> None:
        """SIGKILL ``which`` ("api", "worker" or "both") and start it again; the API is back when /healthz says so."""
        if which in ("api", "both"):
            self.api.kill()
        if which in ("worker", "both"):
            self.worker.kill()
        self.kills[which] += 1
        if which in ("worker", "both"):
            self.worker.start()
        if which in ("api", "both"):
            self.api.start()

    def stop(self) -> None:
        self.worker.stop()
        self.api.stop()

    def tracebacks(self) -> list[str]:
        """Log files with a traceback that is not the SIGKILL's doing (a kill cuts no traceback short)."""
        return [p.name for p in sorted(self.api.folder.glob("*.log")) if "Traceback" in p.read_text(errors="replace")]


def call_retrying(method: str, url: str, token: str, timeout: float = 60, **kwargs: object) -> httpx.Response:
    """An API call that waits out a restarting API (connection refused, 5xx); safe for idempotent requests only."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.request(
                method,
                url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
                **kwargs,  # type: ignore[arg-type]
            )
            if response.status_code < 500:
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {url}: no answer within {timeout} s")
        time.sleep(0.3)


# -- edges ----------------------------------------------------------------------------------------------------------


class CrashEdge:
    """One edge's folder: ``config`` polls ``devices`` freezers, ``quiet`` (same log, no devices) only drains it."""

    def __init__(self, folder: Path, edge_id: str, freezer_port: int, devices: int, poll_s: float = 0.1) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        freezers = [(f"freezer-{i:02d}", freezer_port) for i in range(devices)]
        text = freezer_config(folder, freezers, poll_interval_s=poll_s, high_delay_s=1.0).read_text()
        text = text.replace('id = "e2e-host"', f'id = "{edge_id}"', 1)
        self.folder = folder
        self.config = folder / "edge.toml"
        self.config.write_text(text, encoding="utf-8")
        self.quiet = folder / "quiet.toml"
        self.quiet.write_text(text.split("[[devices]]", 1)[0], encoding="utf-8")
        self.origin = f"tracseq.local/edge/{edge_id}"
        self.db = folder / "data" / "log.db"
        self.device_id = ""

    def enroll(self, hub: Hub, admin_token: str) -> str:
        done = tracseq(
            "edge", "enroll", "-c", self.config, "--hub", hub.url, "--token", hub.enrollment_token(admin_token)
        )
        assert done.returncode == 0, done.stderr
        self.device_id = json.loads((self.folder / "data" / "hub.json").read_text())["device_id"]
        return self.device_id

    def backlog(self, n: int, checkpoint_every: int = 1000) -> None:
        """``n`` readings (a checkpoint every ``checkpoint_every``) appended straight into the edge's store."""
        from edge.store import LogStore
        from protocol import SigningKey

        store = LogStore(self.db, self.origin, SigningKey.load(self.db.parent / "edge.key", self.origin))
        begin = datetime.now(UTC) - timedelta(milliseconds=n)
        try:
            start = store.status().next_seq
            for i in range(start, start + n):
                payload = {"device": "f1", "channel": "temp", "value": f"-80.{i % 100:02d}", "unit": "Cel"}
                store.append(
                    "observation", {**payload, "quality": "good"}, begin + timedelta(milliseconds=i - start), i
                )
                if (i + 1) % checkpoint_every == 0:
                    store.checkpoint()
            store.checkpoint()
        finally:
            store.close()

    def _read(self, query: str) -> list[tuple[object, ...]]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(query).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def durable(self) -> int:
        rows = self._read("SELECT count(*) FROM entries")
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def acked(self) -> int:
        rows = self._read("SELECT value FROM meta WHERE key = 'acked_seq'")
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def entries(self) -> list[tuple[int, bytes]]:
        return [(int(s), bytes(r)) for s, r in self._read("SELECT seq, raw FROM entries ORDER BY seq")]  # type: ignore[call-overload]


# -- counting -------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Of one kind: how many there should be, and how many are missing or there more than once."""

    kind: str
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    foreign: int = 0  # arrivals under a key the hub never issued: a message sent again as a new one
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        note = f" ({'; '.join(self.notes)})" if self.notes else ""
        return f"{self.kind}: {self.expected} expected, {self.lost} lost, {self.duplicated} duplicated{note}"


def count_entries(db: Database, edges: list[CrashEdge], synced: list[int]) -> tuple[Tally, Tally]:
    """Hub ``device_entries`` and ``readings`` against each edge's own log, by (device, seq) and hash, once the edges
    have stopped. ``synced``: each edge's acked count when it first equalled its log's length after the killing.

    Lost: an entry below the edge's final ack that the hub does not hold. Duplicated: a seq held twice. Foreign: an
    entry the edge's log does not have (past its end) or has with other bytes. The quiet agents keep logging events
    (and syncing them) after ``synced``, so the hub may hold more than that: it is held to the final ack."""
    from protocol import entry_hash

    entries, readings = Tally("entries"), Tally("readings")
    for edge, first in zip(edges, synced, strict=True):
        whole = edge.entries()
        assert [s for s, _ in whole] == list(range(len(whole))), f"{edge.origin}: the edge's own log has a gap"
        upto = edge.acked()
        assert first <= upto <= len(whole), f"{edge.origin}: ack went from {first} to {upto} of {len(whole)}"
        log = whole[:upto]
        late = [raw for _, raw in whole[upto:]]
        assert all(b'"kind":"event"' in raw for raw in late), f"{edge.origin}: readings after the last ack"
        own = {s: entry_hash(raw) for s, raw in whole}
        rows = db.fetch("SELECT seq, hash FROM device_entries WHERE device_id = $1", edge.device_id)
        held = Counter(int(r["seq"]) for r in rows)
        entries.expected += len(log)
        entries.lost += sum(1 for s, _ in log if s not in held)
        entries.duplicated += sum(n - 1 for n in held.values())
        entries.foreign += sum(1 for r in rows if own.get(int(r["seq"])) != bytes(r["hash"]))
        observed = {s for s, raw in whole if b'"kind":"observation"' in raw}
        stored = Counter(
            int(r["seq"]) for r in db.fetch("SELECT seq FROM readings WHERE device_id = $1", edge.device_id)
        )
        readings.expected += len(observed)
        readings.lost += len(observed - set(stored))
        readings.duplicated += sum(n - 1 for n in stored.values())
        readings.foreign += len(set(stored) - observed)
    entries.notes.append(f"{entries.foreign} not in the edges' logs or with other bytes")
    readings.notes.append(f"{readings.foreign} not from an observation in the edges' logs")
    return entries, readings


def count_outbox(db: Database, stream_offsets: list[int]) -> Tally:
    """Every committed outbox row published once with a position, positions 1..N without a gap, and each position
    on the Redis stream (``stream_offsets``: the offsets of every stream entry, in stream order). The relay publishes
    inside its transaction, so a relay killed before its commit publishes that batch again: those repeats are the
    ``duplicated`` count (subscribers skip them by offset)."""
    tally = Tally("outbox events")
    rows = db.fetch("SELECT position, published_at FROM outbox")
    tally.expected = len(rows)
    positions = sorted(int(r["position"]) for r in rows if r["position"] is not None)
    unpublished = sum(1 for r in rows if r["published_at"] is None or r["position"] is None)
    gaps = len(set(range(1, len(rows) + 1)) - set(positions))
    on_stream = Counter(stream_offsets)
    missing = len(set(positions) - set(on_stream))
    tally.lost = unpublished + missing
    tally.duplicated = sum(n - 1 for n in on_stream.values())
    if gaps or unpublished or missing:
        tally.notes.append(f"{unpublished} unpublished, {gaps} position gaps, {missing} not on the stream")
    return tally


def stream_offsets(redis_url: str, stream: str) -> list[int]:
    from redis import Redis

    client = Redis.from_url(redis_url)
    try:
        found: list[int] = []
        start = "-"
        while True:
            page = client.xrange(stream, min=start, max="+", count=5000)
            found.extend(int(fields[b"offset"]) for _, fields in page)
            if len(page) < 5000:
                return found
            start = "(" + page[-1][0].decode()
    finally:
        client.close()


def drop_stream(redis_url: str, stream: str) -> None:
    from redis import Redis

    client = Redis.from_url(redis_url)
    try:
        client.delete(stream, f"{stream}:dead")
    finally:
        client.close()


def count_steps(db: Database, alert_id: str) -> Tally:
    """Escalation steps: unique per step key (the table's constraint), none skipped between the first and the last
    (tiers 0..k of each repeat, in order)."""
    tally = Tally("escalation steps")
    rows = db.fetch("SELECT step_key, tier, repeat FROM alert_steps WHERE alert_id = $1 ORDER BY due_at", alert_id)
    keys = Counter(r["step_key"] for r in rows)
    tally.expected = len(keys)
    tally.duplicated = sum(n - 1 for n in keys.values())
    taken = {(int(r["tier"]), int(r["repeat"])) for r in rows}
    tiers = 1 + max((t for t, _ in taken), default=-1)
    repeats = {r for _, r in taken}
    for repeat in repeats:  # within a repeat every tier up to the last taken one
        top = max(t for t, r in taken if r == repeat)
        tally.lost += sum(1 for t in range(top + 1) if (t, repeat) not in taken)
    tally.notes.append(f"{tiers} tiers, repeats {sorted(repeats)}")
    return tally


def count_messages(db: Database, delivered_keys: list[str]) -> Tally:
    """Notifications against the pager's deliveries by Idempotency-Key (the message id): each sent message arrived
    at least once; arrivals beyond the first are the notifier's at-least-once repeats (same key: droppable)."""
    tally = Tally("messages")
    rows = db.fetch("SELECT id, state, dedup_key, user_id, channel_id FROM notifications")
    tally.expected = len(rows)
    arrived = Counter(delivered_keys)
    ids = {r["id"] for r in rows}
    tally.lost = sum(1 for r in rows if arrived[r["id"]] == 0)
    tally.duplicated = sum(n - 1 for n in arrived.values())
    per_step = Counter((r["dedup_key"], r["user_id"], r["channel_id"]) for r in rows)
    if any(n > 1 for n in per_step.values()):
        tally.notes.append("a step or saga notified one user on one channel as two messages")
    tally.foreign = sum(1 for key in arrived if key not in ids)
    states = Counter(r["state"] for r in rows)
    tally.notes.append(f"states {dict(states)}; {tally.foreign} arrivals under a key the hub never issued")
    return tally
