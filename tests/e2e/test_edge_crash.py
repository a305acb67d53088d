"""kill -9 the agent at random moments during heavy appends, over and over: it resumes, the log verifies, and no
entry a signed checkpoint covered is ever lost."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.harness import (
    checkpoints,
    entries,
    freezer_config,
    start_agent,
    start_simulator,
    stop_agent,
    tracseq,
    wait_for,
)

pytestmark = pytest.mark.e2e

KILLS = int(os.environ.get("TRACSEQ_CRASH_KILLS", "20"))


def test_kill_9_at_random_moments_loses_nothing_that_was_signed(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("TRACSEQ_CRASH_SEED", "11")))
    sim = start_simulator(speed=5)
    devices = [(f"freezer-{i:02d}", sim.tcp_port) for i in range(20)]
    config = freezer_config(tmp_path, devices, poll_interval_s=0.05, checkpoint_interval_s=0.5)
    db = tmp_path / "data" / "log.db"
    signed: dict[int, bytes] = {}
    try:
        for round_no in range(KILLS):
            before = len(entries(db))
            agent = start_agent(config)
            wait_for(lambda before=before: len(entries(db)) > before + 50, 30, f"appends in round {round_no}")
            time.sleep(rng.uniform(0.0, 1.5))
            signed.update(checkpoints(db))  # everything signed so far must survive the kill
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
            assert agent.stderr is not None
            agent.stderr.close()
            after = {e["seq"]: e for e in entries(db)}
            for size in signed:
                assert size - 1 in after or size == 0, f"round {round_no}: entry {size - 1} was signed and is gone"
        starts = len([e for e in entries(db) if e["kind"] == "event" and e["payload"]["type"] == "agent_started"])
        final = start_agent(config)
        wait_for(
            lambda: (
                len([e for e in entries(db) if e["kind"] == "event" and e["payload"]["type"] == "agent_started"])
                > starts
            ),
            60,
            "the final run to start (it checks the whole chain first)",
        )
        time.sleep(1)
        err = stop_agent(final)
        assert final.returncode == 0, err
    finally:
        sim.stop()
    log = entries(db)
    assert [e["seq"] for e in log] == list(range(len(log)))
    unclean = [
        e
        for e in log
        if e["kind"] == "event"
        and e["payload"]["type"] == "agent_started"
        and not e["payload"]["attrs"]["clean_previous_stop"]
    ]
    assert len(unclean) == KILLS  # every restart after a kill said so in the log
    final_checkpoints = dict(checkpoints(db))
    for size, head in signed.items():
        assert final_checkpoints.get(size) == head, f"the checkpoint at size {size} changed"
    export, trust = tmp_path / "log.jsonl", tmp_path / "trust.json"
    assert tracseq("edge", "export", "--config", config, "--out", export).returncode == 0
    assert tracseq("edge", "trust", "--config", config, "--out", trust).returncode == 0
    verified = tracseq("verify", export, "--trust", trust)
    assert verified.returncode == 0, verified.stdout
    print(
        f"\nEDGE CRASH FIGURES {KILLS} kills: {len(log):,} entries, seqs contiguous; {len(signed):,} checkpoints seen"
        f" before kills, all still there with the same head; {len(unclean)} unclean starts logged; export verifies"
    )
