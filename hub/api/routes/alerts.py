"""Alerts: the list, per-unit groups, the live feed, acknowledgements, the excursion report; rules, escalation
policies, rotas and holidays, maintenance silences and facilities' webhook subscriptions.

Reading needs ``alerts:read``, acknowledging (and closing an alert that cannot clear by itself) ``alerts:ack``,
configuring ``alerts:manage``. Every query is scoped to the caller's tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from hub.alerts import queries
from hub.alerts.admin import AlertAdmin, RuleFields, policy_public, rota_public, rule_public, silence_public
from hub.alerts.book import AlertBook
from hub.alerts.escalation import PolicySpec, RotaSpec, on_call
from hub.alerts.lifecycle import AlertState
from hub.alerts.report import render
from hub.alerts.rules import Severity
from hub.alerts.schemas import (
    AlertDetail,
    AlertPublic,
    CommentBody,
    DeliveryPublic,
    GroupPublic,
    Holiday,
    HolidaysReplace,
    OnCall,
    PathId,
    PolicyCreate,
    PolicyPublic,
    PolicyUpdate,
    ReasonBody,
    RotaCreate,
    RotaPublic,
    RotaUpdate,
    RuleCreate,
    RulePublic,
    RuleUpdate,
    SilenceCreate,
    SilencePublic,
    StepPublic,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
    plausible,
)
from hub.alerts.stream import sse
from hub.alerts.webhooks import subscription_public
from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.alerts_models import AlertPolicy, AlertRota, AlertRule
from hub.db.base import utcnow
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import ValidationFailedError

router = APIRouter(prefix="/v1", tags=["alerts"])

CanRead = Annotated[Principal, Depends(require(Permission.ALERTS_READ))]
CanAck = Annotated[Principal, Depends(require(Permission.ALERTS_ACK))]
CanManage = Annotated[Principal, Depends(require(Permission.ALERTS_MANAGE))]


# -- alerts -----------------------------------------------------------------------------------------------------


@router.get("/alerts")
async def list_alerts(
    principal: CanRead,
    session: ReadSessionDep,
    state: AlertState | None = None,
    open: bool | None = None,
    group_key: Annotated[str | None, Query(max_length=300)] = None,
    unit_id: Annotated[str | None, Query(max_length=64)] = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AlertPublic]:
    """Alerts, newest first."""
    where = queries.AlertFilter(state, open, group_key, unit_id, device_id, severity)
    found = await queries.alerts(session, principal.tenant_id, where, limit=limit, offset=offset, now=utcnow())
    return [AlertPublic(**a) for a in found]


@router.get("/alerts/groups")
async def alert_groups(principal: CanRead, session: ReadSessionDep) -> list[GroupPublic]:
    """Open alerts grouped per storage unit (or per instrument where no unit is bound), worst first."""
    found = await queries.groups(session, principal.tenant_id, utcnow())
    return [GroupPublic(**{**g, "alerts": [AlertPublic(**a) for a in g["alerts"]]}) for g in found]


@router.get(
    "/alerts/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "alert changes as server-sent events"}},
)
async def alert_stream(
    request: Request,
    principal: CanRead,
    state: StateDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="resume after this event id")] = None,
    once: Annotated[bool, Query(description="send the changes so far and end")] = False,
    max_s: Annotated[int, Query(ge=1, le=3600, description="end the stream after this long")] = 900,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$")] = None,
) -> StreamingResponse:
    """Alert changes as server-sent events, each with its event id: reconnect with ``Last-Event-ID`` (or ``after``)
    to resume where you stopped. Clients that ask for ``text/event-stream`` (browsers' EventSource does) follow
    the feed live until ``max_s``; other clients, and ``once``, get the changes so far and the stream ends."""
    start = int(last_event_id) if last_event_id is not None else after or 0
    follow = not once and "text/event-stream" in request.headers.get("accept", "")
    body = sse(state.db, principal.tenant_id, start, follow=follow, max_s=max_s, disconnected=request.is_disconnected)
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


# -- rules ------------------------------------------------------------------------------------------------------


@router.get("/alerts/rules")
async def list_rules(principal: CanRead, session: ReadSessionDep) -> list[RulePublic]:
    return [RulePublic(**rule_public(r)) for r in await queries.rules(session, principal.tenant_id)]


@router.post("/alerts/rules", status_code=201)
async def create_rule(body: RuleCreate, principal: CanManage, state: StateDep, session: SessionDep) -> RulePublic:
    """A rule the hub evaluates: ``limit`` (direction, limit, delay_s, hysteresis), ``rate`` (max_per_minute,
    window_s, hysteresis_per_minute), ``no_data``, ``sync_silence`` or ``checkpoint_silence`` (after_s)."""
    fields = RuleFields(**body.model_dump())
    return RulePublic(**rule_public(await AlertAdmin(state.audit).create_rule(session, principal, fields)))


@router.get("/alerts/rules/{rule_id}")
async def get_rule(rule_id: PathId, principal: CanRead, session: ReadSessionDep) -> RulePublic:
    return RulePublic(**rule_public(await queries.one(session, AlertRule, principal.tenant_id, rule_id, "alert rule")))


@router.patch("/alerts/rules/{rule_id}")
async def update_rule(
    rule_id: PathId, body: RuleUpdate, principal: CanManage, state: StateDep, session: SessionDep
) -> RulePublic:
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    rule = await AlertAdmin(state.audit).update_rule(session, principal, rule_id, body.reason, changes)
    return RulePublic(**rule_public(rule))


# -- policies, rotas, holidays ----------------------------------------------------------------------------------


@router.get("/alerts/policies")
async def list_policies(principal: CanRead, session: ReadSessionDep) -> list[PolicyPublic]:
    return [PolicyPublic(**policy_public(p)) for p in await queries.policies(session, principal.tenant_id)]


@router.post("/alerts/policies", status_code=201)
async def create_policy(body: PolicyCreate, principal: CanManage, state: StateDep, session: SessionDep) -> PolicyPublic:
    """An escalation policy: the first enabled one (by position) whose matcher fits a firing alert escalates it,
    tier after tier, repeating every ``repeat_every_s`` until acknowledged."""
    spec = PolicySpec(tiers=tuple(body.tiers), repeat_every_s=body.repeat_every_s, max_repeats=body.max_repeats)
    policy = await AlertAdmin(state.audit).create_policy(
        session,
        principal,
        name=body.name,
        position=body.position,
        matcher=body.matcher,
        spec=spec,
        enabled=body.enabled,
    )
    return PolicyPublic(**policy_public(policy))


@router.get("/alerts/policies/{policy_id}")
async def get_policy(policy_id: PathId, principal: CanRead, session: ReadSessionDep) -> PolicyPublic:
    policy = await queries.one(session, AlertPolicy, principal.tenant_id, policy_id, "policy")
    return PolicyPublic(**policy_public(policy))


@router.patch("/alerts/policies/{policy_id}")
async def update_policy(
    policy_id: PathId, body: PolicyUpdate, principal: CanManage, state: StateDep, session: SessionDep
) -> PolicyPublic:
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    if body.tiers is not None:
        changes["tiers"] = tuple(body.tiers)
    if body.matcher is not None:
        changes["matcher"] = body.matcher
    policy = await AlertAdmin(state.audit).update_policy(session, principal, policy_id, body.reason, changes)
    return PolicyPublic(**policy_public(policy))


@router.get("/alerts/rotas")
async def list_rotas(principal: CanRead, session: ReadSessionDep) -> list[RotaPublic]:
    return [RotaPublic(**rota_public(r)) for r in await queries.rotas(session, principal.tenant_id)]


@router.post("/alerts/rotas", status_code=201)
async def create_rota(body: RotaCreate, principal: CanManage, state: StateDep, session: SessionDep) -> RotaPublic:
    """Who is on call when: shifts by weekday and local time (working days, holidays or both)."""
    spec = RotaSpec(time_zone=body.time_zone, shifts=tuple(body.shifts))
    return RotaPublic(
        **rota_public(await AlertAdmin(state.audit).create_rota(session, principal, name=body.name, spec=spec))
    )


@router.get("/alerts/rotas/{rota_id}")
async def get_rota(rota_id: PathId, principal: CanRead, session: ReadSessionDep) -> RotaPublic:
    return RotaPublic(**rota_public(await queries.one(session, AlertRota, principal.tenant_id, rota_id, "rota")))


@router.get("/alerts/rotas/{rota_id}/on-call")
async def rota_on_call(
    rota_id: PathId,
    principal: CanRead,
    state: StateDep,
    session: ReadSessionDep,
    at: Annotated[datetime | None, Query(description="an aware time; default now")] = None,
) -> OnCall:
    rota = await queries.one(session, AlertRota, principal.tenant_id, rota_id, "rota")
    try:
        moment = utcnow() if at is None else plausible(at)
    except ValueError as exc:
        raise ValidationFailedError(f"at: {exc}") from exc
    holidays = {h.day for h in await AlertAdmin(state.audit).holidays(session, principal.tenant_id)}
    spec = RotaSpec(time_zone=rota.time_zone, shifts=tuple(rota.shifts.get("shifts", [])))
    return OnCall(rota_id=rota.id, at=moment, users=list(on_call(spec, moment, holidays)))


@router.patch("/alerts/rotas/{rota_id}")
async def update_rota(
    rota_id: PathId, body: RotaUpdate, principal: CanManage, state: StateDep, session: SessionDep
) -> RotaPublic:
    spec = None
    if body.time_zone is not None or body.shifts is not None:
        current = await queries.one(session, AlertRota, principal.tenant_id, rota_id, "rota")
        spec = RotaSpec(
            time_zone=body.time_zone or current.time_zone,
            shifts=tuple(body.shifts) if body.shifts is not None else tuple(current.shifts.get("shifts", [])),
        )
    rota = await AlertAdmin(state.audit).update_rota(
        session, principal, rota_id, body.reason, name=body.name, spec=spec
    )
    return RotaPublic(**rota_public(rota))


@router.get("/alerts/holidays")
async def list_holidays(principal: CanRead, state: StateDep, session: ReadSessionDep) -> list[Holiday]:
    return [
        Holiday(day=h.day, name=h.name) for h in await AlertAdmin(state.audit).holidays(session, principal.tenant_id)
    ]


@router.put("/alerts/holidays")
async def replace_holidays(
    body: HolidaysReplace, principal: CanManage, state: StateDep, session: SessionDep
) -> list[Holiday]:
    """Replace the tenant's holiday calendar (rota shifts for holidays apply on these local dates)."""
    rows = await AlertAdmin(state.audit).replace_holidays(
        session, principal, body.reason, [(h.day, h.name) for h in body.holidays]
    )
    return [Holiday(day=h.day, name=h.name) for h in rows]


# -- silences ---------------------------------------------------------------------------------------------------


@router.get("/alerts/silences")
async def list_silences(
    principal: CanRead, session: ReadSessionDep, active: Annotated[bool, Query()] = False
) -> list[SilencePublic]:
    found = await queries.silences(session, principal.tenant_id, active_at=utcnow() if active else None)
    return [SilencePublic(**silence_public(s)) for s in found]


@router.post("/alerts/silences", status_code=201)
async def create_silence(
    body: SilenceCreate, principal: CanManage, state: StateDep, session: SessionDep
) -> SilencePublic:
    """A maintenance silence: alerts the matcher fits still open, fire and show, but notify nobody until it
    ends."""
    silence = await AlertAdmin(state.audit).create_silence(
        session,
        principal,
        matcher=body.matcher,
        reason=body.reason,
        ends_at=body.ends_at,
        starts_at=body.starts_at,
        owner_id=body.owner_id,
    )
    return SilencePublic(**silence_public(silence))


@router.post("/alerts/silences/{silence_id}/cancel")
async def cancel_silence(
    silence_id: PathId, body: ReasonBody, principal: CanManage, state: StateDep, session: SessionDep
) -> SilencePublic:
    silence = await AlertAdmin(state.audit).cancel_silence(session, principal, silence_id, body.reason)
    return SilencePublic(**silence_public(silence))


# -- webhooks ---------------------------------------------------------------------------------------------------


@router.get("/alerts/webhooks")
async def list_webhooks(principal: CanManage, session: ReadSessionDep) -> list[WebhookPublic]:
    return [WebhookPublic(**subscription_public(w)) for w in await queries.webhooks(session, principal.tenant_id)]


@router.post("/alerts/webhooks", status_code=201)
async def create_webhook(
    body: WebhookCreate, principal: CanManage, state: StateDep, session: SessionDep
) -> WebhookPublic:
    """A signed webhook subscription: each alert change is POSTed with ``X-TracSeq-Signature: sha256=<HMAC-SHA256
    of "<X-TracSeq-Timestamp>." + body>``; failures are retried with backoff."""
    subscription = await AlertAdmin(state.audit).create_webhook(
        session, principal, name=body.name, url=body.url, event_types=body.event_types, secret=body.secret
    )
    return WebhookPublic(**subscription_public(subscription), secret=subscription.secret)


@router.patch("/alerts/webhooks/{subscription_id}")
async def update_webhook(
    subscription_id: PathId, body: WebhookUpdate, principal: CanManage, state: StateDep, session: SessionDep
) -> WebhookPublic:
    subscription = await AlertAdmin(state.audit).update_webhook(
        session,
        principal,
        subscription_id,
        body.reason,
        url=body.url,
        enabled=body.enabled,
        event_types=body.event_types,
        rotate_secret=body.rotate_secret,
    )
    return WebhookPublic(
        **subscription_public(subscription), secret=subscription.secret if body.rotate_secret else None
    )


@router.get("/alerts/webhooks/{subscription_id}/deliveries")
async def list_deliveries(
    subscription_id: PathId,
    principal: CanManage,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryPublic]:
    found = await queries.deliveries(session, principal.tenant_id, subscription_id, limit=limit)
    return [
        DeliveryPublic(
            id=d.id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )
        for d in found
    ]


# -- one alert (after every /alerts/<word> route: the path parameter would take the word) -------------------


@router.get("/alerts/{alert_id}")
async def get_alert(alert_id: PathId, principal: CanRead, state: StateDep, session: ReadSessionDep) -> AlertDetail:
    alert = await AlertBook(state.audit).get(session, principal.tenant_id, alert_id)
    shown = (await queries.shown(session, principal.tenant_id, [alert], utcnow()))[0]
    taken = await queries.steps(session, principal.tenant_id, alert_id)
    return AlertDetail(
        **shown,
        steps=[
            StepPublic(
                step_key=s.step_key,
                kind=s.kind,
                tier=s.tier,
                repeat=s.repeat,
                users=list(s.targets.get("users", [])),
                messages=int(s.targets.get("messages", 0)),
                due_at=s.due_at,
                taken_at=s.taken_at,
            )
            for s in taken
        ],
    )


@router.get("/alerts/{alert_id}/report", response_class=HTMLResponse)
async def alert_report(alert_id: PathId, principal: CanRead, state: StateDep, session: ReadSessionDep) -> HTMLResponse:
    """The excursion report: a printable page with the readings trace, door events, acknowledgements and the
    samples the unit held."""
    alert = await AlertBook(state.audit).get(session, principal.tenant_id, alert_id)
    return HTMLResponse(await render(session, alert))


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: PathId, body: CommentBody, principal: CanAck, state: StateDep, session: SessionDep
) -> AlertPublic:
    """Take responsibility for a firing alert: escalation stops; the comment goes into the audit trail."""
    book = AlertBook(state.audit)
    alert = await book.acknowledge(session, principal.tenant_id, alert_id, actor=principal.label, comment=body.comment)
    return AlertPublic(**(await queries.shown(session, principal.tenant_id, [alert], utcnow()))[0])


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(
    alert_id: PathId, body: CommentBody, principal: CanAck, state: StateDep, session: SessionDep
) -> AlertPublic:
    """Close an alert by hand, with a comment: for conditions that do not clear by themselves (a fork, a failed
    saga). A condition still present opens a new alert."""
    book = AlertBook(state.audit)
    alert = await book.close(session, principal.tenant_id, alert_id, actor=principal.label, comment=body.comment)
    return AlertPublic(**(await queries.shown(session, principal.tenant_id, [alert], utcnow()))[0])
