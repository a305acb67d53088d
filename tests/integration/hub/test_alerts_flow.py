"""Alerts on a real hub, SQLite and PostgreSQL: an edge alarm through the sync endpoint becomes one alert however
often its batch is resent; acknowledging needs a comment and lands in the audit trail; clearing resolves; a reading
rule waits for its delay; escalation walks its tiers and rotas once per step whatever restarts; silences hold the
steps; a door holds a temperature alert back; a flapping condition sends one notice; tenants and roles are kept
apart."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.alerts import AlertEngine, Condition
from hub.db.alerts_models import Alert, AlertStep
from hub.db.sample_models import Sample, SampleType
from hub.db.storage_models import StorageContainer, StorageExcursion, StorageExcursionSample, StorageUnitBinding
from hub.domain.permissions import Role
from hub.events.outbox import record_event
from tests.integration.hub.alerts_world import Edge, World, alarm, later, now_s, reading, world

pytestmark = pytest.mark.integration


def run(db_url: str, tmp_path: Path, body: Callable[[World], Awaitable[None]], **options: object) -> None:
    async def main() -> None:
        async with world(db_url, tmp_path, **options) as w:
            await body(w)

    asyncio.run(main())


async def policy(w: World, *tiers: dict[str, object], repeat_every_s: int | None = None, **matcher: str) -> str:
    response = await w.client.post(
        "/v1/alerts/policies",
        json={"name": "freezers", "matcher": matcher, "tiers": list(tiers), "repeat_every_s": repeat_every_s},
        headers=w.as_(Role.LAB_MANAGER),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def audit(w: World, alert_id: str) -> list[dict[str, object]]:
    response = await w.client.get(
        "/v1/audit/entries", params={"record_type": "alert", "record_id": alert_id}, headers=w.as_(Role.AUDITOR)
    )
    assert response.status_code == 200, response.text
    return [json.loads(e["entry"])["payload"] | {"seq": e["seq"]} for e in response.json()]


def test_an_edge_alarm_is_one_alert_acknowledged_with_a_comment_and_resolved_when_it_clears(
    db_url: str, tmp_path: Path
) -> None:
    async def body(w: World) -> None:
        technician = w.user(Role.TECHNICIAN)
        await policy(w, {"delay_s": 0, "users": [technician]}, origin="edge")
        edge = await Edge(w.hub, "freezer-gw").enroll(w.as_(Role.ADMIN))
        start = now_s()
        edge.append("observation", reading("-66.0"), start)
        edge.append("alarm", alarm("raised", start), start)
        first = await edge.send()
        assert (await edge.send(0, 2)).json()["acked_seq"] == first.json()["acked_seq"] == 2  # resent
        await w.settle()
        await w.settle()

        found = await w.alerts()
        assert len(found) == 1
        alert = found[0]
        assert (alert["state"], alert["origin"], alert["kind"], alert["severity"]) == (
            "firing",
            "edge",
            "high",
            "alarm",
        )
        assert (alert["device_id"], alert["source"], alert["channel"]) == (edge.id, "freezer-1", "temp")
        assert alert["group_key"] == f"device:{edge.id}:freezer-1"
        assert w.pages.sent == [(technician, "alert.raised", f"{alert['id']}/tier/0/repeat/0")]

        url = f"/v1/alerts/{alert['id']}/acknowledge"
        missing = await w.client.post(url, json={"comment": " "}, headers=w.as_(Role.TECHNICIAN))
        assert missing.status_code == 422
        refused = await w.client.post(url, json={"comment": "on my way"}, headers=w.as_(Role.SCIENTIST))
        assert refused.status_code == 403
        elsewhere = await w.client.post(url, json={"comment": "not mine"}, headers=w.as_(Role.ADMIN, "beta"))
        assert elsewhere.status_code == 404
        acked = await w.client.post(url, json={"comment": "moving racks to F2"}, headers=w.as_(Role.TECHNICIAN))
        assert acked.status_code == 200, acked.text
        assert (acked.json()["state"], acked.json()["ack_comment"]) == ("acknowledged", "moving racks to F2")
        again = await w.client.post(url, json={"comment": "me too"}, headers=w.as_(Role.FACILITIES))
        assert again.status_code == 409

        trail = await audit(w, alert["id"])
        assert [e["action"] for e in trail] == ["fire", "escalate", "acknowledge"]
        assert trail[2]["reason"] == "moving racks to F2"
        assert trail[2]["actor"] == f"user:{w.alpha.users[Role.TECHNICIAN].username}"

        edge.append("alarm", alarm("cleared", later(start, 90), value="-71.0"), later(start, 90))
        await edge.send()
        await w.settle()
        resolved = (await w.client.get(f"/v1/alerts/{alert['id']}", headers=w.as_(Role.SCIENTIST))).json()
        assert (resolved["state"], resolved["value"]) == ("resolved", "-71.0")
        assert [s["step_key"] for s in resolved["steps"]] == [f"{alert['id']}/tier/0/repeat/0"]
        assert [e["action"] for e in await audit(w, alert["id"])][-1] == "resolve"
        assert (await w.client.get(f"/v1/alerts/{alert['id']}", headers=w.as_(Role.ADMIN, "beta"))).status_code == 404
        assert await w.alerts(Role.ADMIN, open=True) == []

        edge.append("alarm", alarm("raised", later(start, 200)), later(start, 200))
        await edge.send()
        await w.settle()
        assert [a["state"] for a in await w.alerts()] == ["firing", "resolved"]  # a new condition, a new alert
        assert (await w.client.get("/v1/alerts", headers=w.as_(Role.ADMIN, "beta"))).json() == []

    run(db_url, tmp_path, body)


def test_a_reading_rule_waits_for_its_delay_then_escalates_through_tiers_and_rotas(db_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        manager, technician = w.user(Role.LAB_MANAGER), w.user(Role.TECHNICIAN)
        edge = await Edge(w.hub, "cold-room").enroll(w.as_(Role.ADMIN))
        rule = await w.client.post(
            "/v1/alerts/rules",
            json={
                "name": "cold room too warm",
                "kind": "limit",
                "severity": "critical",
                "device_id": edge.id,
                "channel": "temp",
                "params": {"direction": "high", "limit": "8", "delay_s": 60, "hysteresis": "1"},
            },
            headers=w.as_(Role.FACILITIES),
        )
        assert rule.status_code == 201, rule.text
        every_day = [0, 1, 2, 3, 4, 5, 6]
        rota = await w.client.post(
            "/v1/alerts/rotas",
            json={
                "name": "facilities on call",
                "time_zone": "UTC",
                "shifts": [
                    {"name": "all", "weekdays": every_day, "start": "00:00", "end": "24:00", "users": [manager]}
                ],
            },
            headers=w.as_(Role.FACILITIES),
        )
        assert rota.status_code == 201, rota.text
        await policy(
            w,
            {"delay_s": 0, "users": [technician]},
            {"delay_s": 300, "rotas": [rota.json()["id"]]},
            repeat_every_s=600,
            origin="rule",
        )
        start = now_s()
        edge.append("observation", reading("7.5", device="cold-room-1"), start)
        edge.append("observation", reading("8.5", device="cold-room-1"), later(start, 10))
        edge.append("observation", reading("9.0", device="cold-room-1"), later(start, 40))
        await edge.send()
        await w.settle(later(start, 45))
        [pending] = await w.alerts()
        assert (pending["state"], pending["value"], pending["limit"]) == ("pending", "8.5", "8")
        assert pending["due_at"].startswith(later(start, 70).isoformat()[:19])

        await w.settle(later(start, 69))
        assert (await w.alerts())[0]["state"] == "pending"
        await w.settle(later(start, 70))
        [firing] = await w.alerts()
        assert firing["state"] == "firing"
        assert w.pages.users() == [technician]

        await w.settle(later(start, 369))
        assert w.pages.users() == [technician]
        await w.settle(later(start, 370))
        assert w.pages.users() == [technician, manager]  # tier 2: whoever the rota has on call
        other = AlertEngine(w.hub.state.db, w.hub.state.audit, pager=w.pages)  # a second engine, or a restart
        await other.tick(later(start, 370))
        await w.settle(later(start, 370))
        assert len(w.pages.sent) == 2  # the step is taken once
        await w.settle(later(start, 970))
        assert w.pages.sent[-1] == (technician, "alert.escalated", f"{firing['id']}/tier/0/repeat/1")

        edge.append("observation", reading("7.5", device="cold-room-1"), later(start, 980))  # in the deadband
        await edge.send()
        await w.settle(later(start, 981))
        assert (await w.alerts())[0]["state"] == "firing"
        edge.append("observation", reading("6.9", device="cold-room-1"), later(start, 990))
        await edge.send()
        await w.settle(later(start, 991))
        assert (await w.alerts())[0]["state"] == "resolved"
        report = await w.client.get(f"/v1/alerts/{firing['id']}/report", headers=w.as_(Role.SCIENTIST))
        assert report.status_code == 200
        assert report.headers["content-type"].startswith("text/html")
        assert "<polyline" in report.text
        assert "<script" not in report.text
        assert "escalate" in report.text

    run(db_url, tmp_path, body)


def test_a_silence_holds_notifications_until_it_is_cancelled(sqlite_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        technician = w.user(Role.TECHNICIAN)
        await policy(w, {"delay_s": 0, "users": [technician]})
        edge = await Edge(w.hub, "freezer-gw").enroll(w.as_(Role.ADMIN))
        start = now_s()
        silence = await w.client.post(
            "/v1/alerts/silences",
            json={
                "reason": "compressor swap",
                "matcher": {"device_id": edge.id, "source": "freezer-1"},
                "ends_at": later(start, 3600).isoformat(),
            },
            headers=w.as_(Role.FACILITIES),
        )
        assert silence.status_code == 201, silence.text
        assert silence.json()["owner_id"] == w.user(Role.FACILITIES)
        empty = await w.client.post(
            "/v1/alerts/silences",
            json={"reason": "everything", "matcher": {}, "ends_at": later(start, 60).isoformat()},
            headers=w.as_(Role.FACILITIES),
        )
        assert empty.status_code == 422
        edge.append("alarm", alarm("raised", start), start)
        edge.append("alarm", alarm("raised", start, rule="low", device="freezer-2"), start)
        await edge.send()
        await w.settle()
        await w.settle()
        alerts = {a["source"]: a for a in await w.alerts()}
        assert alerts["freezer-1"]["state"] == "firing"
        assert alerts["freezer-1"]["silenced_by"] == [silence.json()["id"]]
        assert alerts["freezer-2"]["silenced_by"] == []
        assert [key.split("/")[0] for _, _, key in w.pages.sent] == [alerts["freezer-2"]["id"]]

        cancel = await w.client.post(
            f"/v1/alerts/silences/{silence.json()['id']}/cancel",
            json={"reason": "swap done early"},
            headers=w.as_(Role.FACILITIES),
        )
        assert cancel.status_code == 200, cancel.text
        assert {a["source"]: a["held_by"] for a in await w.alerts()} == {"freezer-1": "silence", "freezer-2": None}
        await w.settle()  # released at once, not when the silence would have ended
        assert sorted(key.split("/")[0] for _, _, key in w.pages.sent) == sorted(a["id"] for a in alerts.values())

    run(sqlite_url, tmp_path, body)


def test_an_open_door_holds_the_temperature_alert_back_until_its_hold_ends(sqlite_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        edge = await Edge(w.hub, "freezer-gw").enroll(w.as_(Role.ADMIN))
        start = now_s()
        edge.append("event", {"type": "door_open", "severity": "info", "message": "door", "device": "freezer-1"}, start)
        edge.append("alarm", alarm("raised", later(start, 20)), later(start, 20))
        edge.append(
            "event",
            {"type": "door_closed", "severity": "info", "message": "door", "device": "freezer-1"},
            later(start, 60),
        )
        await edge.send()
        await w.settle(later(start, 61))
        [held] = await w.alerts()
        assert (held["state"], held["held_by"]) == ("pending", "door")
        await w.settle(later(start, 60 + 299))  # the cabinet gets five minutes to recover
        assert (await w.alerts())[0]["state"] == "pending"
        await w.settle(later(start, 60 + 300))
        assert (await w.alerts())[0]["state"] == "firing"
        report = (await w.client.get(f"/v1/alerts/{held['id']}/report", headers=w.as_(Role.SCIENTIST))).text
        assert "door start" in report
        assert "door end" in report

    run(sqlite_url, tmp_path, body)


def test_a_flapping_condition_sends_one_notice_and_no_escalation(sqlite_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        technician = w.user(Role.TECHNICIAN)
        await policy(w, {"delay_s": 0, "users": [technician]})
        start = now_s()
        book, escalator = w.engine.book, w.engine.escalator
        async with w.hub.state.db.transaction() as session:
            for flap in range(6):
                at = later(start, 60 * flap)
                alert = await book.open(
                    session,
                    Condition(
                        tenant_id=w.alpha.id,
                        dedup_key="edge:x:freezer-1/temp/high",
                        origin="edge",
                        kind="high",
                        severity="alarm",
                        title="freezer 1 too warm",
                        started_at=at,
                    ),
                    at,
                )
                await escalator.advance(session, alert, at)
                await book.resolve(session, alert, now=later(at, 30))
        kinds = [kind for _, kind, _ in w.pages.sent]
        assert kinds == [
            "alert.raised",
            "alert.raised",
            "alert.raised",
            "alert.flapping",
        ]  # the 4th firing is the 6th change
        async with w.hub.state.db.read() as session:
            flags = (await session.execute(select(Alert.flapping).order_by(Alert.opened_at))).scalars().all()
            steps = (await session.execute(select(func.count()).select_from(AlertStep))).scalar_one()
        assert flags == [False, False, False, True, True, True]
        assert steps == 4

    run(sqlite_url, tmp_path, body)


def test_a_fork_is_a_critical_alert_a_person_closes_with_a_comment(sqlite_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        edge = await Edge(w.hub, "forked").enroll(w.as_(Role.ADMIN))
        for i in range(5):
            edge.append("observation", reading(f"-80.{i}"))
        await edge.send()
        edge.raws[2] = edge.raws[2].replace(b'"-80.2"', b'"-79.2"')
        await edge.send(0, 5, checkpoint=False, expect=409)
        await edge.send(0, 5, checkpoint=False, expect=409)
        await w.settle()
        [alert] = await w.alerts()
        assert (alert["origin"], alert["kind"], alert["severity"]) == ("integrity", "fork", "critical")
        assert alert["device_id"] == edge.id
        url = f"/v1/alerts/{alert['id']}/resolve"
        assert (await w.client.post(url, json={"comment": ""}, headers=w.as_(Role.ADMIN))).status_code == 422
        closed = await w.client.post(url, json={"comment": "re-enrolled the gateway"}, headers=w.as_(Role.FACILITIES))
        assert (closed.json()["state"], closed.json()["resolve_comment"]) == ("resolved", "re-enrolled the gateway")

    run(sqlite_url, tmp_path, body)


class Unreachable:
    """A notifications outbox that reaches nobody (no channel configured for anyone)."""

    async def __call__(self, session: object, **message: object) -> int:
        return 0


def test_the_next_tier_is_reached_at_once_when_nobody_in_a_tier_can_be(sqlite_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await policy(
            w, {"delay_s": 0, "users": [w.user(Role.TECHNICIAN)]}, {"delay_s": 600, "users": [w.user(Role.ADMIN)]}
        )
        start = now_s()
        async with w.hub.state.db.transaction() as session:
            alert = await w.engine.book.open(
                session,
                Condition(
                    tenant_id=w.alpha.id,
                    dedup_key="saga:s-1",
                    origin="saga",
                    kind="intake",
                    severity="alarm",
                    title="intake saga failed",
                    started_at=start,
                ),
                start,
            )
            alert_id = alert.id
        await w.settle(start)
        await w.settle(start)
        async with w.hub.state.db.read() as session:
            tiers = (await session.execute(select(AlertStep.tier).where(AlertStep.alert_id == alert_id))).scalars()
            assert sorted(tiers) == [0, 1]

    run(sqlite_url, tmp_path, body, pager=Unreachable())


def test_rate_no_data_and_silent_edge_rules(sqlite_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        edge = await Edge(w.hub, "lab-gw").enroll(w.as_(Role.ADMIN))
        rules = [
            {
                "name": "warming fast",
                "kind": "rate",
                "channel": "temp",
                "params": {"max_per_minute": "3", "window_s": 120},
            },
            {"name": "probe silent", "kind": "no_data", "severity": "warning", "params": {"after_s": 600}},
            {"name": "edge silent", "kind": "sync_silence", "device_id": edge.id, "params": {"after_s": 900}},
        ]
        for rule in rules:
            created = await w.client.post("/v1/alerts/rules", json=rule, headers=w.as_(Role.FACILITIES))
            assert created.status_code == 201, created.text
        start = later(now_s(), -1260)  # in the past: the hub flags entries from the future
        for i in range(7):  # 5 degrees a minute
            edge.append("observation", reading(str(-80 + 5 * i / 2)), later(start, 30 * i))
        await edge.send()
        synced = now_s()
        await w.settle(later(start, 181))
        [rate] = await w.alerts()
        assert (rate["kind"], rate["state"], rate["value"]) == ("rate", "firing", "5.000")

        assert await w.engine.scan(later(start, 180 + 599)) == 0
        assert await w.engine.scan(later(start, 180 + 600)) == 1
        assert await w.engine.scan(later(synced, 899)) == 0
        assert await w.engine.scan(later(synced, 901)) == 1  # the edge has not synced for 15 minutes
        await w.hub.published()
        kinds = {a["kind"]: a for a in await w.alerts(open=True)}
        assert set(kinds) == {"rate", "no_data", "sync_silence"}
        assert kinds["no_data"]["title"].startswith("no data from freezer-1/temp for 600 s")

        edge.append("observation", reading("-70"), later(start, 1200))
        await edge.send()  # a reading, and a sync
        await w.settle()
        assert {a["kind"] for a in await w.alerts(open=True)} == {"rate"}

    run(sqlite_url, tmp_path, body)


def test_alerts_of_a_bound_channel_group_under_the_storage_unit_and_the_report_lists_its_samples(
    sqlite_url: str, tmp_path: Path
) -> None:
    async def body(w: World) -> None:
        edge = await Edge(w.hub, "freezer-gw").enroll(w.as_(Role.ADMIN))
        start = now_s()
        unit_id, box_id = str(uuid.uuid4()), str(uuid.uuid4())
        async with w.hub.state.db.transaction() as session:
            session.add(
                StorageContainer(
                    id=unit_id,
                    tenant_id=w.alpha.id,
                    kind="freezer",
                    name="F-12",
                    zone="-80",
                    path=f"/{unit_id}/",
                    created_by="test",
                )
            )
            await session.flush()
            sample_type = SampleType(tenant_id=w.alpha.id, name="plasma", zone="-80")
            session.add_all(
                [
                    StorageContainer(
                        id=box_id,
                        tenant_id=w.alpha.id,
                        parent_id=unit_id,
                        unit_id=unit_id,
                        kind="box",
                        name="box 1",
                        zone="-80",
                        path=f"/{unit_id}/{box_id}/",
                        grid_rows=9,
                        grid_cols=9,
                        created_by="test",
                    ),
                    StorageUnitBinding(
                        tenant_id=w.alpha.id,
                        unit_id=unit_id,
                        device_id=edge.id,
                        source="freezer-1",
                        channel="temp",
                        created_by="test",
                    ),
                    sample_type,
                ]
            )
            await session.flush()
            sample = Sample(
                tenant_id=w.alpha.id,
                barcode="S-000042",
                name="plasma 42",
                sample_type_id=sample_type.id,
                state="stored",
                custodian="biobank",
                created_by="test",
            )
            excursion = StorageExcursion(
                tenant_id=w.alpha.id,
                unit_id=unit_id,
                device_id=edge.id,
                source="freezer-1",
                channel="temp",
                rule="high",
                started_at=start,
                start_seq=0,
                ended_at=later(start, 120),
                end_seq=1,
            )
            session.add_all([sample, excursion])
            await session.flush()
            session.add(
                StorageExcursionSample(
                    excursion_id=excursion.id,
                    sample_id=sample.id,
                    tenant_id=w.alpha.id,
                    box_id=box_id,
                    row_no=1,
                    col_no=2,
                    joined="start",
                )
            )
        edge.append("observation", reading("-66.0"), start)
        edge.append("alarm", alarm("raised", start), start)
        edge.append("alarm", alarm("raised", start, rule="offline", channel="probe2", value=None, limit=None), start)
        await edge.send()
        await w.settle()
        by_channel = {a["channel"]: a for a in await w.alerts()}
        assert by_channel["temp"]["unit_id"] == unit_id
        assert by_channel["temp"]["group_key"] == f"unit:{unit_id}"
        assert by_channel["probe2"]["group_key"] == f"device:{edge.id}:freezer-1"  # a channel bound to no unit
        groups = (await w.client.get("/v1/alerts/groups", headers=w.as_(Role.SCIENTIST))).json()
        assert [(g["group_key"], g["open"], g["state"]) for g in groups] == [
            (f"device:{edge.id}:freezer-1", 1, "firing"),
            (f"unit:{unit_id}", 1, "firing"),
        ]
        report = await w.client.get(f"/v1/alerts/{by_channel['temp']['id']}/report", headers=w.as_(Role.SCIENTIST))
        assert "F-12" in report.text
        assert "S-000042" in report.text
        assert "<td>A2</td>" in report.text
        assert (await w.client.get("/v1/alerts/groups", headers=w.as_(Role.SCIENTIST, "beta"))).json() == []

    run(sqlite_url, tmp_path, body)


def test_an_event_that_can_never_become_an_alert_is_skipped_not_retried_for_ever(db_url: str, tmp_path: Path) -> None:
    async def body(w: World) -> None:
        async with w.hub.state.db.transaction() as session:
            for device_id in ("no-such-device", None):
                record_event(
                    session,
                    tenant_id=w.alpha.id,
                    type="integrity.clock" if device_id else "saga.failed",
                    subject_type="device" if device_id else "saga",
                    subject_id=device_id or "saga-7",
                    actor=None,
                    payload={"flags": ["future"]} if device_id else {"saga": "intake", "reason": "label printer"},
                )
        await w.settle()
        [alert] = await w.alerts()
        assert (alert["origin"], alert["title"]) == ("saga", "saga intake failed: label printer")

    run(db_url, tmp_path, body)
