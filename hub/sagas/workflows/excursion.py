"""Excursion response: hold the samples in the affected unit → notify their owners (the pivot: people were told)
→ open a corrective action record that someone must close with a comment.

Compensation: held samples go back to the state they were held from (if notifying fails for good before anyone
was told)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hub.domain.corrective_actions import CorrectiveActions
from hub.domain.lifecycle import SampleState
from hub.sagas.context import StepContext
from hub.sagas.definition import SagaDefinition, Step

TYPE = "excursion_response"


async def hold_samples(ctx: StepContext) -> dict[str, Any]:
    outcome = await ctx.services.storage.hold(
        ctx.session,
        ctx.principal,
        str(ctx.inputs["unit_id"]),
        str(ctx.inputs.get("reason") or f"excursion response {ctx.saga_id}"),
        excursion_id=ctx.inputs.get("excursion_id"),
    )
    return {"held": [sample_id for sample_id, _ in outcome.held], "skipped": len(outcome.skipped)}


async def release_samples(ctx: StepContext) -> None:
    ids = list(ctx.output("hold_samples", "held") or [])
    if not ids:
        return
    samples = await ctx.services.samples.load_many(ctx.session, ctx.tenant_id, ids)
    back: dict[str, list[str]] = defaultdict(list)
    for sample in samples:
        if sample.state == SampleState.ON_HOLD.value and sample.held_from:
            back[sample.held_from].append(sample.id)
    for state, chunk in sorted(back.items()):
        await ctx.services.samples.transition_many(
            ctx.session, ctx.principal, chunk, SampleState(state), reason=f"excursion response {ctx.saga_id} undone"
        )


async def notify_owners(ctx: StepContext) -> dict[str, Any]:
    ids = list(ctx.output("hold_samples", "held") or [])
    samples = await ctx.services.samples.load_many(ctx.session, ctx.tenant_id, ids) if ids else []
    owners = await ctx.user_ids([s.custodian for s in samples])
    if ctx.principal.kind == "user":
        owners.append(ctx.principal.id)
    stored = await ctx.notify(
        owners,
        kind="saga.excursion_response",
        severity="warning",
        context={
            "title": f"{len(ids)} sample(s) put on hold after an excursion",
            "detail": str(ctx.inputs.get("reason") or ""),
            "location": str(ctx.inputs["unit_id"]),
        },
    )
    return {"owners": sorted(set(owners)), "messages": stored}


async def open_corrective_action(ctx: StepContext) -> dict[str, Any]:
    action = await CorrectiveActions(ctx.services.audit).open(
        ctx.session,
        ctx.principal,
        key=ctx.key,
        title=f"Excursion response: {ctx.inputs.get('reason') or 'samples on hold'}",
        details={"held": len(ctx.output("hold_samples", "held") or [])},
        saga_id=ctx.saga_id,
        unit_id=str(ctx.inputs["unit_id"]),
        excursion_id=ctx.inputs.get("excursion_id"),
    )
    return {"corrective_action_id": action.id}


DEFINITION = SagaDefinition(
    TYPE,
    1,
    (
        Step("hold_samples", hold_samples, compensate=release_samples),
        Step("notify_owners", notify_owners, pivot=True),
        Step("open_corrective_action", open_corrective_action, attempts=10),
    ),
)
