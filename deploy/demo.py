"""`make demo`: the system on its embedded default, on this machine.

Starts the hub (SQLite, in-process events) with a seeded lab and a user of each role, and one edge agent enrolled
at the hub with a simulator for every device family: a -80 °C freezer controller (Modbus TCP), a temperature
probe and an LN2 level sensor (serial ASCII on pseudo-terminals), room sensors (MQTT, when Mosquitto is installed)
and a MiSeq replaying a real run into a run folder. The lab is seeded over the hub's API (``demo_seed``): storage
units bound to the edge's channels, ~200 samples placed in them, a sequencing job planned on the replayed run's
flow cell, a webhook pager and an escalation policy. The agent logs everything into its signed log and syncs it
to the hub, which cosigns it. After a short while the freezer's compressor fails: the agent raises its
high-temperature alarm after the configured delay, the hub opens an alert and pages. On Ctrl-C (or after
--seconds) everything stops cleanly; the edge's log and the hub's audit trail are exported and verified.

``--scenario freezer-failure`` replays the story step by step instead (``demo_scenario``) and exits non-zero when
a step does not happen in time; with ``--seconds N`` it runs on quick clocks and within N seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from demo_scenario import QUICK, WATCHABLE, FreezerFailure, Interrupted, Pace, Pager, restart_clock, say
from demo_seed import PASSWORD, PEOPLE, TENANT, DemoError, Lab, create_people, describe, seed

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-out"  # --out changes it
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
poll_interval_s = {poll}
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
  {{ kind = "high", limit = "-70", delay_s = {high_delay}, hysteresis = "2", severity = "alarm" }},
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


def illumina_data() -> Path:
    """The real run folders: beside the checkout (``../shared``), else ``TRACSEQ_ILLUMINA_DATA``, else the
    workplace's copy."""
    beside = ROOT.parent / "shared" / "data" / "illumina"
    if beside.is_dir():
        return beside
    return Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))


SHARED_RUN = illumina_data() / "130417_M00146_0021_000000000-A2WDF"

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
poll_interval_s = {poll}
watch_dir = "{runs}"
stall_after_s = 120
settle_s = 0.5
"""


def ready_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise DemoError(f"a simulator did not start: {proc.args!r}")
    data: dict[str, Any] = json.loads(line)
    return data


def start(args: list[str], log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    _STARTED.append(proc)
    return proc


def start_sequencer(procs: list[subprocess.Popen[str]], pace: Pace) -> None:
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
            str(pace.sequencer_speed),
            "--cycle-seconds",
            "30",
            "--startup-seconds",
            "60",
        ],
        OUT / "sequencer.log",
    )
    procs.append(sequencer)
    ready_line(sequencer)
    say(f"the MiSeq starts run {SHARED_RUN.name}")


def watcher_ready(status_path: Path) -> bool:
    """The run-folder watcher has looked at the empty output directory: a run that appears now is reported from
    its start."""
    try:
        status = json.loads(status_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(d.get("device") == "miseq-01" and d.get("last_ok") for d in status.get("devices", []))


def start_other_families(procs: list[subprocess.Popen[str]], pace: Pace) -> str:
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
        config += RUNFOLDER_CONFIG.format(runs=runs, poll=pace.poll_s)
        print(f"sequencer: a MiSeq will replay a real run into {runs} (about {pace.run_s():.0f} s)")
    else:
        print(f"sequencer: left out ({SHARED_RUN} is not on this machine)")
    return config


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# One process for the three set-up commands (`tracseq hub migrate`, `create-tenant`, `create-admin`): each
# `tracseq hub` command imports the whole hub, which takes seconds on a small machine.
PREPARE_HUB = f"""
from hub.cli import create_admin, create_tenant, migrate
migrate("head")
create_tenant({TENANT!r}, name="Demo Genomics Lab")
create_admin({TENANT!r}, "admin", display_name={PEOPLE["admin"][1]!r}, password_env="DEMO_PASSWORD")
"""


def start_hub(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The hub on SQLite, migrated, with tenant demo-lab and its admin; serving on a free loopback port."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TRACSEQ_HUB_ENVIRONMENT": "development",
        "TRACSEQ_HUB_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'hub.db'}",
        "TRACSEQ_HUB_AUDIT_KEY_FILE": str(folder / "audit.key"),
        "TRACSEQ_HUB_WITNESS_KEY_FILE": str(folder / "witness.key"),
        "DEMO_PASSWORD": PASSWORD,
    }
    prepared = subprocess.run([sys.executable, "-c", PREPARE_HUB], env=env, capture_output=True, text=True)
    if prepared.returncode != 0:
        raise DemoError(f"the hub could not be set up:\n{prepared.stderr[-2000:]}")
    port = free_port()
    hub = [sys.executable, "-m", "protocol", "hub", "serve", "--port", str(port)]
    proc = subprocess.Popen(hub, env=env, stderr=(folder / "hub.log").open("w"))
    _STARTED.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()  # noqa: S310 - our own loopback hub
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise DemoError(f"the hub did not start; see {folder / 'hub.log'}") from None
            time.sleep(0.3)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own loopback hub
            return bool(response.status == 200)
    except OSError:
        return False


def print_logins(url: str) -> None:
    print(f"\nhub: {url}   API docs: {url}/docs", end="")
    print(f"   pages: {url}/ui" if answers(url + "/ui/login") else "", flush=True)
    print(f"demo logins (password {PASSWORD!r} for everyone):")
    print(f"  {'tenant':<10} {'username':<12} role")
    for username, (role, name) in PEOPLE.items():
        print(f"  {TENANT:<10} {username:<12} {role:<12} {name}")
    print(flush=True)


_STARTED: list[subprocess.Popen[Any]] = []


def main() -> None:
    args = parse_args()
    global OUT
    OUT = args.out.resolve()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM before the loop: clean up as for Ctrl-C
    code = 1
    try:
        code = run_demo(args)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", flush=True)
        code = 130
    except DemoError as exc:
        print(f"\n{exc}", flush=True)
    finally:  # whatever happened, leave no simulator, broker, agent or hub behind
        for proc in reversed(_STARTED):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    sys.exit(code)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop by itself after this long (0: on Ctrl-C); with --scenario: "
        "quick clocks, and the scenario must finish within this long",
    )
    parser.add_argument("--fail-after", type=float, default=15, help="seconds until the compressor fails")
    parser.add_argument("--scenario", choices=["freezer-failure"], help="replay a scripted scenario, then stop")
    parser.add_argument("--out", type=Path, default=OUT, help="where the demo keeps its data and logs")
    return parser.parse_args()


def run_demo(args: argparse.Namespace) -> int:
    import shutil

    pace = QUICK if args.scenario and args.seconds else WATCHABLE
    OUT.mkdir(parents=True, exist_ok=True)
    for folder in ("edge-data", "runs", "mqtt", "hub"):
        if (OUT / folder).exists():
            shutil.rmtree(OUT / folder)
    data = OUT / "edge-data"
    sim = start(
        [str(SIM), "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0", "--speed", str(pace.freezer_speed)],
        OUT / "simulator.log",
    )
    ready = ready_line(sim)
    port, control_port = (int(ready[k].rsplit(":", 1)[1]) for k in ("tcp", "control"))
    others: list[subprocess.Popen[str]] = []
    config = OUT / "edge.toml"
    families = start_other_families(others, pace)
    config.write_text(
        CONFIG.format(port=port, poll=pace.poll_s, high_delay=pace.high_delay_s) + families, encoding="utf-8"
    )
    print("hub: migrating a new SQLite database, creating tenant demo-lab and its admin, starting", flush=True)
    hub, hub_url = start_hub(OUT / "hub")
    people = create_people(hub_url)
    enrollment = people["admin"].post("/v1/devices/enrollment-tokens")
    enroll = [sys.executable, "-m", "protocol", "edge", "enroll", "--config", str(config), "--hub", hub_url]
    subprocess.run([*enroll, "--token", enrollment["token"]], check=True)
    device_id = json.loads((data / "hub.json").read_text())["device_id"]
    code = 0
    with Pager() as pager:
        print("seeding the lab over the hub's API, as its people would:", flush=True)
        run_folder = SHARED_RUN if SHARED_RUN.exists() else None
        lab = seed(hub_url, people, device_id, pager.url, run_folder, pace.tiers_s)
        for line in describe(lab):
            print(f"  {line}")
        print_logins(hub_url)
        print(f"freezer simulator on Modbus TCP 127.0.0.1:{port} ({pace.freezer_speed:g}x accelerated clock)")
        print(f"edge agent: tracseq edge run --config {config}  (logs in {OUT}/agent.log)", flush=True)
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
        restart_clock()
        if args.scenario:
            code = scenario(args, lab, pager, pace, data, others, control_port, lambda: stopping)
        else:
            live(args, lab, data, others, control_port, lambda: stopping)
        audit = export_audit(lab)
    print("\nstopping: the agent signs its final checkpoint", flush=True)
    agent.send_signal(signal.SIGTERM)
    agent.wait(30)
    sim.send_signal(signal.SIGTERM)
    sim.wait(10)
    for proc in others:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    hub.send_signal(signal.SIGTERM)
    hub.wait(30)
    log_file.close()
    export, trust = OUT / "freezer-log.jsonl.gz", OUT / "freezer-log.trust.json"
    tracseq("edge", "export", "--config", str(config), "--out", str(export))
    tracseq("edge", "trust", "--config", str(config), "--out", str(trust))
    edge_code = tracseq("verify", str(export), "--trust", str(trust))
    print(f"\nedge log: verify exit code {edge_code}. Status: tracseq edge status --config {config}")
    audit_code = tracseq("verify", str(audit[0]), "--trust", str(audit[1])) if audit else 3
    print(f"\nhub audit trail: verify exit code {audit_code}" if audit else "hub audit trail: not verified", flush=True)
    if edge_code == 0 and audit_code == 0:
        print("verify OK: the edge's log and the hub's audit trail are intact")
    return code or (1 if edge_code or audit_code else 0)


def export_audit(lab: Lab) -> tuple[Path, Path] | None:
    """The hub's audit trail and its trust file, downloaded by the auditor while the hub runs."""
    export, trust = OUT / "hub-audit.jsonl", OUT / "hub-audit.trust.json"
    try:
        export.write_bytes(lab["auditor"].download("/v1/audit/export"))
        trust.write_bytes(lab["auditor"].download("/v1/audit/trust"))
    except (OSError, DemoError) as exc:
        print(f"hub audit trail: not exported ({exc})", flush=True)
        return None
    print(f"\nauditor: exported the hub's audit trail to {export} and its trust file", flush=True)
    return export, trust


def await_watcher(data: Path, others: list[subprocess.Popen[str]], pace: Pace) -> None:
    deadline = time.monotonic() + 30
    while not watcher_ready(data / "status.json") and time.monotonic() < deadline:
        time.sleep(0.2)
    start_sequencer(others, pace)


def scenario(
    args: argparse.Namespace,
    lab: Lab,
    pager: Pager,
    pace: Pace,
    data: Path,
    others: list[subprocess.Popen[str]],
    control_port: int,
    stopping: Any,
) -> int:
    say(
        "scenario freezer-failure: a freezer fails, the alert escalates, someone acknowledges it, samples are put "
        "on hold, a run completes"
    )
    await_watcher(data, others, pace)
    steps = FreezerFailure(
        lab,
        pager,
        pace,
        inject=lambda: control(control_port, {"fault": "compressor_failure"}),
        stopping=stopping,
        budget_s=args.seconds or None,
    )
    try:
        steps.run()
        code = 0
    except Interrupted as exc:
        say(str(exc))
        code = 130
    except DemoError as exc:
        say(str(exc))
        code = 1
    print("\nsummary:")
    for line in steps.outcome.summary(lab):
        print(f"  {line}")
    verdict = {0: "OK", 130: "INTERRUPTED"}.get(code, "FAILED")
    print(f"  scenario             {verdict}", flush=True)
    return code


def live(
    args: argparse.Namespace,
    lab: Lab,
    data: Path,
    others: list[subprocess.Popen[str]],
    control_port: int,
    stopping: Any,
) -> None:
    """Live readings until Ctrl-C (or --seconds): the compressor fails after --fail-after seconds."""
    started = time.monotonic()
    failed = False
    sequencing = False
    print("live readings (Ctrl-C to stop):")
    while not stopping():
        elapsed = time.monotonic() - started
        if not sequencing and (watcher_ready(data / "status.json") or elapsed >= 10):
            sequencing = True
            start_sequencer(others, WATCHABLE)
        if not failed and elapsed >= args.fail_after:
            print(">>> the compressor fails: the cabinet warms; the alarm waits out its 10 s delay", flush=True)
            control(control_port, {"fault": "compressor_failure"})
            failed = True
        show(data / "status.json", everything=int(elapsed) % 5 == 0)
        if int(elapsed) % 5 == 0:
            print(f"  {hub_line(lab)}", flush=True)
        if args.seconds and elapsed >= args.seconds:
            break
        time.sleep(1)


def hub_line(lab: Lab) -> str:
    """What the hub holds: the edge's log, open alerts, the sequencing job."""
    try:
        device = next(d for d in lab["admin"].get("/v1/devices") if d["id"] == lab.device_id)
        alerts = lab["admin"].get("/v1/alerts?open=true")
        job = lab["admin"].get(f"/v1/sequencing/jobs/{lab.job_id}")["state"] if lab.job_id else "-"
    except (OSError, DemoError, StopIteration):
        return "hub: not answering"
    shown = ", ".join(f"{a['kind']} ({a['severity']}) {a['state']}" for a in alerts) or "none"
    return (
        f"hub holds {device['next_seq']} entries of this edge, cosigned up to {device['cosigned_size']} | "
        f"alerts: {shown} | job {job}"
    )


if __name__ == "__main__":
    main()
