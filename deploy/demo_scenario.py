"""``demo.py --scenario freezer-failure``: a freezer fails, the alert escalates, someone acknowledges it, the
samples are put on hold, a run completes.

Every step is printed with a timestamp when it is *observed* over the hub's API (or, for pages, at the demo's
webhook receiver), never assumed; a step that does not happen before its deadline fails the scenario with
``DemoError``. The pager is a tiny HTTP server on loopback standing in for the lab's paging provider.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from demo_seed import DemoError, Lab

T = TypeVar("T")
_PRINT = threading.Lock()
_STARTED = time.monotonic()
ACK_COMMENT = "compressor tripped; racks moving to ULT-02, service called"
HOLD_REASON = "ULT-01 compressor failure: hold until QA reviews the excursion"


def say(text: str) -> None:
    """One line with the wall clock (UTC) and the seconds since the demo started."""
    now = datetime.now(UTC)
    with _PRINT:
        print(f"[{now:%H:%M:%S}.{now.microsecond // 1000:03d} +{time.monotonic() - _STARTED:6.1f}s] {text}", flush=True)


def restart_clock() -> None:
    global _STARTED
    _STARTED = time.monotonic()


def when(text: str | None) -> float:
    """A hub timestamp as POSIX seconds (0 for none)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0


class Interrupted(DemoError):
    """Ctrl-C during the scenario."""


# -- the pager --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    arrived_at: float
    recipient: str
    kind: str
    subject: str
    context: dict[str, Any]


class Pager:
    """Receives the hub's webhook notifications on 127.0.0.1 and prints each one as it arrives."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self._lock = threading.Lock()
        pager = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    document = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    document = {}
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                pager.received(document)

            def log_message(self, format: str, *args: Any) -> None:  # the demo prints what matters itself
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="pager", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/pager"

    def received(self, document: dict[str, Any]) -> None:
        page = Page(
            time.time(),
            str(document.get("recipient") or "?"),
            str(document.get("kind", "")),
            str(document.get("subject", "")),
            dict(document.get("context") or {}),
        )
        with self._lock:
            self.pages.append(page)
        say(f"  pager ← {page.recipient}: {page.subject}")

    def for_alert(self, alert_id: str) -> list[Page]:
        with self._lock:
            return [p for p in self.pages if str(p.context.get("alert_id", "")) == alert_id]

    def __enter__(self) -> Pager:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# -- the pace ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    """How fast the simulators run and how long each step may take."""

    freezer_speed: float  # simulated seconds per second: from -80 °C the cabinet passes -70 °C after ~390 s
    high_delay_s: int  # the edge's high alarm waits this long above the limit
    poll_s: float  # the edge's polls
    tiers_s: tuple[int, int]  # escalation: tier 1 after firing, tier 2 after tier 1
    sequencer_speed: float  # the MiSeq replay: (60 + 242 × 30 + 90) simulated seconds in all
    slack_s: float  # added to each step's expected time before it counts as missed

    def run_s(self) -> float:
        return (60 + 242 * 30 + 90) / self.sequencer_speed


WATCHABLE = Pace(freezer_speed=20, high_delay_s=10, poll_s=1, tiers_s=(10, 20), sequencer_speed=80, slack_s=60)
QUICK = Pace(freezer_speed=100, high_delay_s=2, poll_s=0.5, tiers_s=(2, 4), sequencer_speed=300, slack_s=30)


# -- the scenario -----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    alert_id: str = ""
    fault_at: float = 0.0
    fired_at: float = 0.0
    tier_at: list[float] = field(default_factory=list)
    acked_at: float = 0.0
    held: int = 0
    exposed: int = 0
    job_state: str = "-"
    run_state: str = "-"
    samples_completed: int = 0

    def summary(self, lab: Lab) -> list[str]:
        def after(moment: float, base: float) -> str:
            return f"{moment - base:5.1f} s" if moment and base else "    -"

        tiers = ", ".join(f"tier {n} {after(t, self.fired_at)}" for n, t in enumerate(self.tier_at, 1)) or "-"
        return [
            f"alert                {self.alert_id or '-'} (ULT-01, freezer-01/temp high)",
            f"fault → fired        {after(self.fired_at, self.fault_at)}",
            f"fired → escalated    {tiers}",
            f"fired → acknowledged {after(self.acked_at, self.fired_at)}",
            f"samples held         {self.held} of the {self.exposed} samples the excursion exposed",
            f"sequencing job       {self.job_state} (run {lab.run_name or '-'}: {self.run_state}; "
            f"{self.samples_completed} of {len(lab.libraries)} libraries completed)",
        ]


class FreezerFailure:
    """The scenario, step by step, against a seeded ``lab`` whose edge agent and simulators run."""

    def __init__(
        self,
        lab: Lab,
        pager: Pager,
        pace: Pace,
        inject: Callable[[], None],
        stopping: Callable[[], bool],
        budget_s: float | None,
    ) -> None:
        self.lab, self.pager, self.pace = lab, pager, pace
        self.inject, self.stopping = inject, stopping
        self.end = time.monotonic() + budget_s if budget_s else None
        self.outcome = Outcome()
        self.unit = lab.units["ULT-01"]
        self._job_seen = ("", "")
        self._job_polled = 0.0

    # -- waiting ------------------------------------------------------------------------------------------------

    def until(self, what: str, check: Callable[[], T | None], within_s: float) -> T:
        """``check()``'s first true answer, polling the hub; ``DemoError`` if none comes within ``within_s`` (or
        the scenario's budget)."""
        end = time.monotonic() + within_s
        if self.end is not None:
            end = min(end, self.end)
        last_error = ""
        while True:
            self.watch_job()
            try:
                found = check()
            except (OSError, DemoError) as exc:  # the hub busy or restarting: try again until the deadline
                found, last_error = None, str(exc)
            if found:
                return found
            if self.stopping():
                raise Interrupted(f"interrupted while waiting for {what}")
            if time.monotonic() > end:
                note = f" (last error: {last_error})" if last_error else ""
                raise DemoError(f"FAIL: {what} did not happen within {within_s:.0f} s{note}")
            time.sleep(0.25)

    def watch_job(self, force: bool = False) -> dict[str, Any] | None:
        """The job and its run as the hub shows them; prints each change of state when first seen."""
        if not self.lab.job_id or (not force and time.monotonic() - self._job_polled < 1.0):
            return None
        self._job_polled = time.monotonic()
        try:
            job = self.lab["scientist"].get(f"/v1/sequencing/jobs/{self.lab.job_id}")
            run = self.lab["scientist"].get(f"/v1/sequencing/runs/{self.lab.run_id}")
        except (OSError, DemoError):
            return None
        seen = (job["state"], run["state"])
        if seen != self._job_seen:
            self._job_seen = seen
            cycles = f"{run['cycles_done']} of {run['cycles_total']} cycles" if run.get("cycles_total") else "no cycles"
            name = run["instrument_run_id"] or run["name"]
            say(f"sequencing: job {job['state']}, run {name} {run['state']} ({cycles})")
        self.outcome.job_state, self.outcome.run_state = seen
        self.outcome.samples_completed = sum(1 for lib in job["libraries"] if lib["sample_state"] == "completed")
        return {"job": job, "run": run}

    # -- the steps ----------------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        lab, pace, unit = self.lab, self.pace, self.unit
        self.until("the hub receiving the edge's readings", self._synced, 30)
        say("hub: the edge's log is syncing (readings, events, checkpoints)")

        self.inject()
        self.outcome.fault_at = time.time()
        say("FAULT: the ULT-01 compressor fails (injected into the Modbus freezer simulator); the cabinet warms")

        warm_s = 390 / pace.freezer_speed + pace.high_delay_s + 4
        alert = self.until("an alert on ULT-01", self._firing_alert, warm_s + pace.slack_s)
        self.outcome.alert_id, self.outcome.fired_at = alert["id"], when(alert["fired_at"])
        say(
            f"alert fired: {alert['kind']} {alert['source']}/{alert['channel']} on ULT-01, {alert['value']} °C beyond "
            f"{alert['limit']} °C ({alert['severity']}; alert {alert['id']})"
        )
        excursion = self.until("an excursion on ULT-01", self._excursion, pace.slack_s)
        inside = excursion["samples_at_start"]
        say(f"excursion opened on ULT-01: {inside} samples inside since {excursion['started_at']}")

        for tier, delay in enumerate(pace.tiers_s):
            step = self.until(f"escalation tier {tier + 1}", partial(self._step, tier), delay + pace.slack_s)
            self.outcome.tier_at.append(when(step["taken_at"]))
            who = ", ".join(lab.name_of(u) for u in step["users"])
            say(f"escalated to tier {tier + 1} ({'facilities on call' if tier == 0 else 'lab manager'}): {who} paged")
            self.until(f"tier {tier + 1}'s page at the pager", partial(self._paged, tier), pace.slack_s)

        for open_alert in self._open_alerts():
            if open_alert["state"] == "firing":
                lab["facilities"].post(f"/v1/alerts/{open_alert['id']}/acknowledge", {"comment": ACK_COMMENT})
        acked = self.until("the acknowledgement", self._acknowledged, pace.slack_s)
        self.outcome.acked_at = when(acked["acknowledged_at"])
        say(f"acknowledged by {acked['acknowledged_by']}: {acked['ack_comment']!r}; escalation stops")

        held = lab["lab-manager"].post(
            f"/v1/storage/units/{unit.id}/hold", {"reason": HOLD_REASON, "excursion_id": excursion["id"]}
        )
        self.outcome.exposed, on_hold = self.until(
            "the samples on hold", lambda: self._held(excursion["id"]), pace.slack_s
        )
        self.outcome.held = on_hold
        say(
            f"samples held: {on_hold} of ULT-01's samples on hold (all the excursion exposed), "
            f"{len(held['held'])} put on hold by lab-manager: {HOLD_REASON!r}"
        )

        if lab.job_id:
            remaining = pace.run_s() - (time.time() - self.outcome.fault_at) + pace.slack_s
            done = self.until("the sequencing job's completion", self._job_completed, max(remaining, pace.slack_s))
            say(
                f"job completed: run {done['run']['instrument_run_id']} ({done['run']['cycles_done']} cycles) "
                f"completed; {self.outcome.samples_completed} of {len(lab.libraries)} libraries completed"
            )
        return self.outcome

    # -- what each step looks for -------------------------------------------------------------------------------

    def _synced(self) -> bool:
        devices = self.lab["admin"].get("/v1/devices")
        return any(d["id"] == self.lab.device_id and d["next_seq"] > 0 for d in devices)

    def _open_alerts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.lab["facilities"].get(f"/v1/alerts?unit_id={self.unit.id}&open=true")
        return sorted(found, key=lambda a: a["opened_at"])

    def _firing_alert(self) -> dict[str, Any] | None:
        firing = [a for a in self._open_alerts() if a["fired_at"] and a["kind"] == "high"]
        return firing[0] if firing else None

    def _excursion(self) -> dict[str, Any] | None:
        found = self.lab["facilities"].get(f"/v1/storage/units/{self.unit.id}/excursions")
        return next((e for e in found if e["open"]), None)

    def _step(self, tier: int) -> dict[str, Any] | None:
        alert = self.lab["facilities"].get(f"/v1/alerts/{self.outcome.alert_id}")
        return next((s for s in alert["steps"] if s["tier"] == tier and s["repeat"] == 0), None)

    def _paged(self, tier: int) -> bool:
        return any(p.context.get("step") == str(tier + 1) for p in self.pager.for_alert(self.outcome.alert_id))

    def _acknowledged(self) -> dict[str, Any] | None:
        alert: dict[str, Any] = self.lab["facilities"].get(f"/v1/alerts/{self.outcome.alert_id}")
        return alert if alert["state"] == "acknowledged" else None

    def _held(self, excursion_id: str) -> tuple[int, int] | None:
        found = self.lab["lab-manager"].get(f"/v1/storage/excursions/{excursion_id}?limit=5000")
        states = [s["state"] for s in found["samples"]]
        on_hold = states.count("on_hold")
        return (len(states), on_hold) if states and on_hold == len(states) else None

    def _job_completed(self) -> dict[str, Any] | None:
        seen = self.watch_job(force=True)
        return seen if seen and seen["job"]["state"] == "completed" else None
