"""Soak: a simulated lab — 20 edges × 25 channels and a sequencer's run-folder events — syncing into the hub on an
accelerated clock, with the hub's memory, open files, database size and read latency sampled throughout.

    python bench/soak.py [--sim-seconds 604800] [--real-seconds 300] [--rate 150] [--edges 20] [--channels 25]
                         [--sample-every 5] [--workers 1]

The clock: ``--sim-seconds`` of lab time (default a week) pass in ``--real-seconds``. 500 channels at 1 Hz for a week
are 302 M readings, which this machine cannot ingest in minutes, so the readings are decimated: the fleet writes
``--rate`` entries per real second in all, so each channel reads once every ``channels × speed / rate`` simulated
seconds (printed, with the ratio to 1 Hz). A 21st edge replays a sequencer's run-folder events (run_started, one
run_progress per period, run_completed, next run) and every edge raises and clears an alarm every --alarm-every real
seconds, paging a local webhook receiver. The hub: ``tracseq hub serve`` (one process) and ``--workers`` workers on
PostgreSQL + Redis, started as bench/system.py starts them; the edges are bench/system.py's edge process.

Every --sample-every s: resident memory (VmRSS) and open file descriptors (/proc/<pid>/fd) of the API and each worker,
``pg_database_size``, the entries the hub holds, and 10 timed reads (the alerts list and one channel's readings).
Checks, the last third of the samples against the middle third (the first third is warm-up): memory growth < 20 %,
open files growth < 10, read p99 within 2× (or under 50 ms, below which this shared machine's noise dominates);
database bytes per entry in the last third within 2× of the middle third's (linear growth). Exits non-zero when a
check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx

BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]  # bench/sync.py would shadow sync


def load_system() -> ModuleType:
    name = "bench_system"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH / "system.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class SoakConfig:
    edges: int = 20
    channels: int = 25
    rate: float = 150.0  # entries per real second, the whole fleet
    sim_seconds: float = 604_800.0
    real_seconds: float = 300.0
    sample_every: float = 5.0
    alarm_every: float = 60.0
    workers: int = 1
    redis_url: str = "redis://127.0.0.1:6379/0"

    @property
    def speed(self) -> float:
        return self.sim_seconds / self.real_seconds

    @property
    def period_s(self) -> float:
        """Simulated seconds between two readings of one channel."""
        return self.edges * self.channels * self.speed / self.rate


@dataclass
class Sample:
    at: float
    rss_kb: int
    fds: int
    db_bytes: int
    entries: int
    latencies: list[float]


@dataclass
class SoakResult:
    config: SoakConfig
    samples: list[Sample]
    edges: Any  # bench/system.py EdgeReport
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [f"{name}: {detail}" for name, ok, detail in self.checks if not ok]

    def summary(self) -> str:
        c, first, last = self.config, self.samples[0], self.samples[-1]
        lines = [
            f"soak: {c.edges} edges x {c.channels} channels + a sequencer, "
            f"{c.sim_seconds / 86400:g} simulated day(s) in "
            f"{c.real_seconds:g} real s (clock x{c.speed:,.0f}); each channel read every {c.period_s:,.0f} simulated s "
            f"(1 Hz decimated {c.period_s:,.0f}:1), {c.rate:g} entries/s offered; {len(self.samples)} samples",
            f"  entries stored {last.entries:,}; sync lag p99 {percentile(self.edges.lags, 0.99):.2f} s; "
            f"{self.edges.alarms} alarms raised; {self.edges.waits} waits on 429/5xx",
            f"  RSS {first.rss_kb / 1024:.0f} -> {last.rss_kb / 1024:.0f} MB; fds {first.fds} -> {last.fds}; "
            f"DB {first.db_bytes / 2**20:.1f} -> {last.db_bytes / 2**20:.1f} MB",
        ]
        lines += [f"  {'OK' if ok else 'FAIL'}: {name}: {detail}" for name, ok, detail in self.checks]
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def proc_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def sample_loop(stack: Any, token: str, device_id: str, seconds: float, every: float) -> list[Sample]:
    samples: list[Sample] = []
    reads = ["/v1/alerts?limit=50", f"/v1/devices/{device_id}/readings?channel=ch03&limit=100"]
    connection = await asyncpg.connect(stack.hub.db.dsn)
    try:
        async with httpx.AsyncClient(base_url=stack.hub.url, headers={"Authorization": f"Bearer {token}"}) as client:
            start = time.monotonic()
            while (now := time.monotonic()) < start + seconds:
                latencies = []
                for n in range(10):
                    began = time.perf_counter()
                    response = await client.get(reads[n % 2], timeout=30)
                    response.raise_for_status()
                    latencies.append(time.perf_counter() - began)
                pids = stack.pids.values()
                samples.append(
                    Sample(
                        at=now - start,
                        rss_kb=sum(proc_rss_kb(pid) for pid in pids),
                        fds=sum(proc_fds(pid) for pid in pids),
                        db_bytes=await connection.fetchval("SELECT pg_database_size(current_database())"),
                        entries=await connection.fetchval("SELECT COALESCE(SUM(next_seq), 0) FROM device_logs"),
                        latencies=latencies,
                    )
                )
                await asyncio.sleep(max(0.0, now + every - time.monotonic()))
    finally:
        await connection.close()
    return samples


def check(samples: list[Sample]) -> list[tuple[str, bool, str]]:
    n = len(samples)
    if n < 6:
        return [("enough samples", False, f"{n} samples; need 6 or more for thirds")]
    middle, last = samples[n // 3 : 2 * n // 3], samples[2 * n // 3 :]
    rss_mid, rss_last = statistics.mean(s.rss_kb for s in middle), statistics.mean(s.rss_kb for s in last)
    fds_mid, fds_last = max(s.fds for s in middle), max(s.fds for s in last)
    p99_mid = percentile([x for s in middle for x in s.latencies], 0.99) * 1000
    p99_last = percentile([x for s in last for x in s.latencies], 0.99) * 1000

    def per_entry(part: list[Sample]) -> float:
        grown = part[-1].entries - part[0].entries
        return (part[-1].db_bytes - part[0].db_bytes) / grown if grown else float("nan")

    whole, bpe_mid, bpe_last = per_entry(samples), per_entry(middle), per_entry(last)
    growth = rss_last / rss_mid - 1
    return [
        ("memory", growth < 0.20, f"mean RSS {rss_mid / 1024:.1f} -> {rss_last / 1024:.1f} MB ({growth:+.1%}; < +20%)"),
        ("open files", fds_last - fds_mid < 10, f"max fds {fds_mid} -> {fds_last} (growth < 10)"),
        (
            "read latency",
            p99_last <= 2 * p99_mid or p99_last < 50,
            f"p99 {p99_mid:.1f} -> {p99_last:.1f} ms (within 2x, or under 50 ms)",
        ),
        (
            "database growth",
            0.5 <= bpe_last / bpe_mid <= 2.0 if bpe_mid > 0 else bpe_last >= 0,
            f"{bpe_mid:,.0f} -> {bpe_last:,.0f} bytes/entry (within 2x; whole run {whole:,.0f} bytes/entry, "
            f"{samples[-1].entries - samples[0].entries:,} entries)",
        ),
    ]


def run_soak(config: SoakConfig) -> SoakResult:
    system = load_system()
    with tempfile.TemporaryDirectory(prefix="tracseq-soak-") as tmp, system.Pager() as pager:
        folder = Path(tmp)
        stack = system.start_stack(folder / "hub", 1, config.workers, config.redis_url)
        try:
            lab = system.seed_lab(stack.hub, pager.url, samples=50)
            plan = system.EdgePlan(
                hub_url=stack.hub.url,
                admin_token=lab.token,
                folder=str(folder / "edges"),
                prefix="soak",
                edges=config.edges,
                channels=config.channels,
                period_s=config.period_s,
                speed=config.speed,
                seconds=config.real_seconds,
                warmup_s=0.0,
                drain_s=10.0,
                alarm_every_s=config.alarm_every,
                sequencer=True,
            )
            with system.edges_running(plan) as result:
                devices = httpx.get(
                    f"{stack.hub.url}/v1/devices", headers={"Authorization": f"Bearer {lab.token}"}, timeout=30
                ).json()
                first = next(d["id"] for d in devices if d["name"].startswith("soak-edge"))
                samples = asyncio.run(sample_loop(stack, lab.token, first, config.real_seconds, config.sample_every))
                edges = result()
        finally:
            stack.stop()
    return SoakResult(config, samples, edges, check(samples))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = SoakConfig()
    parser.add_argument("--edges", type=int, default=defaults.edges)
    parser.add_argument("--channels", type=int, default=defaults.channels)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="entries per real second, all edges")
    parser.add_argument("--sim-seconds", type=float, default=defaults.sim_seconds, help="lab time (default a week)")
    parser.add_argument("--real-seconds", type=float, default=defaults.real_seconds, help="wall time (max 1800)")
    parser.add_argument("--sample-every", type=float, default=defaults.sample_every)
    parser.add_argument("--alarm-every", type=float, default=defaults.alarm_every, help="real s between alarms")
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--redis-url", default=defaults.redis_url)
    args = parser.parse_args()
    config = SoakConfig(
        edges=args.edges,
        channels=args.channels,
        rate=args.rate,
        sim_seconds=args.sim_seconds,
        real_seconds=min(args.real_seconds, 1800.0),
        sample_every=args.sample_every,
        alarm_every=args.alarm_every,
        workers=args.workers,
        redis_url=args.redis_url,
    )
    result = run_soak(config)
    print(result.summary())
    return 1 if result.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
