"""`make demo`: the system on its embedded default, on this machine.

Starts the hub (SQLite, in-process events) with a seeded lab and a user of each role, and one edge agent enrolled
at the hub with a simulator for every device family: a -80 °C freezer controller (Modbus TCP), a temperature
probe and an LN2 level sensor (serial ASCII on pseudo-terminals), room sensors (MQTT, when Mosquitto is installed)
and a MiSeq replaying a real run into a run folder. The agent logs everything into its signed log and syncs it to
the hub, which cosigns it. After a short while the freezer's compressor fails: the agent raises its high-temperature
alarm after the configured delay. On Ctrl-C (or after --seconds) everything stops cleanly; the log is exported and
verified with the hub's witness.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def show(status_path: Path, everything: bool = False) -> None:
    try:
        status = json.loads(status_path.read_text())
    except (OSError, json.JSONDecodeError):
        return
    if everything:
        for other in status["devices"][1:]:
            shown = ", ".join(f"{k} {v['value']} {v['unit']}".strip() for k, v in sorted(other["last_values"].items()))
            event = other.get("last_event") or {}
            shown = shown or (f"last event: {event['type']} {event['message']}" if event else "(no data yet)")
            print(f"  {other['device']:<11} {other['availability']:<11} {shown}", flush=True)
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


SHARED_RUN = ROOT.parent / "shared" / "data" / "illumina" / "130417_M00146_0021_000000000-A2WDF"

SERIAL_CONFIG = """
[[devices]]
id = "probe-01"
driver = "serial"
poll_interval_s = 2
mode = "request"
request = "T?\\r"
port = {{ port = "{probe}", baudrate = 9600 }}
checksum = {{ kind = "xor8" }}
[devices.channels]
kind = "regex"
pattern = '^T=(?P<temp>[-+]?[0-9]+[.][0-9]+) C$'
groups = {{ temp = {{ channel = "temp", unit = "Cel" }} }}

[[devices]]
id = "ln2-01"
driver = "serial"
poll_interval_s = 2
mode = "stream"
port = {{ port = "{ln2}", baudrate = 9600 }}
[devices.channels]
kind = "regex"
pattern = '^L=(?P<level>[0-9.]+);T=(?P<vapour>[-+]?[0-9.]+)$'
[devices.channels.groups]
level = {{ channel = "level", unit = "%" }}
vapour = {{ channel = "vapour_temp", unit = "Cel" }}
[devices.alarms.level]
limits = [{{ kind = "low", limit = "30", delay_s = 10, hysteresis = "2", severity = "alarm" }}]
"""

MQTT_CONFIG = """
[[devices]]
id = "ln2-room-1"
driver = "mqtt"
poll_interval_s = 1
broker = {{ host = "127.0.0.1", port = {port}, client_id = "demo-edge-ln2-room-1" }}
[[devices.subscriptions]]
topic = "lab/site-a/ln2-room-1/temperature"
timestamp = "$.ts"
mappings = [{{ path = "$.value", channel = "temperature", unit = "Cel", unit_path = "$.unit" }}]
[[devices.subscriptions]]
topic = "lab/site-a/ln2-room-1/o2"
timestamp = "$.ts"
mappings = [{{ path = "$.value", channel = "o2", unit = "%", unit_path = "$.unit", range = ["0", "25"] }}]
[devices.alarms.o2]
unit = "%"
limits = [{{ kind = "low", limit = "19.5", delay_s = 0, hysteresis = "0.3", severity = "alarm" }}]
"""

RUNFOLDER_CONFIG = """
[[devices]]
id = "miseq-01"
driver = "runfolder"
poll_interval_s = 2
watch_dir = "{runs}"
stall_after_s = 120
settle_s = 0.5
"""


def ready_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"a simulator did not start: {proc.args}")
    data: dict[str, Any] = json.loads(line)
    return data


def start(args: list[str], log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    _STARTED.append(proc)
    return proc


def start_sequencer(procs: list[subprocess.Popen[str]]) -> None:
    """Once the agent watches the folder, a MiSeq starts writing a run, in the order the instrument does."""
    if not SHARED_RUN.exists():
        return
    sequencer = start(
        [
            str(ROOT / "firmware-sim" / "sequencer" / "sim.py"),
            "--source",
            str(SHARED_RUN),
            "--out",
            str(OUT / "runs"),
            "--speed",
            "60",
            "--cycle-seconds",
            "30",
            "--startup-seconds",
            "60",
        ],
        OUT / "sequencer.log",
    )
    procs.append(sequencer)
    ready_line(sequencer)
    print(">>> the MiSeq starts a run", flush=True)


def start_other_families(procs: list[subprocess.Popen[str]]) -> str:
    """Serial, MQTT and run-folder simulators; returns their edge configuration (families that cannot run here
    are left out with a note)."""
    import shutil

    sims = ROOT / "firmware-sim"
    config = ""
    probe = start([str(sims / "serial" / "sim.py"), "--device", "probe", "--checksum", "xor8"], OUT / "probe.log")
    ln2 = start([str(sims / "serial" / "sim.py"), "--device", "ln2", "--interval", "2"], OUT / "ln2.log")
    procs += [probe, ln2]
    config += SERIAL_CONFIG.format(probe=ready_line(probe)["pty"], ln2=ready_line(ln2)["pty"])
    print("serial: a temperature probe (request/response, XOR checksum) and an LN2 level sensor (streaming) on ptys")
    if shutil.which("mosquitto"):
        broker = start(
            [str(sims / "mqtt" / "broker.py"), "--port", "0", "--data-dir", str(OUT / "mqtt")], OUT / "broker.log"
        )
        procs.append(broker)
        port = int(ready_line(broker)["port"])
        room = start(
            [str(sims / "mqtt" / "sim.py"), "--broker", f"127.0.0.1:{port}", "--interval", "2"], OUT / "room.log"
        )
        procs.append(room)
        ready_line(room)
        config += MQTT_CONFIG.format(port=port)
        print(f"mqtt: LN2 room sensors (temperature, O2) through Mosquitto on 127.0.0.1:{port}")
    else:
        print("mqtt: left out (install Mosquitto to see the MQTT room sensors: apt-get install mosquitto)")
    runs = OUT / "runs"
    if SHARED_RUN.exists():
        runs.mkdir(exist_ok=True)
        config += RUNFOLDER_CONFIG.format(runs=runs)
        print(f"sequencer: a MiSeq will replay a real run into {runs.relative_to(ROOT)} (about 2 minutes)")
    else:
        print(f"sequencer: left out ({SHARED_RUN} is not on this machine)")
    return config


DEMO_PASSWORD = "Demo-Lab-2026!"  # noqa: S105 - printed for demo users on this machine
ROLES = ["admin", "lab_manager", "technician", "scientist", "auditor", "facilities"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_hub(folder: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """The hub on SQLite, migrated and seeded: tenant demo-lab, one user per role, all with DEMO_PASSWORD."""
    import os
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TRACSEQ_HUB_ENVIRONMENT": "development",
        "TRACSEQ_HUB_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'hub.db'}",
        "TRACSEQ_HUB_AUDIT_KEY_FILE": str(folder / "audit.key"),
        "TRACSEQ_HUB_WITNESS_KEY_FILE": str(folder / "witness.key"),
        "DEMO_PASSWORD": DEMO_PASSWORD,
    }
    hub = [sys.executable, "-m", "protocol", "hub"]
    subprocess.run([*hub, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*hub, "create-tenant", "demo-lab", "--name", "Demo Genomics Lab"], env=env, check=True, capture_output=True
    )
    subprocess.run(
        [*hub, "create-admin", "demo-lab", "admin", "--display-name", "Ada Admin", "--password-env", "DEMO_PASSWORD"],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen([*hub, "serve", "--port", str(port)], env=env, stderr=(folder / "hub.log").open("w"))
    _STARTED.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()  # noqa: S310 - our own loopback hub
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the hub did not start; see {folder / 'hub.log'}") from None
            time.sleep(0.3)
    token = api(url, "POST", "/v1/auth/login", {"tenant": "demo-lab", "username": "admin", "password": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    names = {
        "lab_manager": "Lee Manager",
        "technician": "Tess Technician",
        "scientist": "Sam Scientist",
        "auditor": "Audrey Auditor",
        "facilities": "Felix Facilities",
    }
    for role, name in names.items():
        api(
            url,
            "POST",
            "/v1/users",
            {"username": role.replace("_", "-"), "display_name": name, "password": DEMO_PASSWORD, "role": role},
            headers,
        )
    return proc, url, headers


def api(url: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None) -> Any:
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - our own loopback hub
        url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


_STARTED: list[subprocess.Popen[Any]] = []


def main() -> None:
    try:
        run_demo()
    finally:  # whatever happened, leave no simulator, broker, agent or hub behind
        for proc in reversed(_STARTED):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def run_demo() -> None:
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
    _STARTED.append(sim)

    assert sim.stdout is not None
    ready = json.loads(sim.stdout.readline())
    port, control_port = (int(ready[k].rsplit(":", 1)[1]) for k in ("tcp", "control"))
    others: list[subprocess.Popen[str]] = []
    for folder in ("runs", "mqtt"):
        if (OUT / folder).exists():
            import shutil

            shutil.rmtree(OUT / folder)
    config = OUT / "edge.toml"
    config.write_text(CONFIG.format(port=port) + start_other_families(others), encoding="utf-8")
    hub_dir = OUT / "hub"
    if hub_dir.exists():
        import shutil

        shutil.rmtree(hub_dir)
    hub, hub_url, admin = start_hub(hub_dir)
    enrollment = api(hub_url, "POST", "/v1/devices/enrollment-tokens", None, admin)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "protocol",
            "edge",
            "enroll",
            "--config",
            str(config),
            "--hub",
            hub_url,
            "--token",
            enrollment["token"],
        ],
        check=True,
    )
    print(
        f"hub: {hub_url}  (API docs at {hub_url}/docs); tenant demo-lab, password {DEMO_PASSWORD!r} for users "
        + ", ".join(r.replace("_", "-") for r in ROLES)
    )
    print(f"freezer simulator on Modbus TCP 127.0.0.1:{port} (20x accelerated clock)")
    print(f"edge agent: tracseq edge run --config {config.relative_to(ROOT)}  (logs in {OUT.name}/agent.log)")
    log_file = (OUT / "agent.log").open("w")
    agent = subprocess.Popen(
        [sys.executable, "-m", "protocol", "edge", "run", "--config", str(config)], stderr=log_file
    )
    _STARTED.append(agent)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    failed = False
    sequencing = False
    print("live readings (Ctrl-C to stop):")
    while not stopping and agent.poll() is None:
        elapsed = time.monotonic() - started
        if not sequencing and elapsed >= 3:
            sequencing = True
            start_sequencer(others)
        if not failed and elapsed >= args.fail_after:
            print(">>> the compressor fails: the cabinet warms; the alarm waits out its 10 s delay", flush=True)
            control(control_port, {"fault": "compressor_failure"})
            failed = True
        show(data / "status.json", everything=int(elapsed) % 5 == 0)
        if int(elapsed) % 5 == 0:
            try:
                device = api(hub_url, "GET", "/v1/devices", None, admin)[0]
                print(
                    f"  hub holds {device['next_seq']} entries of this edge, cosigned up to {device['cosigned_size']}"
                )
            except (OSError, IndexError, ValueError):
                print("  hub: not answering")
        if args.seconds and elapsed >= args.seconds:
            break
        time.sleep(1)
    print("\nstopping: the agent signs its final checkpoint")
    agent.send_signal(signal.SIGTERM)
    agent.wait(30)
    sim.send_signal(signal.SIGTERM)
    sim.wait(10)
    for proc in others:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    hub.send_signal(signal.SIGTERM)
    hub.wait(30)
    log_file.close()
    export, trust = OUT / "freezer-log.jsonl.gz", OUT / "freezer-log.trust.json"
    tracseq("edge", "export", "--config", str(config), "--out", str(export))
    tracseq("edge", "trust", "--config", str(config), "--out", str(trust))
    code = tracseq("verify", str(export), "--trust", str(trust))
    print(f"\nverify exit code {code}. Status: tracseq edge status --config {config.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
