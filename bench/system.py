"""Benchmark: the whole hub under load — edges syncing live readings, users on the API and alerts paging — stepped
up until a target breaks, for each number of API processes and workers.

    python bench/system.py [--api-procs 1,2] [--workers 1,2] [--edges 20] [--channels 25] [--rates 0.1,0.25,0.5,1,2,4]
                           [--users 8] [--think 1.0] [--seconds 8] [--budget 360]

For each (P, W): a throwaway PostgreSQL database (TRACSEQ_TEST_PG_HOST:PORT, default 127.0.0.1:5432, user postgres),
Redis at --redis-url on a stream of its own, ``tracseq hub serve --workers P`` and W ``tracseq hub worker`` processes
(the API then runs no alert engine, notifier or saga runner of its own; ``--workers 0``: all embedded in the API).
A tenant with a webhook channel to a local receiver (the pager), a policy paging the admin at once for every edge
alarm, 200 samples and a full 96-position box.

Each step of the ladder (``--rates``: readings per second per channel) is one run of ``--seconds`` after a warm-up:
- N edges in a child process (``python bench/system.py edges PLAN``), each writing C channels into its own
  ``edge.store.LogStore`` at the rate and syncing with ``SyncSender`` + ``HttpTransport`` (every --sync-idle s, and
  at once after an alarm entry, as the agent does). Sync lag: from a reading's intended time to the hub's ack.
- Every edge raises an alarm every --alarm-every s (staggered across edges) and clears it --alarm-hold s later.
  Page latency: the alarm's edge time (the alert's ``fired_at``) to the pager's receipt.
- M users (httpx, one keep-alive pool, --think s between requests) on a mix of reads: sample search, a full box,
  the alerts list, an events page. With --think 0.05, 8 users alone saturate one API process on this shared
  machine (p50 about 1 s, whatever the edges do), hence the default of 1 s.
Targets: API p99 <= 500 ms, sync lag p99 <= 5 s, page latency p99 <= 2 s and every alarm paged. The ladder stops at
the first step that misses one; the last step that met all is reported. Baseline, in the same run: the bare FastAPI
``/ping`` of bench/hub_api.py served by uvicorn and driven by the same M users. Everything shares this machine's
CPUs (edges, users and pager too): quote ratios, not absolute figures. ``--budget`` bounds the run; a configuration
that runs out of its share of the budget stops its ladder early and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Run as a script, this folder comes first on sys.path, and its sync.py would shadow the sync package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the e2e harnesses

import httpx  # noqa: E402

from edge.store import LogStore  # noqa: E402
from protocol import SigningKey  # noqa: E402
from protocol.models import Event  # noqa: E402
from sync.errors import SyncError, TransportError  # noqa: E402
from sync.sender import SyncSender  # noqa: E402
from sync.transport import HttpTransport  # noqa: E402
from tests.e2e.alert_harness import Pager  # noqa: E402
from tests.e2e.hub_harness import Database, Hub, wait_until  # noqa: E402

API_P99_MS = 500.0
LAG_P99_S = 5.0
PAGE_P99_S = 2.0
WORDS = ["blood", "plasma", "tumour", "normal", "saliva", "biopsy"]


def load_bench(name: str) -> ModuleType:
    """A sibling bench script as a module (this folder is not a package, and is kept off sys.path)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def p(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the edges (a child process) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgePlan:
    hub_url: str
    admin_token: str
    folder: str
    prefix: str
    edges: int
    channels: int
    period_s: float  # simulated seconds between two readings of one channel
    speed: float = 1.0  # simulated seconds per real second
    seconds: float = 10.0  # measured real seconds, after the warm-up
    warmup_s: float = 3.0
    drain_s: float = 8.0  # after production stops, how long the senders may still catch up
    sync_idle_s: float = 2.0  # the agent's idle between syncs when caught up
    alarm_every_s: float = 0.0  # real seconds between two alarms of one edge; 0: none
    alarm_hold_s: float = 6.0
    sequencer: bool = False  # one more edge: a sequencer's run-folder events, one per period


@dataclass
class EdgeReport:
    seconds: float = 0.0
    offered: int = 0  # entries written in the measured window
    acked: int = 0  # entries the hub acknowledged in the measured window
    lags: list[float] = field(default_factory=list)  # one per tick written in the window
    unacked: int = 0  # entries of the window still not acknowledged when the drain ended
    alarms: int = 0  # raised in the window
    waits: int = 0  # 429/5xx/transport failures honoured
    errors: list[str] = field(default_factory=list)
    wait_reasons: list[str] = field(default_factory=list)
    last_ts: str = ""  # simulated time of the last entry
    window: tuple[float, float] = (0.0, 0.0)  # the measured window, wall clock

    def merge(self, other: EdgeReport) -> None:
        self.offered += other.offered
        self.acked += other.acked
        self.lags += other.lags
        self.unacked += other.unacked
        self.alarms += other.alarms
        self.waits += other.waits
        self.errors += other.errors[:3]
        self.wait_reasons = (self.wait_reasons + other.wait_reasons)[:3]
        self.last_ts = max(self.last_ts, other.last_ts)


@dataclass
class Enrolled:
    name: str
    origin: str
    key: SigningKey
    token: str
    sequencer: bool = False


def enroll(hub_url: str, admin_token: str, name: str) -> tuple[str, str, SigningKey]:
    """Enrol a fresh key over HTTP as ``tracseq edge enroll`` does: (device id, device token, key)."""
    origin = f"tracseq.bench/edge/{name}"
    key = SigningKey.generate(origin)
    headers = {"Authorization": f"Bearer {admin_token}"}
    made = httpx.post(f"{hub_url}/v1/devices/enrollment-tokens", headers=headers, timeout=30)
    made.raise_for_status()
    body = {"token": made.json()["token"], "name": name, "origin": origin, "public_key": key.verifier.vkey}
    response = httpx.post(f"{hub_url}/v1/sync/enroll", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["device_id"], response.json()["device_token"], key


def reading_payloads(name: str, channels: int) -> list[list[dict[str, object]]]:
    """Ten rounds of payloads per channel, cycled: building dicts is not what is measured."""
    rng = random.Random(name)
    return [
        [
            {
                "device": f"{name}-dev{c // 5}",
                "channel": f"ch{c:02d}",
                "value": f"{-80 + rng.uniform(-1, 1):.2f}",
                "unit": "Cel",
                "quality": "good",
            }
            for c in range(channels)
        ]
        for _ in range(10)
    ]


def alarm_payload(name: str, n: int, action: str) -> dict[str, object]:
    return {
        "action": action,
        "alarm_id": f"{name}/ch00/high/{n}",
        "device": f"{name}-dev0",
        "channel": "ch00",
        "rule": "high",
        "severity": "alarm",
        "value": "-65.00" if action == "raised" else "-79.00",
        "limit": "-70",
        "message": f"ch00 above -70 °C (bench alarm {n})",
    }


RUN_CYCLES = 318  # a NovaSeq-like 2×151 + index reads; one progress event per period


def sequencer_payload(name: str, n: int) -> dict[str, Any]:
    """A run-folder watcher's events: run_started, run_progress per cycle, run_completed; then the next run."""
    run, cycle = divmod(n, RUN_CYCLES + 2)
    run_id = f"20260506_{name.upper()}_{run:04d}_AHLFFJBGX2"
    attrs: dict[str, str | int | bool | None] = {"run_id": run_id, "folder": run_id, "state": "running"}
    if cycle == 0:
        kind, message = "run_started", f"run {run_id} started"
    elif cycle <= RUN_CYCLES:
        kind, message = "run_progress", f"run {run_id}: cycle {cycle} of {RUN_CYCLES}"
        attrs |= {"cycles_done": cycle, "cycles_total": RUN_CYCLES}
    else:
        kind, message = "run_completed", f"run {run_id} completed"
        attrs |= {"state": "completed", "cycles_done": RUN_CYCLES}
    return Event(type=kind, device=name, channel=run_id, message=message, attrs=attrs).payload()


async def edge_loop(plan: EdgePlan, edge: Enrolled, index: int, t0: float, wall0: float, report: EdgeReport) -> None:
    """One edge: a producer writing every channel each tick (the intended tick time is what lag is measured from)
    and a sender syncing every ``sync_idle_s`` and at once after an alarm entry."""
    measure_from, stop_at = t0 + plan.warmup_s, t0 + plan.warmup_s + plan.seconds
    sim0 = datetime.fromtimestamp(wall0, UTC)  # one origin for every edge: alert times line up with the window
    store = LogStore(Path(plan.folder) / f"{edge.name}.db", edge.origin, edge.key)
    transport = HttpTransport(plan.hub_url, edge.token, timeout_s=30)
    sender = SyncSender(store, transport)
    pending: deque[tuple[int, float, bool, int]] = deque()  # (seq after the tick, intended time, in window, entries)
    wake = asyncio.Event()
    written = 0
    producing = True
    interval = plan.period_s / plan.speed
    payloads = reading_payloads(edge.name, plan.channels)

    async def produce() -> None:
        nonlocal written, producing
        rng = random.Random(index)
        tick = t0 + rng.uniform(0, interval)
        alarm_at = t0 + (index / max(plan.edges, 1)) * plan.alarm_every_s if plan.alarm_every_s else math.inf
        clear_at, alarms, n = math.inf, 0, 0
        while tick < stop_at:
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
            ts = sim0 + timedelta(seconds=(tick - t0) * plan.speed)
            mono = time.monotonic_ns()
            in_window = measure_from <= tick < stop_at
            if edge.sequencer:
                store.append("event", sequencer_payload(edge.name, n), ts, mono)
                count = 1
            else:
                for payload in payloads[n % 10]:
                    store.append("observation", payload, ts, mono)
                count = plan.channels
            if tick >= clear_at:
                store.append("alarm", alarm_payload(edge.name, alarms, "cleared"), ts, mono)
                count += 1
                clear_at = math.inf
                wake.set()
            if tick >= alarm_at and clear_at == math.inf:
                alarms += 1
                store.append("alarm", alarm_payload(edge.name, alarms, "raised"), ts, mono)
                count += 1
                report.alarms += in_window
                clear_at, alarm_at = tick + plan.alarm_hold_s, alarm_at + plan.alarm_every_s
                wake.set()
            store.flush()
            written += count
            report.offered += count * in_window
            pending.append((written, tick, in_window, count))
            report.last_ts = ts.isoformat()
            n += 1
            tick += interval
        producing = False
        wake.set()

    async def ship() -> None:
        """One batch per call, so that each batch's ack is timed as it arrives."""
        deadline = stop_at + plan.drain_s
        acked = 0
        while time.monotonic() < deadline and (producing or acked < written):
            try:
                sent = await sender.sync_once(max_batches=1)
            except TransportError as exc:
                report.waits += 1
                if len(report.wait_reasons) < 3:
                    report.wait_reasons.append(str(exc)[:200])
                await asyncio.sleep(exc.retry_after if exc.retry_after is not None else 0.5)
                continue
            except SyncError as exc:
                report.errors.append(f"{edge.name}: {exc}")
                await asyncio.sleep(0.5)
                continue
            now, before, acked = time.monotonic(), acked, store.acked_seq()
            if measure_from <= now < stop_at:
                report.acked += acked - before
            while pending and pending[0][0] <= acked:
                _, at, in_window, _ = pending.popleft()
                if in_window:
                    report.lags.append(now - at)
            if sent.entries:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), plan.sync_idle_s)
            wake.clear()
        for _, at, in_window, count in pending:
            if in_window:  # not acknowledged at all: at least this late
                report.lags.append(deadline - at)
                report.unacked += count
        pending.clear()

    try:
        await asyncio.gather(produce(), ship())
    finally:
        await transport.close()
        store.close()


def edge_child(plan_file: Path) -> None:
    """``python bench/system.py edges PLAN``: enrol, print "ready", wait for a line on stdin, run, write the
    report next to the plan."""
    plan = EdgePlan(**json.loads(plan_file.read_text()))
    edges = []
    for i in range(plan.edges + plan.sequencer):
        sequencer = i == plan.edges
        name = f"{plan.prefix}-{'seq' if sequencer else 'edge'}{i:02d}"
        _, token, key = enroll(plan.hub_url, plan.admin_token, name)
        edges.append(Enrolled(name, key.name, key, token, sequencer))
    print("ready", flush=True)
    sys.stdin.readline()

    async def fleet() -> EdgeReport:
        t0, wall0 = time.monotonic(), time.time()
        reports = [EdgeReport(seconds=plan.seconds) for _ in edges]
        await asyncio.gather(
            *(edge_loop(plan, e, i, t0, wall0, r) for i, (e, r) in enumerate(zip(edges, reports, strict=True)))
        )
        total = EdgeReport(seconds=plan.seconds)
        total.window = (wall0 + plan.warmup_s, wall0 + plan.warmup_s + plan.seconds)
        for one in reports:
            total.merge(one)
        return total

    report = asyncio.run(fleet())
    (plan_file.parent / "report.json").write_text(json.dumps(asdict(report)))


@contextlib.contextmanager
def edges_running(plan: EdgePlan) -> Iterator[Callable[[], EdgeReport]]:
    """The child enrolled and started; yields a function that waits for its report."""
    folder = Path(plan.folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(json.dumps(asdict(plan)))
    child = subprocess.Popen(
        [sys.executable, str(BENCH / "system.py"), "edges", str(folder / "plan.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        if child.stdout.readline().strip() != "ready":
            raise SystemExit(f"the edge process failed to start (exit {child.wait(30)})")
        child.stdin.write("go\n")
        child.stdin.flush()

        def result() -> EdgeReport:
            child.wait(plan.warmup_s + plan.seconds + plan.drain_s + 120)
            if child.returncode != 0:
                raise SystemExit(f"the edge process exited with {child.returncode}")
            return EdgeReport(**json.loads((folder / "report.json").read_text()))

        yield result
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()


# -- the hub ------------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """One configuration: its database, the API processes and the workers."""

    hub: Hub
    api: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    redis_url: str
    stream: str

    @property
    def pids(self) -> dict[str, int]:
        return {"api": self.api.pid, **{f"worker{i}": w.pid for i, w in enumerate(self.workers)}}

    def stop(self) -> None:
        for proc in [self.api, *self.workers]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [self.api, *self.workers]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.hub.db.drop()
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(self.redis_url)
            client.delete(*client.keys(f"{self.stream}*") or [self.stream])
            client.close()


def start_stack(
    folder: Path, api_procs: int, workers: int, redis_url: str, extra: dict[str, str] | None = None
) -> Stack:
    from hub.migrations import upgrade

    host = os.environ.get("TRACSEQ_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("TRACSEQ_TEST_PG_PORT", "5432"))
    db = Database.create(host, port, prefix="tracseq_bench_system")
    stream = f"tracseq:bench:{uuid.uuid4().hex[:8]}"
    env = {
        "TRACSEQ_HUB_REDIS_URL": redis_url,
        "TRACSEQ_HUB_EVENTS_STREAM": stream,
        "TRACSEQ_HUB_ALERTS_FLAP_THRESHOLD": "1000",
        "TRACSEQ_HUB_RATE_DEVICE_PER_MIN": "10000000",
        "TRACSEQ_HUB_RATE_TENANT_PER_MIN": "10000000",
        "TRACSEQ_HUB_RATE_USER_PER_MIN": "10000000",
        **(extra or {}),
    }
    if workers:
        env |= {f"TRACSEQ_HUB_{w}_IN_PROCESS": "false" for w in ("NOTIFY", "SAGAS", "ALERTS")}
    hub = Hub(db, folder, extra_env=env)
    folder.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(db.url)
        hub.seed({"bench-lab": "ana"})
        full_env = {**os.environ, **hub.env, "PYTHONUNBUFFERED": "1"}

        def spawn(name: str, *args: str) -> subprocess.Popen[bytes]:
            with (folder / f"{name}.log").open("wb") as log:
                command = [sys.executable, "-m", "protocol", "hub", *args]
                procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env))
            return procs[-1]

        api = spawn("api", "serve", "--port", str(hub.port), "--workers", str(api_procs))
        for i in range(workers):
            spawn(f"worker{i}", "worker")

        def up() -> bool:
            if any(proc.poll() is not None for proc in procs):
                raise SystemExit(f"a hub process exited: {(folder / 'api.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{hub.url}/healthz", timeout=1).status_code == 200
            return False

        wait_until(up, 90, "the hub's /healthz", interval=0.2)
        return Stack(hub, api, procs[1:], redis_url, stream)
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait()
        db.drop()
        raise


@dataclass
class Lab:
    token: str
    box_id: str
    device_ids: list[str] = field(default_factory=list)


def seed_lab(hub: Hub, pager_url: str, samples: int = 200) -> Lab:
    """A webhook channel to the pager chosen by the admin, a policy paging the admin at once for any edge alarm,
    ``samples`` samples and a full 96-position box."""
    token = hub.login("bench-lab")
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:

        def call(method: str, path: str, body: object, expect: int) -> Any:
            response = client.request(method, path, json=body)
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
            return response.json() if response.content else None

        me = client.get("/v1/me").json()["id"]
        channel = call(
            "POST", "/v1/notification-channels", {"name": "pager", "config": {"kind": "webhook", "url": pager_url}}, 201
        )
        call("PUT", "/v1/me/notification-preferences", {"channels": [{"channel_id": channel["id"]}]}, 200)
        policy = {"name": "edge alarms", "matcher": {"origin": "edge"}, "tiers": [{"delay_s": 0, "users": [me]}]}
        call("POST", "/v1/alerts/policies", policy, 201)
        kind = call("POST", "/v1/sample-types", {"name": "Plasma", "zone": "-80"}, 201)["id"]
        body = {
            "samples": [{"name": f"{WORDS[n % len(WORDS)]} sample {n}", "sample_type_id": kind} for n in range(samples)]
        }
        ids = [s["id"] for s in call("POST", "/v1/samples", body, 201)]
        call("POST", "/v1/samples/transitions", {"sample_ids": ids, "to": "received", "reason": "bench intake"}, 200)
        freezer = call("POST", "/v1/storage/containers", {"kind": "freezer", "name": "F", "zone": "-80"}, 201)["id"]
        rack = call("POST", "/v1/storage/containers", {"kind": "rack", "name": "R", "parent_id": freezer}, 201)["id"]
        box = {"kind": "box", "name": "B", "parent_id": rack, "rows": 8, "cols": 12}
        box_id = call("POST", "/v1/storage/containers", box, 201)["id"]
        full = [
            {"sample_id": s, "box_id": box_id, "position": f"{'ABCDEFGH'[i // 12]}{i % 12 + 1}"}
            for i, s in enumerate(ids[:96])
        ]
        call("POST", "/v1/storage/placements", {"placements": full}, 200)
    return Lab(token, box_id)


# -- the users ----------------------------------------------------------------------------------------------------


def user_reads(lab: Lab) -> Callable[[random.Random], str]:
    def pick(rng: random.Random) -> str:
        return rng.choice(
            [
                f"/v1/samples?limit=50&q={rng.choice(WORDS)}",
                "/v1/samples?limit=50&state=received",
                f"/v1/storage/boxes/{lab.box_id}",
                "/v1/alerts?limit=50",
                "/v1/events?limit=100",
            ]
        )

    return pick


async def users(
    name: str,
    base: str,
    token: str,
    pick: Callable[[random.Random], str],
    count: int,
    think: float,
    warmup: float,
    seconds: float,
) -> Any:
    """``count`` users on one keep-alive pool, each sending GET ``pick()`` then pausing ``think`` s; the warm-up's
    requests are not measured. Returns bench/hub_api.py's ``Result``."""
    result_type = load_bench("hub_api").Result
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    latencies: list[float] = []
    by_read: dict[str, list[float]] = {}
    errors = 0
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + seconds
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, headers=headers) as client:

        async def user(number: int) -> None:
            nonlocal errors
            rng = random.Random(number)
            while (began := time.perf_counter()) < until:
                try:
                    path = pick(rng)
                    response = await client.get(path)
                    failed = response.status_code != 200
                except httpx.HTTPError:
                    failed = True
                if began >= measure_from:
                    latencies.append(time.perf_counter() - began)
                    by_read.setdefault(
                        path.split("?")[0].rsplit("/", 1)[0] if "boxes" in path else path.split("?")[0], []
                    ).append(latencies[-1])
                    errors += failed
                if think:
                    await asyncio.sleep(think)

        await asyncio.gather(*(user(n) for n in range(count)))
    result = result_type(name, len(latencies), errors, seconds, latencies)
    result.by_read = {path: p(values, 0.99) * 1000 for path, values in sorted(by_read.items())}
    return result


# -- the pages ----------------------------------------------------------------------------------------------------


def page_latencies(hub: Hub, token: str, pager: Pager, since: float, until: float, expected: int) -> list[float]:
    """Page latency of every alert fired (edge time) in [since, until): first receipt minus ``fired_at``; waits up
    to 5 s for the pages still on their way."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + 5
    seen: set[str] = set()
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while True:
            for delivery in pager.deliveries():
                if delivery.alert_id in seen:
                    continue
                seen.add(delivery.alert_id)
                if delivery.arrived_at < since:
                    continue  # an earlier step's or configuration's page
                answer = client.get(f"/v1/alerts/{delivery.alert_id}")
                if answer.status_code != 200:
                    continue  # another configuration's hub
                alert = answer.json()
                if not alert.get("fired_at"):
                    continue
                fired = datetime.fromisoformat(alert["fired_at"].replace("Z", "+00:00")).timestamp()
                if since <= fired < until:
                    found[delivery.alert_id] = delivery.arrived_at - fired
            if len(found) >= expected or time.monotonic() > deadline:
                return list(found.values())
            time.sleep(0.2)


# -- the run ------------------------------------------------------------------------------------------------------


@dataclass
class Step:
    hz: float
    edges: EdgeReport
    api: Any  # hub_api.Result
    pages: list[float]

    @property
    def ingest(self) -> float:
        return self.edges.acked / self.edges.seconds

    @property
    def lag_p99(self) -> float:
        return p(self.edges.lags, 0.99)

    @property
    def page_p99(self) -> float:
        return p(self.pages, 0.99) if self.pages else (0.0 if not self.edges.alarms else math.inf)

    def misses(self) -> list[str]:
        missed = []
        if self.api.percentile(0.99) > API_P99_MS:
            missed.append(f"API p99 {self.api.percentile(0.99):.0f} ms > {API_P99_MS:.0f}")
        if self.lag_p99 > LAG_P99_S or self.edges.unacked:
            missed.append(f"sync lag p99 {self.lag_p99:.1f} s > {LAG_P99_S:g} ({self.edges.unacked} unacked)")
        if self.page_p99 > PAGE_P99_S:
            missed.append(f"page p99 {self.page_p99:.2f} s > {PAGE_P99_S:g}")
        if len(self.pages) < self.edges.alarms:
            missed.append(f"{self.edges.alarms - len(self.pages)} of {self.edges.alarms} alarms not paged")
        if self.api.errors or self.edges.errors:
            missed.append(f"{self.api.errors} API errors, sync errors {self.edges.errors[:2]}")
        return missed

    def line(self, n_edges: int, channels: int) -> str:
        return (
            f"  {n_edges}x{channels} ch @ {self.hz:g} Hz: ingest {self.ingest:7,.0f} entries/s (offered "
            f"{self.edges.offered / self.edges.seconds:,.0f})  API {self.api.rate:6,.0f} req/s p50 "
            f"{self.api.percentile(0.5):6.1f} p99 {self.api.percentile(0.99):6.1f} ms  lag p99 {self.lag_p99:5.2f} s  "
            f"page p99 {self.page_p99:5.2f} s ({len(self.pages)}/{self.edges.alarms} paged, {self.edges.waits} waits)"
        )


def run_step(stack: Stack, lab: Lab, pager: Pager, args: argparse.Namespace, hz: float, folder: Path, tag: str) -> Step:
    plan = EdgePlan(
        hub_url=stack.hub.url,
        admin_token=lab.token,
        folder=str(folder),
        prefix=tag,
        edges=args.edges,
        channels=args.channels,
        period_s=1.0 / hz,
        seconds=args.seconds,
        warmup_s=args.warmup,
        drain_s=args.drain,
        sync_idle_s=args.sync_idle,
        alarm_every_s=args.alarm_every,
        alarm_hold_s=args.alarm_hold,
    )
    with edges_running(plan) as result:
        pick = user_reads(lab)
        api = asyncio.run(
            users(
                f"hub API, {args.users} users",
                stack.hub.url,
                lab.token,
                pick,
                args.users,
                args.think,
                args.warmup,
                args.seconds,
            )
        )
        report = result()
    pages = page_latencies(stack.hub, lab.token, pager, *report.window, report.alarms)
    return Step(hz, report, api, pages)


def run_config(
    api_procs: int, workers: int, args: argparse.Namespace, pager: Pager, folder: Path, budget_until: float
) -> tuple[list[Step], str]:
    stack = start_stack(folder, api_procs, workers, args.redis_url)
    steps: list[Step] = []
    note = "ladder exhausted"
    try:
        lab = seed_lab(stack.hub, pager.url)
        step_cost = args.warmup + args.seconds + args.drain / 2 + 8
        for n, hz in enumerate(args.rates):
            if time.monotonic() + step_cost > budget_until:
                note = f"budget: stopped before {hz:g} Hz"
                break
            step = run_step(stack, lab, pager, args, hz, folder / f"step{n}", f"p{api_procs}w{workers}s{n}")
            steps.append(step)
            print(
                step.line(args.edges, args.channels)
                + ("" if not step.misses() else "  MISSED: " + "; ".join(step.misses())),
                flush=True,
            )
            print("    API p99 by read: " + ", ".join(f"{k} {v:.0f} ms" for k, v in step.api.by_read.items()))
            if step.edges.wait_reasons:
                print(f"    the hub asked to wait {step.edges.waits} times, e.g. {step.edges.wait_reasons[0]}")
            if step.misses():
                note = f"target broken at {hz:g} Hz"
                break
    finally:
        stack.stop()
    return steps, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    numbers = lambda text: [float(x) for x in text.split(",")]  # noqa: E731
    counts = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    parser.add_argument("--api-procs", type=counts, default=[1, 2], help="API processes to try, e.g. 1,2")
    parser.add_argument("--workers", type=counts, default=[1, 2], help="hub workers to try (0: embedded in the API)")
    parser.add_argument("--edges", type=int, default=20)
    parser.add_argument("--channels", type=int, default=25, help="channels per edge")
    parser.add_argument(
        "--rates", type=numbers, default=[0.1, 0.25, 0.5, 1, 2, 4], help="readings/s per channel, the ladder"
    )
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--think", type=float, default=1.0, help="seconds a user waits between two requests")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--drain", type=float, default=8.0, help="seconds the edges may catch up after a step")
    parser.add_argument("--sync-idle", type=float, default=2.0, help="an edge's pause between syncs when caught up")
    parser.add_argument("--alarm-every", type=float, default=10.0, help="seconds between two alarms of one edge")
    parser.add_argument("--alarm-hold", type=float, default=6.0, help="seconds an alarm stays raised")
    parser.add_argument("--budget", type=float, default=360.0, help="seconds for the whole run (setup included)")
    parser.add_argument("--redis-url", default=os.environ.get("TRACSEQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    started = time.monotonic()
    hub_api = load_bench("hub_api")

    with tempfile.TemporaryDirectory(prefix="tracseq-bench-system-") as tmp:
        work = Path(tmp)
        with hub_api.served("hub_api:baseline_app", {}, BENCH) as base:
            bare = asyncio.run(
                users(
                    "bare FastAPI GET /ping",
                    base,
                    "",
                    lambda _: "/ping",
                    args.users,
                    args.think,
                    args.warmup,
                    args.seconds,
                )
            )
        print(bare.line(), flush=True)
        configs = [(pp, w) for pp in args.api_procs for w in args.workers]
        results: dict[tuple[int, int], tuple[list[Step], str]] = {}
        with Pager() as pager:
            for i, (pp, w) in enumerate(configs):
                share = (args.budget - (time.monotonic() - started)) / (len(configs) - i)
                print(f"API processes {pp}, workers {w}:", flush=True)
                results[(pp, w)] = run_config(pp, w, args, pager, work / f"p{pp}w{w}", time.monotonic() + share)

    print()
    print(
        f"whole system on PostgreSQL + Redis, {args.edges} edges x {args.channels} channels, {args.users} users "
        f"(think {args.think:g} s), an alarm per edge every {args.alarm_every:g} s, {args.seconds:g} s per step; "
        f"run took {time.monotonic() - started:.0f} s"
    )
    print(
        f"targets: API p99 <= {API_P99_MS:g} ms, sync lag p99 <= {LAG_P99_S:g} s, "
        f"page p99 <= {PAGE_P99_S:g} s, all paged"
    )
    print(f"baseline: {bare.line()}")
    for (pp, w), (steps, note) in results.items():
        met = [s for s in steps if not s.misses()]
        if not met:
            print(f"P={pp} W={w}: no step met every target ({note})")
            continue
        best = met[-1]
        print(
            f"P={pp} W={w}: last load meeting all targets {best.hz:g} Hz/channel ({note}): "
            f"ingest {best.ingest:,.0f} entries/s, API {best.api.rate:,.0f} req/s "
            f"p50 {best.api.percentile(0.5):.1f} ms "
            f"p99 {best.api.percentile(0.99):.1f} ms, sync lag p99 {best.lag_p99:.2f} s, page p99 {best.page_p99:.2f} s"
        )
        print(
            f"    ratio to bare /ping under the same users: throughput {best.api.rate / bare.rate:.2f}, "
            f"p50 {best.api.percentile(0.5) / bare.percentile(0.5):.1f}x, "
            f"p99 {best.api.percentile(0.99) / bare.percentile(0.99):.1f}x"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "edges":
        edge_child(Path(sys.argv[2]))
    else:
        main()
