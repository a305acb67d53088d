"""Anomaly models against the database: trained from a unit's bound channels through the API, versioned, scored
on new windows with a hold time, raising and clearing one low-severity alert for the unit, and invisible to other
tenants."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from hub.alerts.anomaly import AnomalyService, alert_key
from hub.api.routes import anomaly
from hub.db.alerts_models import Alert
from hub.db.ingest_models import Reading
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from hub.domain.storage.bindings import Binding
from hub.domain.storage.containers import NewContainer
from protocol import SigningKey
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 3, 2, tzinfo=UTC)
TRAINED_TO = T0 + timedelta(days=3)


@dataclass
class Lab:
    hub: RunningHub
    alpha: SeededTenant
    beta: SeededTenant
    device_id: str
    unit_id: str
    seq: int = 0

    async def log(self, start: datetime, hours: float, offset: float = 0.0) -> None:
        """The freezer's probe every 2 minutes (a 150 s sawtooth between -81.5 and -78.5 °C, plus ``offset``) and a
        door opened for a minute every 5 hours."""
        rows = []
        jitter = random.Random(start.timestamp())
        for i in range(int(hours * 30)):
            at = start + timedelta(minutes=2 * i, seconds=jitter.uniform(0, 30))
            phase = (at.timestamp() % 150) / 150
            temp = -81.5 + 3 * (phase / 0.67 if phase < 0.67 else (1 - phase) / 0.33) + offset + jitter.gauss(0, 0.1)
            rows.append(self._row(at, "temp", f"{temp:.2f}", "Cel"))
            if i % 150 == 0:
                rows += [self._row(at, "door", "1", ""), self._row(at + timedelta(minutes=1), "door", "0", "")]
        async with self.hub.state.db.transaction() as session:
            await session.execute(insert(Reading), rows)

    def _row(self, at: datetime, channel: str, value: str, unit: str) -> dict[str, object]:
        self.seq += 1
        return {
            "device_id": self.device_id,
            "seq": self.seq,
            "tenant_id": self.alpha.id,
            "source": "freezer-1",
            "channel": channel,
            "value": value,
            "unit": unit,
            "quality": "good",
            "ts": at,
        }

    def auth(self, role: Role = Role.ADMIN, tenant: str = "alpha") -> dict[str, str]:
        return self.hub.auth((self.alpha if tenant == "alpha" else self.beta).users[role])


@pytest.fixture
async def lab(db_url: str, tmp_path: Path) -> AsyncIterator[Lab]:
    async with running_hub(hub_settings(db_url, tmp_path, alerts_in_process=False)) as hub:
        hub.app.include_router(anomaly.router)  # until app.py includes it
        tenants = await seed(hub.state)
        alpha = tenants["alpha-lab"]
        user = alpha.users[Role.ADMIN]
        admin = Principal("user", user.id, alpha.id, user.username, Role.ADMIN)
        async with hub.state.db.transaction() as session:
            token, _ = await hub.state.devices.create_enrollment_token(session, admin)
            origin = "tracseq.local/edge/anomaly-gw"
            device, _ = await hub.state.devices.enroll(
                session,
                token=token,
                name="anomaly-gw",
                origin=origin,
                public_key=SigningKey.generate(origin).verifier.vkey,
            )
            site = await hub.state.storage.create_container(session, admin, NewContainer(kind="site", name="Site"))
            unit = await hub.state.storage.create_container(
                session, admin, NewContainer(kind="freezer", name="Freezer 7", parent_id=site.id, zone="-80")
            )
            await hub.state.storage.set_bindings(
                session,
                admin,
                unit.id,
                [Binding(device.id, "temp", "freezer-1"), Binding(device.id, "door", "freezer-1")],
            )
        lab = Lab(hub, alpha, tenants["beta-lab"], device.id, unit.id)
        await lab.log(T0, 72)
        yield lab


async def test_a_unit_trained_on_its_history_flags_a_drift_after_the_hold_and_clears_on_retraining(lab: Lab) -> None:
    client, url = lab.hub.client, f"/v1/anomaly/units/{lab.unit_id}"
    trained = await client.post(
        f"{url}/train", json={"days": 3, "until": TRAINED_TO.isoformat()}, headers=lab.auth(Role.FACILITIES)
    )
    assert trained.status_code == 201, trained.text
    model = trained.json()
    assert (model["version"], model["active"], model["window_s"], model["hold"]) == (1, True, 3600, 3)
    assert model["metrics"]["windows"] == 72
    assert "recovery_s" in model["metrics"]["enabled"]
    assert model["metrics"]["channels"]["door"][0]["channel"] == "door"

    service = AnomalyService(lab.hub.state.db, lab.hub.state.audit)
    await lab.log(TRAINED_TO, 2)
    await lab.log(TRAINED_TO + timedelta(hours=2), 4, offset=2.0)  # the probe reads 2 °C warmer
    assert await service.score_all(TRAINED_TO + timedelta(hours=4, minutes=5)) == 3  # the lag holds back hour 4
    async with lab.hub.state.db.read() as session:
        assert (await session.execute(select(Alert))).scalars().all() == []  # two anomalous hours: not yet
    assert await service.score_all(TRAINED_TO + timedelta(hours=5, minutes=15)) == 2

    current = (await client.get(url, headers=lab.auth(Role.TECHNICIAN))).json()
    assert (current["flagged"], current["anomalous_streak"], current["last_feature"]) == (True, 3, "mean_c")
    assert current["last_score"] > current["threshold"]
    async with lab.hub.state.db.read() as session:
        alert = (await session.execute(select(Alert))).scalar_one()
    assert (alert.origin, alert.severity, alert.state, alert.unit_id) == ("anomaly", "warning", "firing", lab.unit_id)
    assert alert.dedup_key == alert_key(lab.unit_id)
    assert alert.group_key == f"unit:{lab.unit_id}"
    assert "Freezer 7: mean temperature unlike its own history" in alert.title

    again = await client.post(
        f"{url}/train",
        json={"days": 3, "until": TRAINED_TO.isoformat(), "reason": "probe replaced"},
        headers=lab.auth(),
    )
    assert again.json()["version"] == 2
    versions = (await client.get("/v1/anomaly/models", params={"unit_id": lab.unit_id}, headers=lab.auth())).json()
    assert [(m["version"], m["active"]) for m in versions] == [(2, True), (1, False)]
    async with lab.hub.state.db.read() as session:
        assert (await session.execute(select(Alert.state))).scalar_one() == "resolved"


async def test_training_needs_history_a_temperature_binding_and_the_right_tenant_and_role(lab: Lab) -> None:
    client, url = lab.hub.client, f"/v1/anomaly/units/{lab.unit_id}"
    short = await client.post(f"{url}/train", json={"days": 2, "until": T0.isoformat()}, headers=lab.auth())
    assert short.status_code == 422
    assert "usable windows" in short.json()["detail"]
    assert (await client.post(f"{url}/train", json={}, headers=lab.auth(Role.TECHNICIAN))).status_code == 403
    assert (await client.post(f"{url}/train", json={}, headers=lab.auth(tenant="beta"))).status_code == 404
    trained = await client.post(f"{url}/train", json={"days": 3, "until": TRAINED_TO.isoformat()}, headers=lab.auth())
    model_id = trained.json()["id"]
    assert (await client.get(url, headers=lab.auth(tenant="beta"))).status_code == 404
    assert (await client.get(f"/v1/anomaly/models/{model_id}", headers=lab.auth(tenant="beta"))).status_code == 404
    assert (await client.get("/v1/anomaly/models", headers=lab.auth(tenant="beta"))).json() == []
    assert (await client.get(f"/v1/anomaly/models/{model_id}", headers=lab.auth(Role.TECHNICIAN))).status_code == 200
