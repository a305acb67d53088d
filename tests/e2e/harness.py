"""Processes for end-to-end tests: the freezer simulator and the edge agent, started as a user would."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "firmware-sim" / "freezer" / "sim.py"


@dataclass
class Simulator:
    proc: subprocess.Popen[str]
    tcp_port: int
    control_port: int

    def control(self, command: dict[str, Any]) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as conn:
            conn.sendall(json.dumps(command).encode() + b"\n")
            reply = conn.makefile("r").readline()
        data: dict[str, Any] = json.loads(reply)
        return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_simulator(*args: str, speed: float = 1.0) -> Simulator:
    proc = subprocess.Popen(
        [sys.executable, str(SIM), "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0", "--speed", str(speed), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    return Simulator(proc, int(ready["tcp"].rsplit(":", 1)[1]), int(ready["control"].rsplit(":", 1)[1]))


def freezer_config(
    folder: Path,
    devices: list[tuple[str, int]],
    *,
    poll_interval_s: float = 0.5,
    high_delay_s: float = 3.0,
    door_inhibit_s: float = 30.0,
    checkpoint_interval_s: float = 1.0,
) -> Path:
    """An edge config polling one freezer (device id, TCP port) per entry, with a high alarm at -70 °C."""
    blocks = []
    for device_id, port in devices:
        blocks.append(
            f"""
[[devices]]
id = "{device_id}"
driver = "modbus"
poll_interval_s = {poll_interval_s}
connection = {{ transport = "tcp", host = "127.0.0.1", port = {port}, unit = 1, timeout_s = 1.0 }}
channels = [
  {{ name = "temp", table = "input", address = 0, data_type = "float32", unit = "Cel", precision = 2 }},
  {{ name = "door", table = "discrete", address = 0, data_type = "bool" }},
]
[devices.alarms.temp]
unit = "Cel"
limits = [{{ kind = "high", limit = "-70", delay_s = {high_delay_s}, hysteresis = "2", severity = "alarm" }}]
[devices.door]
door_channel = "door"
open_longer_than_s = 600
inhibit_s = {door_inhibit_s}
severity = "warning"
"""
        )
    config = folder / "edge.toml"
    config.write_text(
        f"""
[edge]
id = "e2e-host"
data_dir = "data"
checkpoint_interval_s = {checkpoint_interval_s}
flush_interval_s = 0.1
status_interval_s = 0.5
"""
        + "".join(blocks),
        encoding="utf-8",
    )
    return config


def tracseq(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "protocol", *map(str, args)], capture_output=True, text=True, check=check, timeout=120
    )


def start_agent(config: Path, log: Path | None = None) -> subprocess.Popen[str]:
    """``tracseq edge run``; its stderr is piped (read by ``stop_agent``), or appended to ``log`` for an agent that
    runs long enough to fill a pipe nobody reads."""
    sink = open(log, "a", encoding="utf-8") if log is not None else None  # noqa: SIM115 - the child holds it
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "protocol", "edge", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=sink if sink is not None else subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        if sink is not None:
            sink.close()


def stop_agent(proc: subprocess.Popen[str], timeout: float = 20) -> str:
    """SIGTERM and wait; what the agent wrote to a piped stderr ("" when it went to a log file)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout)
    return err or ""


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def entries(db: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Decoded entries of the store, read-only (the agent may be running)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT raw FROM entries ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    decoded = [json.loads(bytes(r[0])) for r in rows]
    return [e for e in decoded if kind is None or e["kind"] == kind]


def checkpoints(db: Path) -> list[tuple[int, bytes]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [(int(s), bytes(h)) for s, h in conn.execute("SELECT size, head FROM checkpoints ORDER BY size")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
