"""Benchmark: the agent's resident memory while it polls 50 simulated Modbus freezers at 1 Hz.

    python bench/edge_memory.py [--devices 50] [--seconds 60]

Starts the freezer simulator and an agent (both as processes, as in production), samples the agent's RSS every
second and prints the peak and the last value, and what it wrote. Aim: under 80 MB. The baseline in the same run
is a bare Python interpreter that imported the same libraries (pymodbus, pydantic, cryptography) and does nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import entries, freezer_config, start_agent, start_simulator, stop_agent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def baseline_mb() -> float:
    code = (
        "import pymodbus.client, pydantic, cryptography.hazmat.primitives.asymmetric.ed25519, msgspec, sqlite3, time; "
        "time.sleep(3)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(2.5)
    value = rss_mb(proc.pid)
    proc.wait()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracseq-mem-") as tmp:
        folder = Path(tmp)
        sim = start_simulator(speed=1)
        config = freezer_config(
            folder,
            [(f"freezer-{i:02d}", sim.tcp_port) for i in range(args.devices)],
            poll_interval_s=1.0,
            checkpoint_interval_s=5.0,
        )
        agent = start_agent(config)
        samples: list[float] = []
        try:
            for _ in range(args.seconds):
                time.sleep(1)
                samples.append(rss_mb(agent.pid))
        finally:
            stop_agent(agent)
            sim.stop()
        log = entries(folder / "data" / "log.db")
    observations = sum(1 for e in log if e["kind"] == "observation")
    base = baseline_mb()
    print(f"devices polled          : {args.devices} at 1 Hz for {args.seconds} s ({observations:,} readings logged)")
    print(f"agent RSS peak / last   : {max(samples):.1f} MB / {samples[-1]:.1f} MB (aim: under 80 MB)")
    print(f"bare interpreter + libs : {base:.1f} MB (baseline, same run)")
    print(f"agent over baseline     : {max(samples) - base:.1f} MB; ratio {max(samples) / base:.2f}x")


if __name__ == "__main__":
    main()
