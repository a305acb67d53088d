"""The edge's wall clock jumps 2 days forward, then to an hour behind, then drifts, while it logs and syncs to a hub
(SQLite) as processes. Order is by seq, so the log stays contiguous; ``tracseq verify --strict`` names the backwards
step and the future-dated entries while the default pass accepts the chain; the hub flags the batches
(``integrity.clock``: ``future``, ``before_beacon``) and still stores every entry.

The faults come from ``TRACSEQ_EDGE_CLOCK_SCRIPT`` (edge/clockfaults.py), allowed by
``TRACSEQ_EDGE_ALLOW_CLOCK_FAULTS=1``; the phase lengths are tunable with TRACSEQ_CLOCK_PHASE_S (default 3).
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.clockfaults import ALLOW_ENV, SCRIPT_ENV
from edge.store import export_log
from edge.uplink import HubLink
from protocol import Trust, VerifierKey
from tests.e2e.harness import start_simulator, stop_agent, wait_for
from tests.e2e.hub_harness import Hub
from tests.e2e.test_sync import Edge, published, wait_caught_up

pytestmark = pytest.mark.e2e

PHASE_S = float(os.environ.get("TRACSEQ_CLOCK_PHASE_S", "3"))
JUMP_AHEAD_S = 172_800.0  # +2 days
JUMP_BEHIND_S = -3_600.0  # -1 hour
DRIFT = 0.5  # seconds gained per second
SCRIPT = f"0:+0,{PHASE_S:g}:+{JUMP_AHEAD_S:g},{2 * PHASE_S:g}:{JUMP_BEHIND_S:g},{3 * PHASE_S:g}:drift=+{DRIFT:g}"
SKEW = timedelta(minutes=5)  # the verifier's and the hub's allowance for a clock running a little ahead


@dataclass
class SqliteDb:
    path: Path

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    folder = tmp_path / "hub"
    server = Hub(SqliteDb(folder / "hub.db"), folder)  # type: ignore[arg-type]
    try:
        server.migrate()
        server.seed({"time-lab": "ana"})
        server.start()
        yield server
    finally:
        server.stop()


def run_agent(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "protocol", "edge", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )


def log_entries(db: Path, ends_only: bool = False) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    query = "SELECT seq, raw FROM entries ORDER BY seq"
    if ends_only:
        query = (
            "SELECT * FROM (SELECT seq, raw FROM entries ORDER BY seq LIMIT 1) UNION ALL "
            "SELECT * FROM (SELECT seq, raw FROM entries ORDER BY seq DESC LIMIT 1)"
        )
    try:
        rows = conn.execute(query).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [json.loads(bytes(raw)) for _, raw in rows]


def stamp(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))


def offset_s(entry: dict[str, Any], origin: dict[str, Any]) -> float:
    """How far the entry's wall time moved against its monotonic time, since ``origin`` (both from one boot)."""
    wall = (stamp(entry) - stamp(origin)).total_seconds()
    return wall - (int(entry["mono"]) - int(origin["mono"])) / 1e9


def run_all(*commands: tuple[str | Path, ...]) -> list[subprocess.CompletedProcess[str]]:
    """``tracseq`` commands side by side (each start costs seconds on a loaded machine)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "protocol", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    done = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess([str(a) for a in args], proc.returncode, out, err))
    return done


def hub_entries(hub: Hub, device_id: str) -> list[int]:
    conn = sqlite3.connect(f"file:{hub.db.path}?mode=ro", uri=True)  # type: ignore[attr-defined]
    try:
        rows = conn.execute("SELECT seq FROM device_entries WHERE device_id = ? ORDER BY seq", (device_id,))
        return [int(seq) for (seq,) in rows.fetchall()]
    finally:
        conn.close()


def test_a_clock_script_is_refused_unless_clock_faults_are_allowed(tmp_path: Path) -> None:
    edge = Edge(tmp_path, "refused")
    agent = run_agent(edge.quiet, {SCRIPT_ENV: SCRIPT})
    _, err = agent.communicate(timeout=60)
    assert agent.returncode == 2, err
    assert f"error: {SCRIPT_ENV} is set, but clock faults are for development and tests only" in err
    assert f"set {ALLOW_ENV}=1" in err
    assert not edge.db.exists(), "nothing is logged with a refused clock"


def test_clock_jumps_and_drift_keep_seq_order_and_are_flagged_by_verify_and_the_hub(hub: Hub, tmp_path: Path) -> None:
    began = time.monotonic()
    laps: dict[str, float] = {}
    admin = hub.login("time-lab", "ana")
    sim = start_simulator(speed=5)
    edge = Edge(tmp_path / "edge", "clock", sim.tcp_port, devices=2)  # 50 ms polls: about 80 entries a second
    agent = quiet = None
    try:
        device_id = edge.enroll(hub, admin)
        agent = run_agent(edge.config, {SCRIPT_ENV: SCRIPT, ALLOW_ENV: "1"})

        def through_the_drift() -> bool:
            log = log_entries(edge.db, ends_only=True)
            return bool(log) and (log[-1]["mono"] - log[0]["mono"]) / 1e9 >= 4 * PHASE_S

        wait_for(through_the_drift, 20 * PHASE_S, "the agent to run through every step of the clock script")
        laps["faulted_run_done"] = time.monotonic() - began
        err = stop_agent(agent)
        assert agent.returncode == 0, err
        assert "the wall clock is faulted for testing" in err
        quiet = run_agent(edge.quiet, {})  # the true clock again, no devices: the uplink drains the log
        n = wait_caught_up(hub, admin, edge, device_id, 60)
        laps["hub_caught_up"] = time.monotonic() - began
        clock_events = published(hub, admin, "integrity.clock", device_id, 1)
        flags = {flag for event in clock_events for flag in event["payload"]["flags"]}
        if not {"future", "before_beacon"} <= flags:  # one batch may carry both; wait for the later batches too
            clock_events = published(hub, admin, "integrity.clock", device_id, 2)
            flags = {flag for event in clock_events for flag in event["payload"]["flags"]}
        err = stop_agent(quiet)
        assert quiet.returncode == 0, err
    finally:
        for proc in (agent, quiet):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        sim.stop()

    laps["quiet_stopped"] = time.monotonic() - began
    log = log_entries(edge.db)
    assert [e["seq"] for e in log] == list(range(len(log))), "the edge log's seqs are contiguous: order is by seq"
    assert hub_entries(hub, device_id) == list(range(n)), "the hub stored every entry 0..n-1 once"
    assert all(e["payload"].get("type") == "agent_stopped" for e in log[n:]), "only the last stop is unsent"
    assert flags == {"future", "before_beacon"}, clock_events

    # the faulted run ends where the quiet agent starts; against its own first entry (logged in the script's
    # first step), each entry's offset says which step of the script it saw
    starts = [i for i, e in enumerate(log) if e["payload"].get("type") == "agent_started"]
    assert len(starts) == 2, starts
    offsets = [(e, offset_s(e, log[0])) for e in log[: starts[1]]]
    ahead = [e for e, o in offsets if abs(o - JUMP_AHEAD_S) < 2]
    behind = [(e, o) for e, o in offsets if JUMP_BEHIND_S - 2 < o < JUMP_BEHIND_S / 2]
    assert len(ahead) + len(behind) + sum(1 for _, o in offsets if abs(o) < 2) == len(offsets), "no other offset"
    assert len(ahead) > 20, "the agent logged through the jump ahead"
    assert len(behind) > 20, "the agent logged through the jump behind"
    drifting = [(e, o) for e, o in behind if o > JUMP_BEHIND_S + 0.5]
    first, last = drifting[0], drifting[-1]
    rate = (last[1] - first[1]) / ((last[0]["mono"] - first[0]["mono"]) / 1e9)
    assert rate == pytest.approx(DRIFT, abs=0.1), "the clock gained 0.5 s per second in the drift phase"

    now = datetime.now(UTC)
    future = [e for e in log if stamp(e) > now + SKEW]
    assert future == ahead, "exactly the entries of the +2 days step are in the future"
    backwards = [b for a, b in itertools.pairwise(log) if b["ts"] < a["ts"]]
    assert len(backwards) == 1, [(e["seq"], e["ts"]) for e in backwards]
    assert backwards[0]["seq"] == ahead[-1]["seq"] + 1, "the step back is right after the last entry ahead"

    export, trust = tmp_path / "log.jsonl", tmp_path / "trust.json"
    # the export and trust file `tracseq edge export` and `tracseq edge trust` write, made in this process
    export_log(edge.db, export)
    link = HubLink.load(edge.data)
    assert link is not None
    keys = Trust(log_keys=(edge.key().verifier,), witness_keys=(VerifierKey.parse(link.witness_key),))
    trust.write_text(keys.to_json() + "\n", encoding="utf-8")
    default, strict = run_all(("verify", export, "--trust", trust), ("verify", export, "--trust", trust, "--strict"))
    assert default.returncode == 0, default.stdout + default.stderr
    assert default.stdout.startswith(f"OK: {export} verified"), default.stdout
    laps["verified"] = time.monotonic() - began
    assert strict.returncode == 0, strict.stdout + strict.stderr  # time faults are warnings, not a broken chain
    assert strict.stdout.startswith(f"OK: {export} verified"), strict.stdout
    warnings = [line.split("warning", 1)[1].strip() for line in strict.stdout.splitlines() if "  warning  " in line]
    assert f"the clock went backwards at seq {backwards[0]['seq']} (order is by seq)" in warnings, strict.stdout
    assert f"seq {future[0]['seq']} is stamped in the future ({future[0]['ts']})" in warnings, strict.stdout
    assert f"{len(future)} entries are stamped in the future" in warnings, strict.stdout
    assert not any("went backwards" in w and "times in all" in w for w in warnings), "one backwards step only"
    print(
        "CLOCK FIGURES",
        json.dumps(
            {
                "script": SCRIPT,
                "entries": len(log),
                "hub_entries": n,
                "future": len(future),
                "backwards_at": backwards[0]["seq"],
                "drift_rate": round(rate, 3),
                "hub_flags": sorted(flags),
                "integrity_clock_events": len(clock_events),
                "seconds": {k: round(v, 1) for k, v in laps.items()},
            }
        ),
    )
