"""`make demo`: the system on its embedded default, on this machine.

Starts a simulated -80 °C freezer (Modbus TCP) and an edge agent that polls it into its signed log, and shows
live readings and alarms. After a short while the freezer's compressor fails: the temperature rises, and the
agent raises its high-temperature alarm after the configured delay, with no network. On Ctrl-C (or after
--seconds) everything stops cleanly, the log is exported and verified as an auditor would.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-out"
SIM = ROOT / "firmware-sim" / "freezer" / "sim.py"

CONFIG = """
[edge]
id = "demo-freezer-host"
data_dir = "edge-data"
checkpoint_interval_s = 2
status_interval_s = 0.5

[[devices]]
id = "freezer-01"
driver = "modbus"
poll_interval_s = 1
connection = {{ transport = "tcp", host = "127.0.0.1", port = {port}, unit = 1, timeout_s = 1.0 }}
channels = [
  {{ name = "temp", table = "input", address = 0, data_type = "float32", unit = "Cel", precision = 2 }},
  {{ name = "duty", table = "input", address = 4, data_type = "uint16", unit = "%" }},
  {{ name = "door", table = "discrete", address = 0, data_type = "bool" }},
  {{ name = "compressor", table = "discrete", address = 1, data_type = "bool" }},
]
[devices.alarms.temp]
unit = "Cel"
limits = [
  {{ kind = "high", limit = "-70", delay_s = 10, hysteresis = "2", severity = "alarm" }},
  {{ kind = "high_high", limit = "-60", delay_s = 5, hysteresis = "2", severity = "critical" }},
]
offline = {{ after_s = 30, severity = "alarm" }}
[devices.door]
door_channel = "door"
open_longer_than_s = 60
inhibit_s = 120
severity = "warning"
"""


def tracseq(*args: str) -> int:
    print(f"\n$ tracseq {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "protocol", *args], check=False).returncode


def control(port: int, command: dict[str, str]) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(json.dumps(command).encode() + b"\n")
        conn.makefile("r").readline()


def show(status_path: Path) -> None:
    try:
        status = json.loads(status_path.read_text())
    except (OSError, json.JSONDecodeError):
        return
    device = status["devices"][0]
    values = device["last_values"]
    temp = values.get("temp", {}).get("value") or "-"
    alarms = ", ".join(f"{a['alarm_id']} ({a['severity']})" for a in status["alarms"]) or "none"
    print(
        f"  freezer-01 {device['availability']:<11} temp {temp:>7} °C  compressor "
        f"{values.get('compressor', {}).get('value', '-')}  door {values.get('door', {}).get('value', '-')}  | "
        f"log {status['log']['next_seq']:>5} entries, signed to {status['log']['checkpoint_size']:>5} | "
        f"alarms: {alarms}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0, help="stop by itself after this long (0: on Ctrl-C)")
    parser.add_argument("--fail-after", type=float, default=15, help="seconds until the compressor fails")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    data = OUT / "edge-data"
    if data.exists():
        import shutil

        shutil.rmtree(data)
    sim = subprocess.Popen(
        [sys.executable, str(SIM), "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0", "--speed", "20"],
        stdout=subprocess.PIPE,
        stderr=(OUT / "simulator.log").open("w"),
        text=True,
    )
    assert sim.stdout is not None
    ready = json.loads(sim.stdout.readline())
    port, control_port = (int(ready[k].rsplit(":", 1)[1]) for k in ("tcp", "control"))
    config = OUT / "edge.toml"
    config.write_text(CONFIG.format(port=port), encoding="utf-8")
    print(f"freezer simulator on Modbus TCP 127.0.0.1:{port} (20x accelerated clock)")
    print(f"edge agent: tracseq edge run --config {config.relative_to(ROOT)}  (logs in {OUT.name}/agent.log)")
    log_file = (OUT / "agent.log").open("w")
    agent = subprocess.Popen(
        [sys.executable, "-m", "protocol", "edge", "run", "--config", str(config)], stderr=log_file
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    failed = False
    print("live readings (Ctrl-C to stop):")
    while not stopping and agent.poll() is None:
        elapsed = time.monotonic() - started
        if not failed and elapsed >= args.fail_after:
            print(">>> the compressor fails: the cabinet warms; the alarm waits out its 10 s delay", flush=True)
            control(control_port, {"fault": "compressor_failure"})
            failed = True
        show(data / "status.json")
        if args.seconds and elapsed >= args.seconds:
            break
        time.sleep(1)
    print("\nstopping: the agent signs its final checkpoint")
    agent.send_signal(signal.SIGTERM)
    agent.wait(30)
    sim.send_signal(signal.SIGTERM)
    sim.wait(10)
    log_file.close()
    export, trust = OUT / "freezer-log.jsonl.gz", OUT / "freezer-log.trust.json"
    tracseq("edge", "export", "--config", str(config), "--out", str(export))
    tracseq("edge", "trust", "--config", str(config), "--out", str(trust))
    code = tracseq("verify", str(export), "--trust", str(trust))
    print(f"\nverify exit code {code}. Status: tracseq edge status --config {config.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
