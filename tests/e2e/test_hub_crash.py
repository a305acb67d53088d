"""kill -9 of the hub's API, its worker and the edge agents at random moments while three edges sync, a freezer
alert escalates to a pager and sagas run: afterwards no entry, reading, escalation step, message or event is lost or
duplicated.

The hub runs as production does: ``tracseq hub serve`` with Redis events (no background work in the API) and
``tracseq hub worker`` (outbox relay, alert engine, notifier, saga runner). Every round sleeps 0.2–3 s and SIGKILLs
the API, the worker, both, or one of the three edge agents, and starts it again; the edges retry on their own (an edge
killed mid-batch resends from the hub's acknowledged seq). Then the killing stops, the edges
drain, the alert is acknowledged and everything settles (a worker killed holding a saga's or a message's lease
leaves it until the lease, 60 s, runs out), and everything is counted.

The notifier is at least once: a worker killed between the pager's answer and recording it sends that message again
when the lease expires, under the same Idempotency-Key. Those repeats are counted and reported, not failed; a
message that never arrived, or one arriving under a key the hub never issued, fails the test.

In the suite: 4 kills (the API, the worker, an edge, both). ``TRACSEQ_HUB_CRASH_KILLS`` (``make crash-hub``) sets the
campaign's length, ``TRACSEQ_HUB_CRASH_SEED`` its randomness; ``TRACSEQ_TEST_REDIS_URL`` the Redis
(default 127.0.0.1:6379).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.alert_harness import Pager, bind_freezer, escalate, seed_lab
from tests.e2e.crash_harness import (
    CrashEdge,
    HubPair,
    call_retrying,
    count_entries,
    count_messages,
    count_outbox,
    count_steps,
    drop_stream,
    stream_offsets,
)
from tests.e2e.harness import start_agent, start_simulator, stop_agent
from tests.e2e.hub_harness import Database, wait_until

pytestmark = pytest.mark.e2e

KILLS = int(os.environ.get("TRACSEQ_HUB_CRASH_KILLS", "4"))
SEED = int(os.environ.get("TRACSEQ_HUB_CRASH_SEED", "31"))
REDIS_URL = os.environ.get("TRACSEQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKLOG = int(os.environ.get("TRACSEQ_HUB_CRASH_BACKLOG", str(max(3000, 60 * KILLS))))
SAGA_EVERY = 3  # rounds between two excursion responses
TERMINAL_SAGA = ("completed", "compensated", "failed", "compensation_failed")
SETTLED_MESSAGE = ("sent", "delivered", "failed")


def redis_up() -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except RedisError:
        return False
    finally:
        client.close()


def test_kill_9_of_the_hub_api_and_worker_loses_and_duplicates_nothing(
    require_service: Callable[[str], tuple[str, int]], tmp_path: Path
) -> None:
    host, port = require_service("postgresql")
    if not redis_up():
        pytest.skip(f"no Redis at {REDIS_URL}")
    rng = random.Random(SEED)
    db = Database.create(host, port, "tracseq_e2e_hubcrash")
    stream = f"tracseq:e2e:hubcrash:{uuid.uuid4().hex[:12]}"
    hub = HubPair.create(db, tmp_path / "hub", REDIS_URL, stream)
    faulty = start_simulator("--defrost-every", "0", speed=120)
    steady = start_simulator(speed=5)
    edges = [
        CrashEdge(tmp_path / "edge-a", "crash-a", faulty.tcp_port, devices=1, poll_s=0.25),
        CrashEdge(tmp_path / "edge-b", "crash-b", steady.tcp_port, devices=4),
        CrashEdge(tmp_path / "edge-c", "crash-c", steady.tcp_port, devices=4),
    ]
    agents: list[subprocess.Popen[str]] = []
    sagas: list[str] = []
    started = time.monotonic()
    with Pager() as pager:
        try:
            hub.api.migrate()
            hub.api.seed({"cold-lab": "ana"})
            hub.api.start()
            hub.worker.start()
            lab = seed_lab(hub.api, "cold-lab", "ana", {"fay": "facilities", "max": "lab_manager"}, pager.url)
            admin = lab.tokens["ana"]
            for edge in edges:
                edge.enroll(hub.api, admin)
            for edge in edges[1:]:
                edge.backlog(BACKLOG)
            bind_freezer(lab, "ana", edges[0].device_id, "freezer-00")
            escalate(lab, "max", [(1, ["fay"]), (3, ["max"]), (3, ["ana"])], repeat_every_s=60)
            agents = [start_agent(edge.config, edge.folder / "agent.log") for edge in edges]
            faulty.control({"fault": "compressor_failure"})
            firing = wait_until(
                lambda: [
                    a
                    for a in lab.call("ana", "GET", "/v1/alerts", params={"open": True})
                    if a["unit_id"] == lab.unit_id
                ],
                60,
                "the freezer's alert",
            )
            alert_id = firing[0]["id"]

            def start_saga(n: int) -> None:
                body = {"unit_id": lab.unit_id, "reason": f"crash round {n}", "key": f"hub-crash-{n}"}
                answer = call_retrying("POST", f"{hub.api.url}/v1/sagas/excursion-response", admin, json=body)
                assert answer.status_code == 202, answer.text
                sagas.append(answer.json()["id"])

            loop_started = time.monotonic()
            for round_no in range(KILLS):
                if round_no % SAGA_EVERY == 0:
                    start_saga(round_no)
                time.sleep(rng.uniform(0.2, 3.0))
                # the first four kills take each kind once (the suite's short run), then at random
                kinds = ("api", "worker", "edge", "both")
                kind = kinds[round_no] if round_no < len(kinds) else rng.choice(kinds * 2 + ("api", "edge"))
                if kind == "edge":
                    which = rng.randrange(len(edges))
                    agents[which].kill()
                    agents[which].wait(30)
                    agents[which] = start_agent(edges[which].config, edges[which].folder / "agent.log")
                    hub.kills["edge"] += 1
                else:
                    hub.kill(kind)
            loop_s = time.monotonic() - loop_started
            start_saga(KILLS)

            # the killing stops: acknowledge, drain the edges, let leases run out
            lab.call("max", "POST", f"/v1/alerts/{alert_id}/acknowledge", json={"comment": "crash campaign over"})
            for agent in agents:
                stop_agent(agent)
            agents = [start_agent(edge.quiet, edge.folder / "agent.log") for edge in edges]
            synced = [
                wait_until(
                    lambda edge=edge: edge.acked() == edge.durable() > 0 and edge.acked(), 120, f"{edge.origin} acked"
                )
                for edge in edges
            ]
            wait_until(
                lambda: (
                    db.value("SELECT count(*) FROM sagas WHERE state <> ALL($1::varchar[])", list(TERMINAL_SAGA)) == 0
                ),
                150,
                "every saga to end",
            )
            wait_until(
                lambda: (
                    db.value(
                        "SELECT count(*) FROM notifications WHERE state <> ALL($1::varchar[])", list(SETTLED_MESSAGE)
                    )
                    == 0
                ),
                150,
                "every message to be sent",
            )
            wait_until(
                lambda: db.value("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0, 60, "the outbox empty"
            )
            for agent, edge in zip(agents, edges, strict=True):
                stop_agent(agent)
                assert agent.returncode == 0, (edge.folder / "agent.log").read_text(errors="replace")[-3000:]
            agents = []
            hub.stop()

            # the quiet agents keep logging events (and their stop) after ``synced``: counted against the final ack
            entries, readings = count_entries(db, edges, synced)
            steps = count_steps(db, alert_id)
            messages = count_messages(db, [d.key for d in pager.deliveries()])
            outbox = count_outbox(db, stream_offsets(REDIS_URL, stream))
            saga_states = {
                r["state"]: r["n"]
                for r in db.fetch(
                    "SELECT state, count(*) AS n FROM sagas WHERE id = ANY($1::varchar[]) GROUP BY state", sagas
                )
            }
            actions = db.fetch(
                "SELECT saga_id, count(*) AS n FROM corrective_actions WHERE saga_id = ANY($1::varchar[])"
                " GROUP BY saga_id",
                sagas,
            )
            unfinished_steps = db.value(
                "SELECT count(*) FROM saga_steps s JOIN sagas g ON g.id = s.saga_id"
                " WHERE g.id = ANY($1::varchar[]) AND g.state = 'completed' AND s.state <> 'done'",
                sagas,
            )
            step_messages = db.value(
                "SELECT count(DISTINCT dedup_key) FROM notifications WHERE dedup_key LIKE $1", f"{alert_id}/tier/%"
            )
            print(
                f"\n{sum(hub.kills.values())} kills ({dict(hub.kills)}) in {loop_s:.0f} s, seed {SEED},"
                f" total {time.monotonic() - started:.0f} s"
            )
            for tally in (entries, readings, steps, messages, outbox):
                print(tally.line())
            print(f"sagas: {len(sagas)} started, {saga_states}; corrective actions {sorted(r['n'] for r in actions)}")
            print(f"pager: {len(pager.deliveries())} deliveries; escalation steps with a message: {step_messages}")
            print(f"logs with a traceback: {hub.tracebacks()}")

            assert (entries.lost, entries.duplicated, entries.foreign) == (0, 0, 0), entries.line()
            assert (readings.lost, readings.duplicated, readings.foreign) == (0, 0, 0), readings.line()
            assert (steps.lost, steps.duplicated) == (0, 0), steps.line()
            assert steps.expected >= 1
            assert step_messages == steps.expected, "every step taken sent its message"
            assert (messages.lost, messages.foreign) == (0, 0), messages.line()
            assert not [n for n in messages.notes if "two messages" in n], messages.line()
            assert (outbox.lost, outbox.notes) == (0, []), outbox.line()
            assert saga_states == {"completed": len(sagas)}, saga_states
            assert [r["n"] for r in actions] == [1] * len(sagas), "one corrective action per saga"
            assert unfinished_steps == 0
        finally:
            for agent in agents:
                if agent.poll() is None:
                    stop_agent(agent)
            hub.stop()
            faulty.stop()
            steady.stop()
            drop_stream(REDIS_URL, stream)
            if os.environ.get("TRACSEQ_E2E_KEEP_DB"):
                print(f"kept the hub's database {db.name} and folder {hub.api.folder}")
            else:
                db.drop()
