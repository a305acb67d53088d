"""Units and their edge channels, on SQLite and PostgreSQL: binding rules, an excursion opened and closed by limit
alarms on a bound channel (directly and through the real sync endpoint), the samples it exposed, and putting a
unit's samples on hold in one action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from tests.integration.hub import test_storage_api
from tests.integration.hub.test_storage_api import Lab, problem
from tests.integration.hub.test_sync_ingest import Edge
from tests.integration.hub.test_tenant_role_sweep import enrol_device

pytestmark = pytest.mark.anyio

# the same lab, on both databases, as the API tests
lab = test_storage_api.lab
T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def alarm(action: str, rule: str = "high", channel: str = "temp", device: str = "freezer-01") -> dict[str, Any]:
    return {
        "action": action,
        "alarm_id": f"{device}/{channel}/{rule}",
        "device": device,
        "channel": channel,
        "rule": rule,
        "severity": "alarm",
        "value": "-61.5" if action == "raised" else "-75",
        "limit": "-70",
        "message": f"{channel} {action}",
    }


class Device:
    def __init__(self, lab: Lab, device_id: str) -> None:
        self.lab = lab
        self.principal = Principal("device", device_id, lab.a.id, "alpha-lab-gw")
        self.seq = 0

    async def send(self, *payloads: dict[str, Any], kind: str = "alarm") -> None:
        """The ingest handler's view of a batch: the stored event rows, as ``Ingest`` passes them."""
        events = []
        for payload in payloads:
            events.append(
                {
                    "device_id": self.principal.id,
                    "seq": self.seq,
                    "tenant_id": self.lab.a.id,
                    "kind": kind,
                    "type": payload.get("action", "event"),
                    "severity": payload.get("severity"),
                    "payload": payload,
                    "ts": T0 + timedelta(minutes=self.seq),
                }
            )
            self.seq += 1
        async with self.lab.hub.state.db.transaction() as session:
            await self.lab.hub.state.storage.on_device_events(session, self.principal, events)


async def bound_freezer(lab: Lab, samples: int) -> tuple[str, str, list[str], Device]:
    """A -80 freezer with a box holding ``samples`` samples, its temp channel bound to tenant A's device."""
    unit, _, rack = await lab.freezer()
    box = await lab.box(rack)
    ids = await lab.samples(samples)
    assert (await lab.place(box, *[(s, str(i + 1)) for i, s in enumerate(ids)])).status_code == 200
    device_id, _ = await enrol_device(lab.hub, lab.a)
    bindings = [{"device_id": device_id, "channel": "temp", "source": "freezer-01"}]
    response = await lab.client.put(f"/v1/storage/units/{unit}/bindings", json=bindings, headers=lab.tech)
    assert response.status_code == 200, response.text
    return unit, box, ids, Device(lab, device_id)


async def test_limit_alarms_on_a_bound_channel_open_and_close_an_excursion_that_remembers_its_samples(lab: Lab) -> None:
    unit, box, ids, device = await bound_freezer(lab, 3)
    await device.send(alarm("raised", "rate"), alarm("raised", "offline"), alarm("raised", channel="ambient"))
    await device.send(alarm("raised", device="freezer-02"))
    assert await lab.events("storage.excursion_started") == []  # rate, offline, unbound channel, other instrument

    await device.send(alarm("raised", "high"))
    await device.send(alarm("raised", "high_high"))
    started = await lab.events("storage.excursion_started")
    assert [(e.subject_id, e.payload["samples"], e.payload["rule"]) for e in started] == [(unit, 3, "high")]
    view = (await lab.client.get(f"/v1/storage/containers/{unit}", headers=lab.tech)).json()
    assert view["open_excursion"]["active_alarms"] == ["freezer-01/temp/high", "freezer-01/temp/high_high"]
    assert view["bindings"][0]["source"] == "freezer-01"

    late = await lab.samples(1)
    assert (await lab.place(box, (late[0], "H12"))).status_code == 200  # put in while it lasts: exposed too
    await device.send(alarm("cleared", "high"))
    assert await lab.events("storage.excursion_ended") == []  # high_high still raised
    await device.send(alarm("cleared", "high_high"))
    ended = await lab.events("storage.excursion_ended")
    assert [(e.subject_id, e.payload["samples"]) for e in ended] == [(unit, 3)]

    listed = (await lab.client.get(f"/v1/storage/units/{unit}/excursions", headers=lab.scientist)).json()
    assert [(x["open"], x["samples_at_start"], x["value"], x["limit"]) for x in listed] == [(False, 3, "-61.5", "-70")]
    assert listed[0]["started_at"] < listed[0]["ended_at"]
    detail = (await lab.client.get(f"/v1/storage/excursions/{listed[0]['id']}", headers=lab.tech)).json()
    assert sorted((s["sample_id"], s["joined"]) for s in detail["samples"]) == sorted(
        [*[(i, "start") for i in ids], (late[0], "placed")]
    )
    assert {a.record_id for a in await lab.audit("excursion_started")} == {unit}
    assert (await lab.client.get(f"/v1/storage/containers/{unit}", headers=lab.tech)).json()["open_excursion"] is None

    await device.send(alarm("raised", "low"))  # a new excursion: the samples inside now, four of them
    assert [e.payload["samples"] for e in await lab.events("storage.excursion_started")] == [3, 4]


async def test_a_hold_takes_every_holdable_sample_of_the_unit_or_of_an_excursion_in_one_action(lab: Lab) -> None:
    unit, _box, ids, device = await bound_freezer(lab, 5)
    await device.send(alarm("raised"))
    excursion = (await lab.client.get(f"/v1/storage/units/{unit}/excursions", headers=lab.tech)).json()[0]["id"]
    assert (await lab.post("removals", {"sample_ids": [ids[0]], "reason": "to the bench"})).status_code == 200
    async with lab.hub.state.db.transaction() as session:
        samples = lab.hub.state.samples
        await samples.transition_many(session, lab.admin, [ids[1]], SampleState.ON_HOLD, reason="QC query")
        await samples.transition_many(session, lab.admin, [ids[2]], SampleState.CONSUMED, reason="used up")

    assert "does not allow storage:write" in problem(
        await lab.post(f"units/{unit}/hold", {"reason": "excursion"}, lab.scientist), 403
    )
    response = await lab.post(f"units/{unit}/hold", {"reason": "freezer excursion 2026-03-01"})
    assert response.status_code == 200, response.text
    assert sorted(h["sample_id"] for h in response.json()["held"]) == sorted(ids[3:])
    # the consumed sample gave its position back when it was used up: no longer inside, so not skipped either
    assert [(s["sample_id"], s["state"]) for s in response.json()["skipped"]] == [(ids[1], "on_hold")]
    assert await lab.states(ids) == ["stored", "on_hold", "consumed", "on_hold", "on_hold"]

    # the excursion's own list reaches the sample taken out since it began
    by_excursion = await lab.post(f"units/{unit}/hold", {"reason": "exposed", "excursion_id": excursion})
    assert [h["sample_id"] for h in by_excursion.json()["held"]] == [ids[0]]
    assert len(by_excursion.json()["skipped"]) == 4
    assert await lab.states(ids[:1]) == ["on_hold"]
    holds = await lab.audit("hold")
    assert [(h.record_type, h.record_id) for h in holds] == [("storage_container", unit)] * 2
    assert len(await lab.events("storage.unit_held")) == 2
    assert "no excursion" in problem(
        await lab.post(f"units/{unit}/hold", {"reason": "exposed", "excursion_id": "nope"}), 404
    )


async def test_bindings_take_only_the_tenants_devices_and_a_channel_watches_one_unit(lab: Lab) -> None:
    unit, shelf, _ = await lab.freezer()
    other, _, _ = await lab.freezer("-20", "Freezer 2")
    mine, _ = await enrol_device(lab.hub, lab.a)
    theirs, _ = await enrol_device(lab.hub, lab.b)
    put = lab.client.put
    assert (
        await put(f"/v1/storage/units/{unit}/bindings", json=[{"device_id": mine, "channel": "temp"}], headers=lab.tech)
    ).status_code == 200
    bindings = (await lab.client.get(f"/v1/storage/units/{unit}/bindings", headers=lab.tech)).json()
    assert [(b["device_id"], b["source"], b["channel"]) for b in bindings] == [(mine, None, "temp")]
    clash = await put(
        f"/v1/storage/units/{other}/bindings", json=[{"device_id": mine, "channel": "temp"}], headers=lab.tech
    )
    assert "already watches Freezer 1" in problem(clash, 409)
    foreign = await put(
        f"/v1/storage/units/{other}/bindings", json=[{"device_id": theirs, "channel": "t"}], headers=lab.tech
    )
    assert f"no device {theirs}" in problem(foreign, 404)
    twice = [{"device_id": mine, "channel": "door"}, {"device_id": mine, "channel": "door"}]
    problem(await put(f"/v1/storage/units/{other}/bindings", json=twice, headers=lab.tech), 422)
    assert "no storage unit" in problem(
        await put(f"/v1/storage/units/{shelf}/bindings", json=[], headers=lab.tech), 404
    )
    assert (await put(f"/v1/storage/units/{unit}/bindings", json=[], headers=lab.tech)).json() == []
    assert len(await lab.audit("bind")) == 2


async def test_an_alarm_synced_by_the_edge_opens_and_closes_the_excursion(lab: Lab) -> None:
    state = lab.hub.state
    state.ingest.event_handlers.append(state.storage.on_device_events)
    unit, _, rack = await lab.freezer()
    box = await lab.box(rack)
    ids = await lab.samples(2)
    assert (await lab.place(box, (ids[0], "A1"), (ids[1], "A2"))).status_code == 200
    edge = Edge(lab.hub, "tracseq.test/edge/freezer-host")
    await edge.enroll(lab.hub.auth(lab.a.users[Role.ADMIN]), "freezer-host")
    put = await lab.client.put(
        f"/v1/storage/units/{unit}/bindings", json=[{"device_id": edge.id, "channel": "temp"}], headers=lab.tech
    )
    assert put.status_code == 200, put.text
    edge.append("observation", {"device": "freezer-01", "channel": "temp", "value": "-61.5", "unit": "Cel"})
    edge.append("alarm", alarm("raised"))
    assert (await edge.send(0, 2, edge.checkpoint(2))).status_code == 200
    started = await lab.events("storage.excursion_started")
    assert [(e.subject_id, e.payload["samples"], e.actor) for e in started] == [(unit, 2, "device:freezer-host")]
    edge.append("alarm", alarm("cleared"))
    assert (await edge.send(2, 3, edge.checkpoint(3))).status_code == 200
    assert [e.subject_id for e in await lab.events("storage.excursion_ended")] == [unit]
    assert (await edge.send(2, 3, edge.checkpoint(3))).status_code == 200  # a resend changes nothing
    assert len(await lab.events("storage.excursion_ended")) == 1
