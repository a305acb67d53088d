"""Alerts for the sweep: a firing alert of tenant A's device, a rule, a rota, a policy, a silence and a webhook
subscription; bodies that reach each handler; the feed asked for its backlog only, so the sweep never waits on it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hub.alerts import AlertBook, Condition, PolicySpec, RotaSpec, ShiftSpec, TierSpec
from hub.alerts.admin import AlertAdmin, RuleFields
from hub.alerts.suppression import Matcher
from hub.db.base import utcnow
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from tests.integration.hub.harness import RunningHub, SeededTenant

EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]:
    manager = tenant.users[Role.LAB_MANAGER]
    principal = Principal("user", manager.id, tenant.id, manager.username, Role.LAB_MANAGER)
    technician = tenant.users[Role.TECHNICIAN].id
    admin = AlertAdmin(hub.state.audit)
    now = utcnow()
    async with hub.state.db.transaction() as session:
        rule = await admin.create_rule(
            session,
            principal,
            RuleFields(
                name="freezer too warm",
                kind="limit",
                severity="alarm",
                device_id=device_id,
                channel="temp",
                params={"direction": "high", "limit": "-70", "delay_s": 300, "hysteresis": "2"},
            ),
        )
        rota = await admin.create_rota(
            session,
            principal,
            name="facilities",
            spec=RotaSpec(
                time_zone="Europe/Berlin",
                shifts=(
                    ShiftSpec(
                        name="all", weekdays=frozenset(EVERY_DAY), start="00:00", end="24:00", users=(technician,)
                    ),
                ),
            ),
        )
        policy = await admin.create_policy(
            session,
            principal,
            name="freezers",
            position=10,
            matcher=Matcher(device_id=device_id),
            spec=PolicySpec(tiers=(TierSpec(delay_s=0, users=(technician,)), TierSpec(delay_s=600, rotas=(rota.id,)))),
        )
        silence = await admin.create_silence(
            session,
            principal,
            matcher=Matcher(device_id=device_id, source="freezer-2"),
            reason="defrost service",
            ends_at=now + timedelta(days=1),
        )
        subscription = await admin.create_webhook(
            session, principal, name="bms", url="http://127.0.0.1:9/alerts", event_types=["alert.firing"]
        )
        alert = await AlertBook(hub.state.audit).open(
            session,
            Condition(
                tenant_id=tenant.id,
                dedup_key=f"edge:{device_id}:freezer-1/temp/high",
                origin="edge",
                kind="high",
                severity="alarm",
                title="freezer-1 temp -65 above -70",
                started_at=now,
                device_id=device_id,
                source="freezer-1",
                channel="temp",
                value="-65",
                limit="-70",
            ),
            now,
        )
    return {
        "alert_id": alert.id,
        "rule_id": rule.id,
        "rota_id": rota.id,
        "policy_id": policy.id,
        "silence_id": silence.id,
        "subscription_id": subscription.id,
    }


def _rule(w: Any) -> dict[str, Any]:
    return {
        "name": "sweep rule",
        "kind": "limit",
        "device_id": w.path_ids["device_id"],
        "params": {"direction": "low", "limit": "-90", "delay_s": 0},
    }


def _policy(w: Any) -> dict[str, Any]:
    return {"name": "sweep policy", "tiers": [{"delay_s": 0, "users": [w.path_ids["user_id"]]}]}


def _rota(w: Any) -> dict[str, Any]:
    shift = {"name": "day", "weekdays": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}
    return {"name": "sweep rota", "time_zone": "UTC", "shifts": [{**shift, "users": [w.path_ids["user_id"]]}]}


def _silence(w: Any) -> dict[str, Any]:
    ends = (utcnow() + timedelta(hours=2)).isoformat()
    return {"reason": "sweep maintenance", "matcher": {"device_id": w.path_ids["device_id"]}, "ends_at": ends}


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): lambda w: {"comment": "sweep: on it"},
    ("POST", "/v1/alerts/{alert_id}/resolve"): lambda w: {"comment": "sweep: closed"},
    ("POST", "/v1/alerts/rules"): _rule,
    ("PATCH", "/v1/alerts/rules/{rule_id}"): lambda w: {"reason": "tenant sweep", "enabled": False},
    ("POST", "/v1/alerts/policies"): _policy,
    ("PATCH", "/v1/alerts/policies/{policy_id}"): lambda w: {"reason": "tenant sweep", "position": 5},
    ("POST", "/v1/alerts/rotas"): _rota,
    ("PATCH", "/v1/alerts/rotas/{rota_id}"): lambda w: {"reason": "tenant sweep", "name": "renamed rota"},
    ("PUT", "/v1/alerts/holidays"): lambda w: {
        "reason": "tenant sweep",
        "holidays": [{"day": "2026-12-25", "name": "Christmas Day"}],
    },
    ("POST", "/v1/alerts/silences"): _silence,
    ("POST", "/v1/alerts/silences/{silence_id}/cancel"): lambda w: {"reason": "tenant sweep"},
    ("POST", "/v1/alerts/webhooks"): lambda w: {"name": "sweep hook", "url": "http://127.0.0.1:9/sweep"},
    ("PATCH", "/v1/alerts/webhooks/{subscription_id}"): lambda w: {"reason": "tenant sweep", "enabled": False},
}
QUERIES: dict[tuple[str, str], Any] = {
    ("GET", "/v1/alerts/stream"): lambda w: {"once": "true"},
    ("GET", "/v1/alerts/rotas/{rota_id}/on-call"): lambda w: {"at": "2026-03-02T09:00:00Z"},
}
