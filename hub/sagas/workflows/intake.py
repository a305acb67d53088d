"""Sample intake: a validated template sheet → register its samples → confirm custody (the samples are received,
in the starter's hands) → allocate storage positions (the pivot) → notify.

Custody is confirmed before allocating because storage takes only received samples. Compensations: a failed
allocation leaves no position taken (its transaction rolls back), and the registered samples are rejected with
the saga's reason, so no half-registered batch stays in the lab's lists.
"""

from __future__ import annotations

import base64
from typing import Any

from hub.domain.lifecycle import SampleState
from hub.errors import ValidationFailedError
from hub.sagas.context import StepContext
from hub.sagas.definition import PermanentStepError, SagaDefinition, Step

TYPE = "sample_intake"


def _sheet(ctx: StepContext) -> bytes:
    return base64.b64decode(str(ctx.inputs["sheet_base64"]))


async def check_sheet(ctx: StepContext) -> dict[str, Any]:
    outcome = await ctx.services.intake.upload(
        ctx.session,
        ctx.principal,
        str(ctx.inputs["template_id"]),
        data=_sheet(ctx),
        content_type=ctx.inputs.get("content_type"),
        filename=str(ctx.inputs.get("filename") or "sheet.csv"),
        dry_run=True,
    )
    if outcome.upload.problem_count:
        raise PermanentStepError(
            f"the sheet has {outcome.upload.problem_count} problem(s); see the report of upload {outcome.upload.id}"
        )
    return {"check_upload_id": outcome.upload.id, "rows": outcome.upload.row_count}


async def register_samples(ctx: StepContext) -> dict[str, Any]:
    try:
        outcome = await ctx.services.intake.upload(
            ctx.session,
            ctx.principal,
            str(ctx.inputs["template_id"]),
            data=_sheet(ctx),
            content_type=ctx.inputs.get("content_type"),
            filename=str(ctx.inputs.get("filename") or "sheet.csv"),
            dry_run=False,
        )
    except ValidationFailedError as exc:
        raise PermanentStepError(exc.detail) from exc
    return {"upload_id": outcome.upload.id, "sample_ids": [s.id for _, s in outcome.registered]}


async def reject_samples(ctx: StepContext) -> None:
    ids = list(ctx.output("register_samples", "sample_ids") or [])
    if not ids:
        return
    samples = await ctx.services.samples.load_many(ctx.session, ctx.tenant_id, ids)
    pending = [s.id for s in samples if s.state in (SampleState.REGISTERED.value, SampleState.RECEIVED.value)]
    if pending:
        await ctx.services.samples.transition_many(
            ctx.session, ctx.principal, pending, SampleState.REJECTED, reason=f"intake saga {ctx.saga_id} undone"
        )


async def confirm_custody(ctx: StepContext) -> dict[str, Any]:
    ids = list(ctx.output("register_samples", "sample_ids") or [])
    samples = await ctx.services.samples.load_many(ctx.session, ctx.tenant_id, ids)
    arriving = [s.id for s in samples if s.state == SampleState.REGISTERED.value]
    if arriving:
        await ctx.services.samples.transition_many(
            ctx.session,
            ctx.principal,
            arriving,
            SampleState.RECEIVED,
            reason=f"custody confirmed by {ctx.principal.name} at intake",
        )
    return {"custodian": ctx.principal.name, "received": len(arriving)}


async def allocate_positions(ctx: StepContext) -> dict[str, Any]:
    ids = list(ctx.output("register_samples", "sample_ids") or [])
    placed = await ctx.services.storage.allocate(
        ctx.session,
        ctx.principal,
        ids,
        str(ctx.inputs["container_id"]),
        reason=f"allocated by intake saga {ctx.saga_id}",
    )
    return {"positions": [{"sample_id": p.sample_id, "box_id": p.box_id, "position": p.position} for p in placed]}


async def notify(ctx: StepContext) -> dict[str, Any]:
    users = list(ctx.inputs.get("notify_user_ids") or ([ctx.principal.id] if ctx.principal.kind == "user" else []))
    count = len(ctx.output("register_samples", "sample_ids") or [])
    stored = await ctx.notify(
        users,
        kind="saga.sample_intake",
        severity="info",
        context={
            "title": f"{count} sample(s) registered and stored",
            "detail": f"intake of {ctx.inputs.get('filename') or 'a sheet'} (saga {ctx.saga_id})",
        },
    )
    return {"messages": stored}


DEFINITION = SagaDefinition(
    TYPE,
    1,
    (
        Step("check_sheet", check_sheet),
        Step("register_samples", register_samples, compensate=reject_samples),
        Step("confirm_custody", confirm_custody),
        Step("allocate_positions", allocate_positions, pivot=True),
        Step("notify", notify, attempts=10),
    ),
)
