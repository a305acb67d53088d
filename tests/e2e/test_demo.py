"""`python deploy/demo.py --scenario freezer-failure --seconds N`, as CI runs it: the hub on SQLite, an enrolled
edge agent, every simulator, the lab seeded over the API; then a freezer fails, the alert fires and escalates tier
by tier, facilities acknowledge it, the unit's samples go on hold and the MiSeq run completes its job. The demo
must exit 0 having printed each step as it observed it and verified both logs, and leave no process behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "demo.py"
_BESIDE = ROOT.parent / "shared" / "data" / "illumina"
_DATA = _BESIDE if _BESIDE.is_dir() else Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
RUN = _DATA / "130417_M00146_0021_000000000-A2WDF"
BUDGET_S = 60  # the scenario's own deadline, from the fault to the job's completion
TIMEOUT_S = 240  # the whole demo, start-up and shut-down included (about 65 s on an idle 2-core machine)

# each step, as the demo prints it when the hub's API (or the pager) shows it
STEPS = [
    r"\] FAULT: the ULT-01 compressor fails",
    r"\] alert fired: high freezer-01/temp on ULT-01, -?[0-9.]+ °C beyond -70 °C \(alarm; alert [0-9a-f-]{36}\)",
    r"\] excursion opened on ULT-01: 120 samples inside",
    r"\]   pager ← facilities: ",
    r"\] escalated to tier 1 \(facilities on call\): Felix Facilities",
    r"\]   pager ← lab-manager: .*Not acknowledged \(step 2\)",
    r"\] escalated to tier 2 \(lab manager\): Lee Manager",
    r"\] acknowledged by user:facilities: 'compressor tripped",
    r"\] samples held: 120 of ULT-01's samples on hold \(all the excursion exposed\)",
    r"\] sequencing: job sequencing, run 130417_M00146_0021_000000000-A2WDF running",
    r"\] job completed: run 130417_M00146_0021_000000000-A2WDF \(242 cycles\) completed; 12 of 12 libraries",
    r"scenario +OK",
    r"OK: \S+freezer-log.jsonl.gz verified",
    r"OK: \S+hub-audit.jsonl verified",
    r"verify OK: the edge's log and the hub's audit trail are intact",
]


def session_members(session: int) -> list[str]:
    """Every live process of a session, as "pid command line" (a zombie shows its name in brackets)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session:
            found.append(f"{entry.name} {command or stat[: stat.rindex(')') + 1]}")
    return found


def test_the_freezer_failure_scenario_fires_escalates_is_acknowledged_holds_and_completes_the_job(
    tmp_path: Path,
) -> None:
    if not RUN.is_dir():
        pytest.skip(f"the MiSeq run the demo replays is not on this machine: {RUN}")
    out = tmp_path / "demo"
    command = [sys.executable, str(DEMO), "--scenario", "freezer-failure", "--seconds", str(BUDGET_S)]
    started = time.monotonic()
    # its own session: every process the demo starts stays in it, so what is left afterwards is easy to find
    demo = subprocess.Popen(
        [*command, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = demo.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        output, _ = demo.communicate()
        pytest.fail(f"the demo did not finish within {TIMEOUT_S} s:\n{output}")
    elapsed = time.monotonic() - started
    leftovers = session_members(demo.pid)
    if leftovers:
        os.killpg(demo.pid, signal.SIGKILL)
    print(f"demo took {elapsed:.1f} s")

    assert demo.returncode == 0, output
    found = {step: re.search(step, output) for step in STEPS}
    missing = [step for step, match in found.items() if match is None]
    assert not missing, f"not in the output: {missing}\n{output}"
    # the story's steps in order (pages and the run's progress interleave with them)
    story = [m.start() for step, m in found.items() if m is not None and not re.search("pager|sequencing:", step)]
    assert story[:9] == sorted(story[:9]), f"steps out of order:\n{output}"
    assert "Traceback" not in output
    assert not leftovers, f"left behind: {leftovers}"
    hub_log = (out / "hub" / "hub.log").read_text()
    assert "Traceback" not in hub_log, hub_log[-5000:]


def test_the_demo_tells_how_to_run_the_scenario() -> None:
    shown = subprocess.run([sys.executable, str(DEMO), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "--scenario {freezer-failure}" in shown.stdout
    assert "--seconds" in shown.stdout
