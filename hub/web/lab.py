"""Samples, storage and sequencing pages: sample search with cursor paging, a sample's details, lifecycle history
and custody, a box as a grid, the sequencing queue and a run's progress and QC. Every read is one of the domain
services' calls the API routes make, scoped to the signed-in person's tenant."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from hub.api.routes.sequencing import QueueEntryPublic, RunPublic
from hub.db.models import AuditEntry
from hub.domain.cells import clean_text
from hub.domain.custody import Custody
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Permission
from hub.domain.samples import SampleFilter
from hub.web.site import WebState, page_needs, render

router = APIRouter()

CanReadSamples = Annotated[Principal, Depends(page_needs(Permission.SAMPLES_READ))]
CanReadStorage = Annotated[Principal, Depends(page_needs(Permission.STORAGE_READ))]
CanReadSequencing = Annotated[Principal, Depends(page_needs(Permission.SEQUENCING_READ))]
Id = Annotated[str, Path(min_length=1, max_length=64)]
PAGE = 50
HISTORY = 500


def _clean(value: str | None) -> str | None:
    cleaned = clean_text(value).strip() if value else None
    return cleaned or None


@router.get("/samples")
async def samples_page(
    request: Request,
    principal: CanReadSamples,
    state: WebState,
    q: Annotated[str | None, Query(max_length=100)] = None,
    barcode: Annotated[str | None, Query(max_length=64)] = None,
    sample_state: Annotated[SampleState | None, Query(alias="state")] = None,
    project: Annotated[str | None, Query(max_length=64)] = None,
    sample_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    text, prefix = _clean(q), _clean(barcode)
    problem = "Search by name needs at least 3 characters." if text is not None and len(text) < 3 else None
    where = SampleFilter(
        states=(sample_state,) if sample_state else (),
        project_id=project or None,
        sample_type_id=sample_type or None,
        barcode_prefix=prefix,
        name_contains=text if problem is None else None,
    )
    async with state.db.read() as session:
        found = await state.samples.page(session, principal.tenant_id, where, limit=PAGE, cursor=cursor or None)
        projects = await state.samples.projects(session, principal.tenant_id)
        types = await state.samples.sample_types(session, principal.tenant_id)
    kept = {"q": q or "", "barcode": barcode or "", "state": sample_state.value if sample_state else ""}
    kept |= {"project": project or "", "type": sample_type or ""}
    next_url = None
    if found.next_cursor:
        next_url = "?" + urlencode({**{k: v for k, v in kept.items() if v}, "cursor": found.next_cursor})
    return render(
        request,
        "samples.html",
        samples=found.samples,
        filters=kept,
        states=[s.value for s in SampleState],
        projects=projects,
        types={t.id: t.name for t in types},
        next_url=next_url,
        paged=cursor is not None,
        problem=problem,
    )


def _history_row(entry: AuditEntry) -> dict[str, Any]:
    payload = json.loads(entry.raw).get("payload", {})
    old, new = payload.get("old") or {}, payload.get("new") or {}
    change = ", ".join(
        f"{k}: {old.get(k, '—')} → {new.get(k)}" for k in sorted(new) if k in old and old.get(k) != new.get(k)
    )
    if not change and entry.action == "create":
        change = f"state {new.get('state', '')}".strip()
    return {
        "seq": entry.seq,
        "at": entry.created_at,
        "action": entry.action,
        "actor": entry.actor,
        "change": change,
        "reason": payload.get("reason") or "",
    }


@router.get("/samples/{sample_id}")
async def sample_page(request: Request, sample_id: Id, principal: CanReadSamples, state: WebState) -> Response:
    tenant = principal.tenant_id
    async with state.db.read() as session:
        sample, steps = await Custody(state.audit, state.samples).history(session, tenant, sample_id)
        located = await state.storage.locate(session, tenant, [sample.id])
        types = {t.id: t.name for t in await state.samples.sample_types(session, tenant)}
        entries = await session.execute(
            select(AuditEntry)
            .where(
                AuditEntry.tenant_id == tenant, AuditEntry.record_type == "sample", AuditEntry.record_id == sample.id
            )
            .order_by(AuditEntry.seq)
            .limit(HISTORY)
        )
        history = [_history_row(e) for e in entries.scalars()]
    return render(
        request,
        "sample.html",
        sample=sample,
        sample_type=types.get(sample.sample_type_id, sample.sample_type_id),
        location=located[0] if located else None,
        history=history,
        custody=steps,
    )


@router.get("/storage/boxes/{box_id}")
async def box_page(request: Request, box_id: Id, principal: CanReadStorage, state: WebState) -> Response:
    async with state.db.read() as session:
        view = await state.storage.box(session, principal.tenant_id, box_id)
    rows = view.box.grid_rows or 1
    cols = view.box.grid_cols or 1
    cells = {(c.row, c.col): c for c in view.cells}
    grid = [[cells.get((r, c)) for c in range(1, cols + 1)] for r in range(1, rows + 1)]
    return render(
        request,
        "box.html",
        view=view,
        grid=grid,
        row_labels=[chr(64 + r) for r in range(1, rows + 1)],
        cols=list(range(1, cols + 1)),
        can_samples=principal.can(Permission.SAMPLES_READ),
    )


@router.get("/sequencing")
async def sequencing_page(request: Request, principal: CanReadSequencing, state: WebState) -> Response:
    sequencing = state.sequencing
    async with state.db.read() as session:
        entries = await sequencing.queue(session, principal.tenant_id)
        runs = await sequencing.runs.list_runs(
            session, principal.tenant_id, state=None, platform=None, unmatched=None, limit=50, offset=0
        )
    return render(
        request,
        "sequencing.html",
        queue=[QueueEntryPublic.of(e) for e in entries],
        runs=[RunPublic.of(v, with_lanes=False) for v in runs],
        as_of=sequencing.now(),
    )


@router.get("/sequencing/runs/{run_id}")
async def run_page(request: Request, run_id: Id, principal: CanReadSequencing, state: WebState) -> Response:
    runs = state.sequencing.runs
    async with state.db.read() as session:
        view = await runs.view(session, principal.tenant_id, await runs.get(session, principal.tenant_id, run_id))
    run = RunPublic.of(view)
    qc = sorted((run.qc or {}).items())
    return render(request, "run.html", run=run, qc=qc)
