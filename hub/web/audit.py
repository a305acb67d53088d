"""The audit page: verify the hub's audit trail or an edge's log with the auditor's verifier and see what it proved,
and download each as an export (with its trust file) for ``tracseq verify``. A plain link cannot carry a bearer
token, so the downloads are here, cookie-authenticated, streaming what the API's export streams."""

from __future__ import annotations

import json
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response, StreamingResponse

from hub.api.routes.devices import list_devices
from hub.api.routes.records import audit_export, audit_trust
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import ForbiddenError
from hub.web import logcheck
from hub.web.site import AuthDep, WebState, page_needs, read_form, render

router = APIRouter()

CanReadAudit = Annotated[Principal, Depends(page_needs(Permission.AUDIT_READ))]
CanExportAudit = Annotated[Principal, Depends(page_needs(Permission.AUDIT_EXPORT))]
Id = Annotated[str, Path(min_length=1, max_length=64)]
EXIT_MEANING = {
    0: "verified",
    1: "tampered: an altered, inserted, deleted or reordered entry, or a bad signature",
    2: "truncated or forked",
    3: "malformed input",
    4: "nothing trusted: no trusted key or witness signature found",
}


def _filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:80] or "device"


@router.get("/audit")
async def audit_page(request: Request, principal: CanReadAudit, state: WebState) -> Response:
    devices = []
    if principal.can(Permission.DEVICES_READ):
        async with state.db.read() as session:
            devices = await list_devices(principal, session)
    return render(request, "audit.html", devices=devices, outcome=None, meaning=EXIT_MEANING)


@router.post("/audit/verify")
async def verify(request: Request, principal: CanReadAudit, state: WebState, auth: AuthDep) -> Response:
    form = await read_form(request)
    auth.check_csrf(request, form, principal.id)
    target = form.get("log", "hub")[:64]
    if target == "hub":
        outcome = await logcheck.verify_hub(state, principal)
    else:
        if not principal.can(Permission.DEVICES_READ):
            raise ForbiddenError(f"your role ({principal.role}) does not allow {Permission.DEVICES_READ.value}")
        outcome = await logcheck.verify_edge(state, principal.tenant_id, target)
    devices = []
    if principal.can(Permission.DEVICES_READ):
        async with state.db.read() as session:
            devices = await list_devices(principal, session)
    return render(request, "audit.html", devices=devices, outcome=outcome, meaning=EXIT_MEANING)


@router.get("/audit/export")
async def hub_export(principal: CanExportAudit, state: WebState) -> StreamingResponse:
    """The tenant's audit trail: the very response ``GET /v1/audit/export`` gives."""
    return await audit_export(principal, state)


@router.get("/audit/trust")
async def hub_trust(principal: CanReadAudit, state: WebState) -> Response:
    async with state.db.read() as session:
        trust = await audit_trust(principal, state, session)
    return Response(
        json.dumps(trust, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="audit-trust.json"'},
    )


@router.get("/audit/devices/{device_id}/export")
async def edge_export(device_id: Id, principal: CanExportAudit, state: WebState) -> StreamingResponse:
    """An edge's log as the hub mirrored it, with the checkpoints the hub cosigned."""
    principal.require(Permission.DEVICES_READ)
    device, _ = await logcheck.edge_log(state, principal.tenant_id, device_id)
    name = _filename(device.name)
    return StreamingResponse(
        logcheck.edge_export(state, principal.tenant_id, device_id),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="edge-{name}-export.jsonl"'},
    )


@router.get("/audit/devices/{device_id}/trust")
async def edge_trust(device_id: Id, principal: CanReadAudit, state: WebState) -> Response:
    principal.require(Permission.DEVICES_READ)
    device, log = await logcheck.edge_log(state, principal.tenant_id, device_id)
    return Response(
        logcheck.edge_trust(state, device, log).to_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="edge-{_filename(device.name)}-trust.json"'},
    )
