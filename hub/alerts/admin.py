"""What people configure: rules, escalation policies, rotas and the holiday calendar, maintenance silences and
webhook subscriptions. Every change is audited in the caller's transaction (changes and cancellations with a
reason); every id a configuration names must belong to the tenant.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.escalation import PolicySpec, RotaSpec
from hub.alerts.escalator import HELD_BY_SILENCE
from hub.alerts.lifecycle import AlertState
from hub.alerts.rules import SEVERITIES, parse_params
from hub.alerts.suppression import Matcher
from hub.audit.trail import AuditTrail
from hub.db.alerts_models import Alert, AlertHoliday, AlertPolicy, AlertRota, AlertRule, AlertSilence, AlertWebhook
from hub.db.base import utcnow
from hub.db.models import Device, User
from hub.db.storage_models import StorageContainer
from hub.domain.identity import Principal
from hub.errors import ConflictError, NotFoundError, ValidationFailedError

LONGEST_SILENCE = timedelta(days=30)
_Model = AlertRule | AlertPolicy | AlertRota | AlertSilence | AlertWebhook


@dataclass(frozen=True)
class RuleFields:
    name: str
    kind: str
    severity: str
    params: dict[str, Any]
    device_id: str | None = None
    source: str | None = None
    channel: str | None = None
    enabled: bool = True


class AlertAdmin:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit

    async def _get(self, session: AsyncSession, model: type[_Model], tenant_id: str, record_id: str, what: str) -> Any:
        row = (
            await session.execute(
                select(model).where(model.tenant_id == tenant_id, model.id == record_id).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no {what} {record_id}")
        return row

    async def _unique_name(self, session: AsyncSession, model: type[_Model], tenant_id: str, name: str) -> None:
        taken = (
            await session.execute(select(model.id).where(model.tenant_id == tenant_id, model.name == name))  # type: ignore[union-attr]
        ).first()
        if taken is not None:
            raise ConflictError(f"a {model.__tablename__.removeprefix('alert_').rstrip('s')} named {name!r} exists")

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        record_type: str,
        record_id: str,
        *,
        reason: str | None = None,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
    ) -> None:
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action=action,
            record_type=record_type,
            record_id=record_id,
            reason=reason,
            old=old,
            new=new,
        )

    # -- rules ------------------------------------------------------------------------------------------------

    async def create_rule(self, session: AsyncSession, principal: Principal, fields: RuleFields) -> AlertRule:
        params = parse_params(fields.kind, fields.params)
        _check_severity(fields.severity)
        await self._device(session, principal.tenant_id, fields.device_id)
        await self._unique_name(session, AlertRule, principal.tenant_id, fields.name)
        now = utcnow()
        rule = AlertRule(
            tenant_id=principal.tenant_id,
            name=fields.name,
            kind=fields.kind,
            severity=fields.severity,
            device_id=fields.device_id,
            source=fields.source,
            channel=fields.channel,
            params=params.model_dump(),
            enabled=fields.enabled,
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(rule)
        await session.flush()
        await self._record(session, principal, "create", "alert_rule", rule.id, new=rule_public(rule))
        return rule

    async def update_rule(
        self, session: AsyncSession, principal: Principal, rule_id: str, reason: str, changes: dict[str, Any]
    ) -> AlertRule:
        rule: AlertRule = await self._get(session, AlertRule, principal.tenant_id, rule_id, "alert rule")
        old = rule_public(rule)
        if "name" in changes and changes["name"] != rule.name:
            await self._unique_name(session, AlertRule, principal.tenant_id, changes["name"])
            rule.name = changes["name"]
        if "severity" in changes:
            rule.severity = _check_severity(changes["severity"])
        if "params" in changes:
            rule.params = parse_params(rule.kind, changes["params"]).model_dump()
        if "enabled" in changes:
            rule.enabled = bool(changes["enabled"])
        rule.updated_at = utcnow()
        await self._record(
            session, principal, "update", "alert_rule", rule.id, reason=reason, old=old, new=rule_public(rule)
        )
        return rule

    async def _check_matcher(self, session: AsyncSession, tenant_id: str, matcher: Matcher) -> None:
        """A matcher may only name the tenant's own devices, rules and storage units."""
        await self._device(session, tenant_id, matcher.device_id)
        for model, value, what in (
            (AlertRule, matcher.rule_id, "alert rule"),
            (StorageContainer, matcher.unit_id, "storage unit"),
        ):
            if value is None:
                continue
            found = (
                await session.execute(select(model.id).where(model.tenant_id == tenant_id, model.id == value))
            ).first()
            if found is None:
                raise NotFoundError(f"no {what} {value}")

    async def _device(self, session: AsyncSession, tenant_id: str, device_id: str | None) -> None:
        if device_id is None:
            return
        found = (
            await session.execute(select(Device.id).where(Device.tenant_id == tenant_id, Device.id == device_id))
        ).first()
        if found is None:
            raise NotFoundError(f"no device {device_id}")

    # -- policies and rotas -----------------------------------------------------------------------------------

    async def _people(self, session: AsyncSession, tenant_id: str, user_ids: set[str]) -> None:
        if not user_ids:
            return
        known = set(
            (
                await session.execute(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(list(user_ids))))
            ).scalars()
        )
        missing = sorted(user_ids - known)
        if missing:
            raise NotFoundError(f"no user {', '.join(missing[:20])}", missing=missing[:100])

    async def _rotas(self, session: AsyncSession, tenant_id: str, rota_ids: set[str]) -> None:
        if not rota_ids:
            return
        known = set(
            (
                await session.execute(
                    select(AlertRota.id).where(AlertRota.tenant_id == tenant_id, AlertRota.id.in_(list(rota_ids)))
                )
            ).scalars()
        )
        missing = sorted(rota_ids - known)
        if missing:
            raise NotFoundError(f"no rota {', '.join(missing[:20])}", missing=missing[:100])

    async def _check_policy(self, session: AsyncSession, tenant_id: str, spec: PolicySpec) -> None:
        await self._people(session, tenant_id, {u for t in spec.tiers for u in t.users})
        await self._rotas(session, tenant_id, {r for t in spec.tiers for r in t.rotas})

    async def create_policy(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        name: str,
        position: int,
        matcher: Matcher,
        spec: PolicySpec,
        enabled: bool = True,
    ) -> AlertPolicy:
        await self._check_policy(session, principal.tenant_id, spec)
        await self._check_matcher(session, principal.tenant_id, matcher)
        await self._unique_name(session, AlertPolicy, principal.tenant_id, name)
        now = utcnow()
        policy = AlertPolicy(
            tenant_id=principal.tenant_id,
            name=name,
            position=position,
            matcher=matcher.given(),
            tiers={"tiers": [t.model_dump(mode="json") for t in spec.tiers]},
            repeat_every_s=spec.repeat_every_s,
            max_repeats=spec.max_repeats,
            enabled=enabled,
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(policy)
        await session.flush()
        await self._record(session, principal, "create", "alert_policy", policy.id, new=policy_public(policy))
        return policy

    async def update_policy(
        self, session: AsyncSession, principal: Principal, policy_id: str, reason: str, changes: dict[str, Any]
    ) -> AlertPolicy:
        policy: AlertPolicy = await self._get(session, AlertPolicy, principal.tenant_id, policy_id, "policy")
        old = policy_public(policy)
        if "name" in changes and changes["name"] != policy.name:
            await self._unique_name(session, AlertPolicy, principal.tenant_id, changes["name"])
            policy.name = changes["name"]
        if "position" in changes:
            policy.position = int(changes["position"])
        if "matcher" in changes:
            matcher = Matcher.model_validate(changes["matcher"])
            await self._check_matcher(session, principal.tenant_id, matcher)
            policy.matcher = matcher.given()
        if "enabled" in changes:
            policy.enabled = bool(changes["enabled"])
        if any(k in changes for k in ("tiers", "repeat_every_s", "max_repeats")):
            spec = PolicySpec(
                tiers=changes.get("tiers", tuple(policy.tiers.get("tiers", []))),
                repeat_every_s=changes.get("repeat_every_s", policy.repeat_every_s),
                max_repeats=changes.get("max_repeats", policy.max_repeats),
            )
            await self._check_policy(session, principal.tenant_id, spec)
            policy.tiers = {"tiers": [t.model_dump(mode="json") for t in spec.tiers]}
            policy.repeat_every_s, policy.max_repeats = spec.repeat_every_s, spec.max_repeats
        policy.updated_at = utcnow()
        await self._record(
            session, principal, "update", "alert_policy", policy.id, reason=reason, old=old, new=policy_public(policy)
        )
        return policy

    async def create_rota(self, session: AsyncSession, principal: Principal, *, name: str, spec: RotaSpec) -> AlertRota:
        await self._people(session, principal.tenant_id, {u for s in spec.shifts for u in s.users})
        await self._unique_name(session, AlertRota, principal.tenant_id, name)
        now = utcnow()
        rota = AlertRota(
            tenant_id=principal.tenant_id,
            name=name,
            time_zone=spec.time_zone,
            shifts={"shifts": [s.model_dump(mode="json") for s in spec.shifts]},
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(rota)
        await session.flush()
        await self._record(session, principal, "create", "alert_rota", rota.id, new=rota_public(rota))
        return rota

    async def update_rota(
        self,
        session: AsyncSession,
        principal: Principal,
        rota_id: str,
        reason: str,
        *,
        name: str | None = None,
        spec: RotaSpec | None = None,
    ) -> AlertRota:
        rota: AlertRota = await self._get(session, AlertRota, principal.tenant_id, rota_id, "rota")
        old = rota_public(rota)
        if name is not None and name != rota.name:
            await self._unique_name(session, AlertRota, principal.tenant_id, name)
            rota.name = name
        if spec is not None:
            await self._people(session, principal.tenant_id, {u for s in spec.shifts for u in s.users})
            rota.time_zone = spec.time_zone
            rota.shifts = {"shifts": [s.model_dump(mode="json") for s in spec.shifts]}
        rota.updated_at = utcnow()
        await self._record(
            session, principal, "update", "alert_rota", rota.id, reason=reason, old=old, new=rota_public(rota)
        )
        return rota

    async def replace_holidays(
        self, session: AsyncSession, principal: Principal, reason: str, holidays: Sequence[tuple[date, str]]
    ) -> list[AlertHoliday]:
        days = [d for d, _ in holidays]
        if len(set(days)) < len(days):
            raise ValidationFailedError("a day appears twice in the holiday calendar")
        old = await self.holidays(session, principal.tenant_id)
        await session.execute(delete(AlertHoliday).where(AlertHoliday.tenant_id == principal.tenant_id))
        rows = [AlertHoliday(tenant_id=principal.tenant_id, day=d, name=n) for d, n in sorted(holidays)]
        session.add_all(rows)
        await session.flush()
        await self._record(
            session,
            principal,
            "update",
            "alert_holidays",
            principal.tenant_id,
            reason=reason,
            old={"holidays": [[h.day, h.name] for h in old]},
            new={"holidays": [[h.day, h.name] for h in rows]},
        )
        return rows

    async def holidays(self, session: AsyncSession, tenant_id: str) -> list[AlertHoliday]:
        rows = await session.execute(
            select(AlertHoliday).where(AlertHoliday.tenant_id == tenant_id).order_by(AlertHoliday.day)
        )
        return list(rows.scalars())

    # -- silences ---------------------------------------------------------------------------------------------

    async def create_silence(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        matcher: Matcher,
        reason: str,
        ends_at: datetime,
        starts_at: datetime | None = None,
        owner_id: str | None = None,
    ) -> AlertSilence:
        """A maintenance silence: an owner (the caller unless named), a reason, a matcher, an end."""
        if matcher.empty:
            raise ValidationFailedError("a silence needs a matcher: an empty one would silence every alert")
        now = utcnow()
        starts = starts_at or now
        if ends_at <= max(starts, now):
            raise ValidationFailedError(f"the silence ends ({ends_at.isoformat()}) before it would start or now")
        if ends_at - starts > LONGEST_SILENCE:
            raise ValidationFailedError(f"a silence lasts at most {LONGEST_SILENCE.days} days; renew it if needed")
        await self._check_matcher(session, principal.tenant_id, matcher)
        owner = owner_id or (principal.id if principal.kind == "user" else None)
        if owner is None:
            raise ValidationFailedError("a silence needs an owner")
        await self._people(session, principal.tenant_id, {owner})
        silence = AlertSilence(
            tenant_id=principal.tenant_id,
            owner_id=owner,
            reason=reason,
            matcher=matcher.given(),
            starts_at=starts,
            ends_at=ends_at,
            created_by=principal.label,
            created_at=now,
        )
        session.add(silence)
        await session.flush()
        await self._record(
            session, principal, "silence", "alert_silence", silence.id, reason=reason, new=silence_public(silence)
        )
        return silence

    async def cancel_silence(
        self, session: AsyncSession, principal: Principal, silence_id: str, reason: str
    ) -> AlertSilence:
        silence: AlertSilence = await self._get(session, AlertSilence, principal.tenant_id, silence_id, "silence")
        now = utcnow()
        if silence.cancelled_at is not None or silence.ends_at <= now:
            raise ConflictError(f"silence {silence_id} has already ended")
        old = silence_public(silence)
        silence.cancelled_at, silence.cancelled_by = now, principal.label
        await session.execute(  # what it held is looked at again now (another silence may still hold it)
            update(Alert)
            .where(
                Alert.tenant_id == principal.tenant_id,
                Alert.state == AlertState.FIRING.value,
                Alert.held_by == HELD_BY_SILENCE,
            )
            .values(next_action_at=now)
            .execution_options(synchronize_session=False)
        )
        await self._record(
            session,
            principal,
            "cancel",
            "alert_silence",
            silence.id,
            reason=reason,
            old=old,
            new=silence_public(silence),
        )
        return silence

    # -- webhooks ---------------------------------------------------------------------------------------------

    async def create_webhook(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        name: str,
        url: str,
        event_types: Sequence[str],
        secret: str | None = None,
    ) -> AlertWebhook:
        await self._unique_name(session, AlertWebhook, principal.tenant_id, name)
        now = utcnow()
        subscription = AlertWebhook(
            tenant_id=principal.tenant_id,
            name=name,
            url=url,
            secret=secret or secrets.token_urlsafe(32),
            event_types={"types": sorted(set(event_types))},
            enabled=True,
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(subscription)
        await session.flush()
        await self._record(
            session, principal, "create", "alert_webhook", subscription.id, new={"name": name, "url": url}
        )
        return subscription

    async def update_webhook(
        self,
        session: AsyncSession,
        principal: Principal,
        subscription_id: str,
        reason: str,
        *,
        url: str | None = None,
        enabled: bool | None = None,
        event_types: Sequence[str] | None = None,
        rotate_secret: bool = False,
    ) -> AlertWebhook:
        subscription: AlertWebhook = await self._get(
            session, AlertWebhook, principal.tenant_id, subscription_id, "webhook subscription"
        )
        old = {"url": subscription.url, "enabled": subscription.enabled, "types": subscription.event_types}
        if url is not None:
            subscription.url = url
        if enabled is not None:
            subscription.enabled = enabled
        if event_types is not None:
            subscription.event_types = {"types": sorted(set(event_types))}
        if rotate_secret:
            subscription.secret = secrets.token_urlsafe(32)
        subscription.updated_at = utcnow()
        new = {
            "url": subscription.url,
            "enabled": subscription.enabled,
            "types": subscription.event_types,
            "secret_rotated": rotate_secret,
        }
        await self._record(
            session, principal, "update", "alert_webhook", subscription.id, reason=reason, old=old, new=new
        )
        return subscription


def _check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise ValidationFailedError(f"severity is one of {', '.join(SEVERITIES)}, not {severity!r}")
    return severity


def rule_public(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind,
        "severity": rule.severity,
        "device_id": rule.device_id,
        "source": rule.source,
        "channel": rule.channel,
        "params": dict(rule.params),
        "enabled": rule.enabled,
        "created_by": rule.created_by,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def policy_public(policy: AlertPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "name": policy.name,
        "position": policy.position,
        "matcher": dict(policy.matcher),
        "tiers": list(policy.tiers.get("tiers", [])),
        "repeat_every_s": policy.repeat_every_s,
        "max_repeats": policy.max_repeats,
        "enabled": policy.enabled,
        "created_by": policy.created_by,
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
    }


def rota_public(rota: AlertRota) -> dict[str, Any]:
    return {
        "id": rota.id,
        "name": rota.name,
        "time_zone": rota.time_zone,
        "shifts": list(rota.shifts.get("shifts", [])),
        "created_by": rota.created_by,
        "created_at": rota.created_at,
        "updated_at": rota.updated_at,
    }


def silence_public(silence: AlertSilence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "owner_id": silence.owner_id,
        "reason": silence.reason,
        "matcher": dict(silence.matcher),
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "created_by": silence.created_by,
        "created_at": silence.created_at,
        "cancelled_at": silence.cancelled_at,
        "cancelled_by": silence.cancelled_by,
    }
