"""Simulator fault → edge alarm → sync → hub alert → escalation → acknowledgement, every process real: the freezer
simulator, ``tracseq edge run``, ``tracseq hub serve`` on PostgreSQL and a local webhook receiver (the pager).

The hub is killed (SIGKILL) between the first and the second escalation tier and started again: the second tier is
paged once, the first is never paged again. Acknowledging needs a comment and stops the escalation. The alert's
whole story is in the hub's audit trail, whose export ``tracseq verify`` accepts.

Escalation policies repeat no sooner than every 60 s (the API's floor), so a third tier stands in for "the next
page" that the acknowledgement must prevent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.alert_harness import Lab, Pager, bind_freezer, enroll_edge, escalate, seed_lab
from tests.e2e.harness import entries, freezer_config, start_agent, start_simulator, stop_agent
from tests.e2e.hub_harness import Database, Hub, tracseq, wait_until

pytestmark = pytest.mark.e2e

# each after the step before (the first: after firing). A restarted hub takes a step that came due while it was down
# at once and, within the escalator's 30 s grace, keeps the schedule's rhythm: tier 3 stays TIER_2_S + TIER_3_S after
# tier 1 however late tier 2 went, so these leave time to acknowledge even when a loaded machine restarts the hub in
# 20 s.
TIER_1_S, TIER_2_S, TIER_3_S = 1, 12, 12
COMMENT = "compressor tripped; racks moving to ULT-2, service called"


@pytest.fixture
def hub(require_service: Callable[[str], tuple[str, int]], tmp_path: Path) -> Iterator[Hub]:
    host, port = require_service("postgresql")
    db = Database.create(host, port)
    server = Hub(db, tmp_path / "hub")
    try:
        server.migrate()
        server.seed({"cold-lab": "ana"})
        server.start()
        yield server
    finally:
        server.stop()
        db.drop()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def alert_view(lab: Lab, alert_id: str) -> dict[str, Any]:
    found: dict[str, Any] = lab.call("ana", "GET", f"/v1/alerts/{alert_id}")
    return found


def test_a_compressor_failure_pages_tier_by_tier_through_a_hub_restart_until_acknowledged(
    hub: Hub, tmp_path: Path
) -> None:
    (tmp_path / "edge").mkdir()
    sim = start_simulator("--defrost-every", "0", speed=120)
    config = freezer_config(tmp_path / "edge", [("freezer-01", sim.tcp_port)], high_delay_s=1.0, poll_interval_s=0.25)
    edge_log = config.parent / "data" / "log.db"
    agent = None
    with Pager() as pager:
        try:
            lab = seed_lab(hub, "cold-lab", "ana", {"fay": "facilities", "max": "lab_manager"}, pager.url)
            device_id = enroll_edge(hub, lab.tokens["ana"], config)
            bind_freezer(lab, "ana", device_id, "freezer-01")
            escalate(lab, "max", [(TIER_1_S, ["fay"]), (TIER_2_S, ["max"]), (TIER_3_S, ["ana"])], repeat_every_s=60)
            agent = start_agent(config)
            wait_until(lambda: entries(edge_log, "observation"), 30, "the edge's first readings")

            # 1. the fault: the edge raises its alarm after its delay, the hub opens one alert and fires it
            sim.control({"fault": "compressor_failure"})
            raised = wait_until(
                lambda: [e for e in entries(edge_log, "alarm") if e["payload"]["action"] == "raised"],
                40,
                "the edge's high alarm",
            )
            assert raised[0]["payload"]["alarm_id"] == "freezer-01/temp/high"
            firing = wait_until(lambda: lab.call("ana", "GET", "/v1/alerts", params={"open": True}), 20, "an alert")
            assert len(firing) == 1, firing
            alert = firing[0]
            assert (alert["origin"], alert["kind"], alert["source"], alert["channel"]) == (
                "edge",
                "high",
                "freezer-01",
                "temp",
            )
            assert (alert["device_id"], alert["unit_id"]) == (device_id, lab.unit_id)
            alert_id = alert["id"]

            # 2. tier 1 is paged; the hub dies before tier 2 is due, and comes back
            tier_1 = wait_until(lambda: pager.deliveries(alert_id), 15, "tier 1's page")
            hub.kill()
            killed_at = time.time()
            assert [d.step for d in tier_1] == ["1"], "only tier 1 was paged before the kill"
            assert tier_1[0].document["kind"] == "alert.raised"
            assert tier_1[0].document["recipient"] is None
            hub.start()
            restarted_at = time.time()

            # tier 2 after its delay, once; tier 1 never again (a crash may at most resend tier 1's message under
            # its own key, which a receiver drops)
            wait_until(lambda: {d.step for d in pager.deliveries(alert_id)} >= {"2"}, 30, "tier 2's page")
            view = alert_view(lab, alert_id)
            steps = view["steps"]
            assert [(s["tier"], s["repeat"]) for s in steps] == [(0, 0), (1, 0)]
            assert steps[0]["users"] == [lab.user_ids["fay"]]
            assert steps[1]["users"] == [lab.user_ids["max"]]
            due_gap = (when(steps[1]["due_at"]) - when(steps[0]["due_at"])).total_seconds()
            assert due_gap == pytest.approx(TIER_2_S, abs=0.5)
            assert when(steps[1]["taken_at"]).timestamp() > killed_at, "tier 2 was taken by the restarted hub"

            # 3. acknowledging needs a comment, and stops the escalation
            ack = f"/v1/alerts/{alert_id}/acknowledge"
            lab.call("max", "POST", ack, 422, json={})
            lab.call("max", "POST", ack, 422, json={"comment": "  "})
            acked = lab.call("max", "POST", ack, json={"comment": COMMENT})
            assert (acked["state"], acked["ack_comment"]) == ("acknowledged", COMMENT)
            tier_3_due = when(steps[1]["due_at"]).timestamp() + TIER_3_S
            time.sleep(max(0.0, tier_3_due + 2.0 - time.time()))  # tier 3 would have been paged by now
            view = alert_view(lab, alert_id)
            story = [(s["step_key"][-16:], s["due_at"], s["taken_at"]) for s in view["steps"]]
            story_text = f"steps {story}, acknowledged {view['acknowledged_at']}, hub down {killed_at}-{restarted_at}"
            assert (view["state"], view["steps_taken"]) == ("acknowledged", 2), story_text
            assert all(when(s["taken_at"]) < when(view["acknowledged_at"]) for s in view["steps"]), story_text
            assert view["acknowledged_by"] == "user:max"

            deliveries = pager.deliveries(alert_id)
            keys_by_step: dict[str, set[str]] = {}
            for delivery in deliveries:
                keys_by_step.setdefault(delivery.step, set()).add(delivery.key)
            assert {step: len(keys) for step, keys in keys_by_step.items()} == {"1": 1, "2": 1}
            assert next(d.document["kind"] for d in deliveries if d.step == "2") == "alert.escalated"
            messages = lab.call("max", "GET", "/v1/notifications", params={"limit": 100})
            for_alert = [m for m in messages if m["dedup_key"].startswith(f"{alert_id}/")]
            states = dict(sorted((m["dedup_key"], m["state"]) for m in for_alert))
            assert list(states) == [f"{alert_id}/tier/0/repeat/0", f"{alert_id}/tier/1/repeat/0"], "one per step"
            # killed between the pager's answer and recording it, tier 1's message stays "sending" until its lease
            # (60 s) runs out, and then goes again under the same key: at least once, never as a new message
            assert states[f"{alert_id}/tier/0/repeat/0"] in ("sent", "sending")
            assert states[f"{alert_id}/tier/1/repeat/0"] == "sent"
            assert {m["id"] for m in for_alert} == {d.key for d in deliveries}

            # 4. the audit trail: fired, each step, the acknowledgement with who and why; the export verifies
            trail = lab.call("ana", "GET", "/v1/audit/entries", params={"record_type": "alert", "record_id": alert_id})
            assert [e["action"] for e in trail] == ["fire", "escalate", "escalate", "acknowledge"]
            payloads = [json.loads(e["entry"])["payload"] for e in trail]
            assert [p["new"]["step"] for p in payloads[1:3]] == [s["step_key"] for s in steps]
            assert payloads[3]["reason"] == COMMENT
            assert payloads[3]["actor"] == "user:max"
            export, trust = tmp_path / "audit.jsonl", tmp_path / "audit-trust.json"
            export.write_bytes(_get(hub, lab.tokens["ana"], "/v1/audit/export"))
            trust.write_bytes(_get(hub, lab.tokens["ana"], "/v1/audit/trust"))
            verified = tracseq("verify", export, "--trust", trust)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert verified.stdout.startswith("OK:"), verified.stdout
            print(f"hub down {restarted_at - killed_at:.1f} s between tier 1 and tier 2")
        finally:
            err = stop_agent(agent) if agent is not None else ""
            sim.stop()
    assert agent is None or agent.returncode == 0, err
    assert "Traceback" not in hub.log_tail(20000)


def _get(hub: Hub, token: str, path: str) -> bytes:
    response = httpx.get(f"{hub.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.content
