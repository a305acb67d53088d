"""The facilities board: every storage unit's live temperature with its last 24 hours, and the open alerts, each
firing one with a form to acknowledge it with a comment (``AlertBook.acknowledge``, as the API does)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from hub.alerts import queries
from hub.alerts.book import AlertBook, event_types
from hub.alerts.schemas import CommentBody
from hub.api.routes.ai import get_freezer_risk
from hub.api.state import HubState
from hub.db.base import utcnow
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import ValidationFailedError
from hub.web import board, live
from hub.web.auth import PREFIX
from hub.web.site import AuthDep, WebState, page_needs, read_form, redirect, render

router = APIRouter()

CanSeeBoard = Annotated[Principal, Depends(page_needs(Permission.STORAGE_READ))]
CanAck = Annotated[Principal, Depends(page_needs(Permission.ALERTS_ACK))]


async def _board(request: Request, state: HubState, principal: Principal, status: int = 200, **extra: Any) -> Response:
    now = utcnow()
    async with state.db.read() as session:
        panels = await board.board(state, session, principal.tenant_id, now, get_freezer_risk(request))
        alerts: list[dict[str, Any]] = []
        if principal.can(Permission.ALERTS_READ):
            where = queries.AlertFilter(open=True)
            alerts = await queries.alerts(session, principal.tenant_id, where, limit=200, offset=0, now=now)
    names = {p.unit.id: p.unit.name for p in panels}
    return render(
        request,
        "board.html",
        status,
        panels=panels,
        alerts=alerts,
        unit_names=names,
        alert_events=event_types(),
        **extra,
    )


@router.get("/")
async def facilities_board(
    request: Request,
    principal: CanSeeBoard,
    state: WebState,
    acknowledged: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return await _board(request, state, principal, acknowledged=acknowledged)


@router.get("/live")
async def live_feed(
    request: Request,
    principal: CanSeeBoard,
    state: WebState,
    auth: AuthDep,
    max_s: Annotated[float, Query(ge=0, le=600)] = 300,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$")] = None,
) -> StreamingResponse:
    """New readings of the bound channels and alert changes, as server-sent events (see ``hub.web.live``)."""

    async def still_active() -> bool:
        try:
            await auth.still_active(principal, request.url.path)
        except Exception:  # any failure to confirm the person ends the feed; the page reconnects
            return False
        return True

    body = live.stream(
        state,
        principal.tenant_id,
        alerts=principal.can(Permission.ALERTS_READ),
        after=int(last_event_id) if last_event_id else None,
        max_s=max_s,
        still_active=still_active,
        disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    alert_id: Annotated[str, Path(max_length=64)],
    request: Request,
    principal: CanAck,
    state: WebState,
    auth: AuthDep,
) -> Response:
    form = await read_form(request)
    auth.check_csrf(request, form, principal.id)
    try:
        body = CommentBody.model_validate({"comment": form.get("comment", "")})
    except ValidationError as exc:
        problem = "; ".join(str(e.get("msg", "")) for e in exc.errors())
        return await _board(request, state, principal, 422, ack_errors={alert_id: problem})
    try:
        async with state.db.transaction() as session:
            await AlertBook(state.audit).acknowledge(
                session, principal.tenant_id, alert_id, actor=principal.label, comment=body.comment
            )
    except ValidationFailedError as exc:
        return await _board(request, state, principal, 422, ack_errors={alert_id: exc.detail})
    return redirect(f"{PREFIX}/?acknowledged={alert_id}#alert-{alert_id}")
