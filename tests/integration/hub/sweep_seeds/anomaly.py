"""Anomaly records of tenant A for the sweep: a freezer bound to A's device with three days of its probe's readings
and a model trained on them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from hub.alerts.anomaly import AnomalyService
from hub.db.base import utcnow
from hub.db.ingest_models import Reading
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from hub.domain.storage.bindings import Binding
from hub.domain.storage.containers import NewContainer

Maker = Any
DAYS = 3


async def seed(hub: Any, tenant: Any, device_id: str) -> dict[str, str]:
    state = hub.state
    user = tenant.users[Role.ADMIN]
    admin = Principal("user", user.id, tenant.id, user.username, Role.ADMIN)
    now = utcnow()
    start = now - timedelta(days=DAYS, hours=1)
    async with state.db.transaction() as session:
        site = await state.storage.create_container(session, admin, NewContainer(kind="site", name="Anomaly site"))
        unit = await state.storage.create_container(
            session, admin, NewContainer(kind="freezer", name="Anomaly freezer", parent_id=site.id, zone="-80")
        )
        await state.storage.set_bindings(session, admin, unit.id, [Binding(device_id, "anomaly-temp", "freezer-a")])
        rows = [
            {
                "device_id": device_id,
                "seq": 1_000_000 + i,
                "tenant_id": tenant.id,
                "source": "freezer-a",
                "channel": "anomaly-temp",
                "value": f"{-80 + ((i * 7) % 11) / 10:.1f}",
                "unit": "Cel",
                "quality": "good",
                "ts": start + timedelta(minutes=5 * i),
            }
            for i in range((DAYS * 24 + 1) * 12)
        ]
        await session.execute(insert(Reading), rows)
        model = await AnomalyService(state.db, state.audit).train(
            session, tenant.id, unit.id, actor=admin.label, days=DAYS
        )
    return {"anomaly_unit_id": unit.id, "anomaly_model_id": model.id}


BODIES: dict[tuple[str, str], Maker] = {
    ("POST", "/v1/anomaly/units/{anomaly_unit_id}/train"): lambda w: {"days": DAYS},
}
