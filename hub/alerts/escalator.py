"""Taking escalation steps: for a firing alert whose next step is due, find who the step names (people, and whoever
the named rotas have on call now), queue their messages, record the step, schedule the next.

Each step is one row keyed (alert, tier, round) and is written in the same transaction as its messages and the
alert's step counter, so a restart either finds the step done or not done, never half: no step is lost, none sent
twice (the notifications outbox is keyed on the same key as a second guard). A silence holds the step until it
ends; a flapping alert takes no steps (its one notice went to the first tier when it started flapping).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.book import SYSTEM, AlertBook, labels, public
from hub.alerts.escalation import (
    PolicySpec,
    RotaSpec,
    StepRef,
    delay_before,
    next_due,
    on_call,
    step_key,
    step_ref,
)
from hub.alerts.lifecycle import AlertState
from hub.alerts.paging import Pager, page
from hub.alerts.suppression import Matcher, matches
from hub.db.alerts_models import Alert, AlertHoliday, AlertPolicy, AlertRota, AlertSilence, AlertStep
from hub.events.outbox import record_event

logger = logging.getLogger(__name__)

HELD_BY_SILENCE = "silence"


async def active_silences(session: AsyncSession, tenant_id: str, now: datetime) -> list[AlertSilence]:
    rows = await session.execute(
        select(AlertSilence).where(
            AlertSilence.tenant_id == tenant_id,
            AlertSilence.starts_at <= now,
            AlertSilence.ends_at > now,
            AlertSilence.cancelled_at.is_(None),
        )
    )
    return list(rows.scalars())


def silencing(silences: list[AlertSilence], alert: Alert) -> list[AlertSilence]:
    found = labels(alert)
    return [s for s in silences if matches(Matcher.model_validate(s.matcher), found)]


async def choose_policy(session: AsyncSession, alert: Alert) -> AlertPolicy | None:
    rows = await session.execute(
        select(AlertPolicy)
        .where(AlertPolicy.tenant_id == alert.tenant_id, AlertPolicy.enabled.is_(True))
        .order_by(AlertPolicy.position, AlertPolicy.name)
    )
    found = labels(alert)
    for policy in rows.scalars():
        if matches(Matcher.model_validate(policy.matcher), found):
            return policy
    return None


def policy_spec(policy: AlertPolicy) -> PolicySpec:
    return PolicySpec(
        tiers=tuple(policy.tiers.get("tiers", [])),
        repeat_every_s=policy.repeat_every_s,
        max_repeats=policy.max_repeats,
    )


class Escalator:
    def __init__(self, book: AlertBook, *, pager: Pager = page, grace: timedelta = timedelta(seconds=30)) -> None:
        self.book = book
        self.pager = pager
        self.grace = grace

    async def advance(self, session: AsyncSession, alert: Alert, now: datetime) -> None:
        """Whatever is due for ``alert`` at ``now``: a pending alert fires (or stays held), a firing one takes
        its next step."""
        if alert.state == AlertState.PENDING.value:
            await self.book.advance_pending(session, alert, now)
            if alert.state != AlertState.FIRING.value:
                return
        if alert.state != AlertState.FIRING.value:
            alert.next_action_at = None
            return
        if alert.next_action_at is not None and alert.next_action_at > now:
            return
        if alert.policy_id is None and alert.steps_taken == 0:
            await self._start(session, alert, now)
            return
        await self._step(session, alert, now)

    async def _start(self, session: AsyncSession, alert: Alert, now: datetime) -> None:
        """Just fired: choose the policy; a flapping alert sends its one notice to the first tier instead."""
        policy = await choose_policy(session, alert)
        if policy is None:
            alert.next_action_at = None
            logger.info("alert %s (%s) matches no escalation policy", alert.id, alert.dedup_key)
            return
        alert.policy_id = policy.id
        spec = policy_spec(policy)
        if alert.flapping:
            alert.next_action_at = None
            if alert.details.get("flapping_notice"):
                await self._send(session, alert, spec, 0, 0, now, kind="flapping")
            return
        alert.next_action_at = (alert.fired_at or now) + delay_before(spec, 0)
        if alert.next_action_at <= now:
            await self._step(session, alert, now)

    async def _step(self, session: AsyncSession, alert: Alert, now: datetime) -> None:
        policy = await session.get(AlertPolicy, alert.policy_id) if alert.policy_id else None
        if policy is None or policy.tenant_id != alert.tenant_id or not policy.enabled:
            alert.next_action_at = None
            return
        spec = policy_spec(policy)
        ref = step_ref(spec, alert.steps_taken)
        if ref is None:
            alert.next_action_at = None
            return
        held = silencing(await active_silences(session, alert.tenant_id, now), alert)
        if held:  # until the silence ends; cancelling it early releases the alert (``AlertAdmin.cancel_silence``)
            alert.held_by = HELD_BY_SILENCE
            alert.next_action_at = min(s.ends_at for s in held)
            return
        alert.held_by = None
        due = alert.next_action_at or now
        reached = await self._send(session, alert, spec, ref.tier, ref.repeat, now, kind="escalation", due=due)
        alert.steps_taken += 1
        following = step_ref(spec, alert.steps_taken)
        if following is None:
            alert.next_action_at = None
        elif reached == 0 and following.repeat == ref.repeat:
            alert.next_action_at = now  # nobody could be reached: on up the chain at once
        else:
            alert.next_action_at = next_due(due, now, delay_before(spec, alert.steps_taken), self.grace)
        alert.updated_at = now

    async def _send(
        self,
        session: AsyncSession,
        alert: Alert,
        spec: PolicySpec,
        tier: int,
        repeat: int,
        now: datetime,
        *,
        kind: str,
        due: datetime | None = None,
    ) -> int:
        """Queue one step's messages and record it; returns how many messages stand for it (0 when it was taken
        before: nothing is queued again)."""
        key = step_key(alert.id, StepRef(alert.steps_taken, tier, repeat))
        if kind == "flapping":
            key = f"{alert.id}/flapping"
        taken = (await session.execute(select(AlertStep.id).where(AlertStep.step_key == key))).first()
        if taken is not None:
            return 1
        users, rotas = await self._targets(session, alert.tenant_id, spec, tier, now)
        people = list(dict.fromkeys([*users, *(u for names in rotas.values() for u in names)]))
        notification = (
            "alert.flapping"
            if kind == "flapping"
            else "alert.raised"
            if (tier, repeat) == (0, 0)
            else ("alert.escalated")
        )
        context = _context(alert, tier, repeat)
        reached = 0
        for user_id in people:
            reached += await self.pager(
                session,
                tenant_id=alert.tenant_id,
                user_id=user_id,
                kind=notification,
                severity=alert.severity,
                dedup_key=key,
                context=context,
            )
        session.add(
            AlertStep(
                tenant_id=alert.tenant_id,
                alert_id=alert.id,
                step_key=key,
                kind=kind,
                tier=tier,
                repeat=repeat,
                targets={"users": people, "rotas": rotas, "messages": reached},
                due_at=due or now,
                taken_at=now,
            )
        )
        await self.book.audit.record(
            session,
            tenant_id=alert.tenant_id,
            actor=SYSTEM,
            action="escalate" if kind == "escalation" else "flapping_notice",
            record_type="alert",
            record_id=alert.id,
            new={"step": key, "tier": tier, "repeat": repeat, "users": people, "messages": reached},
        )
        record_event(
            session,
            tenant_id=alert.tenant_id,
            type="alert.escalated",
            subject_type="alert",
            subject_id=alert.id,
            actor=SYSTEM,
            payload={**public(alert), "step": key, "tier": tier, "repeat": repeat, "users": people},
        )
        return reached

    async def _targets(
        self, session: AsyncSession, tenant_id: str, spec: PolicySpec, tier: int, now: datetime
    ) -> tuple[list[str], dict[str, list[str]]]:
        chosen = spec.tiers[tier]
        rotas: dict[str, list[str]] = {}
        if chosen.rotas:
            holidays = await _holidays(session, tenant_id, now)
            rows = await session.execute(
                select(AlertRota).where(AlertRota.tenant_id == tenant_id, AlertRota.id.in_(list(chosen.rotas)))
            )
            for rota in rows.scalars():
                rota_spec = RotaSpec(time_zone=rota.time_zone, shifts=tuple(rota.shifts.get("shifts", [])))
                rotas[rota.id] = list(on_call(rota_spec, now, holidays))
        return list(chosen.users), rotas


async def _holidays(session: AsyncSession, tenant_id: str, now: datetime) -> set[date]:
    """The holidays around ``now`` (a local date may be a day either side of the UTC one)."""
    today = now.date()
    rows = await session.execute(
        select(AlertHoliday.day).where(
            AlertHoliday.tenant_id == tenant_id,
            AlertHoliday.day >= today - timedelta(days=2),
            AlertHoliday.day <= today + timedelta(days=2),
        )
    )
    return set(rows.scalars())


def _context(alert: Alert, tier: int, repeat: int) -> dict[str, Any]:
    where = alert.details.get("unit_name") or (
        f"{alert.source}/{alert.channel}" if alert.source and alert.channel else alert.source or alert.group_key
    )
    return {
        "alert_id": alert.id,
        "title": alert.title,
        "detail": alert.details.get("message") or alert.kind,
        "location": where,
        "value": alert.value,
        "limit": alert.limit_value,
        "since": alert.fired_at or alert.opened_at,
        "step": f"{tier + 1}" if repeat == 0 else f"{tier + 1} (round {repeat + 1})",
        "link": f"/v1/alerts/{alert.id}",
    }
