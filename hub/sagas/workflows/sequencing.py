"""Sequencing submission: validate the run (sample sheet, index collisions) → reserve lanes (plan the run) →
generate the sample sheet → send it to the sequencer PC's edge as a ``write_samplesheet`` command → wait for the
run to start, up to a deadline (the pivot) → track it to its end → notify.

Compensations, newest first: a ``remove_samplesheet`` command to the edge, then the run plan cancelled, which
puts its jobs back in the queue; their samples never left stored (they move to sequencing only when the run
starts), so nothing else is to be returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from hub.db.ingest_models import DeviceCommand
from hub.domain.sequencing_platforms import SequencingPlatform, facts
from hub.domain.sequencing_runs import PlanPreview, RunSpec, RunView
from hub.domain.sequencing_states import RunState
from hub.sagas.context import StepContext
from hub.sagas.definition import PermanentStepError, SagaDefinition, Step, Wait, deadline_from

TYPE = "sequencing_submission"
WRITE_SHEET, REMOVE_SHEET = "write_samplesheet", "remove_samplesheet"


def run_spec(inputs: Mapping[str, Any]) -> RunSpec:
    mismatches = inputs.get("mismatches") or [1, 1]
    return RunSpec(
        name=str(inputs["name"]),
        platform=SequencingPlatform(str(inputs["platform"])),
        job_ids=[str(j) for j in inputs["job_ids"]],
        flowcell_type=inputs.get("flowcell_type"),
        lanes=inputs.get("lanes"),
        lane_capacity=inputs.get("lane_capacity"),
        mismatches=(int(mismatches[0]), int(mismatches[1])),
        flow_cell=inputs.get("flow_cell"),
    )


async def validate(ctx: StepContext) -> dict[str, Any]:
    preview = await ctx.services.sequencing.runs.plan(ctx.session, ctx.principal, run_spec(ctx.inputs), dry_run=True)
    if not isinstance(preview, PlanPreview):
        raise PermanentStepError("a dry run did not return a preview")
    if preview.problems:
        shown = "; ".join(str(p.to_dict().get("message") or p.to_dict()) for p in preview.problems[:20])
        raise PermanentStepError(f"the run cannot be planned: {shown}")
    return {"lanes": preview.lane_count, "libraries": sum(len(lane.libraries) for lane in preview.lanes)}


async def reserve_lanes(ctx: StepContext) -> dict[str, Any]:
    view = await ctx.services.sequencing.runs.plan(ctx.session, ctx.principal, run_spec(ctx.inputs))
    if not isinstance(view, RunView):
        raise PermanentStepError("planning did not return a run")
    return {"run_id": view.run.id, "run_name": view.run.name}


async def release_lanes(ctx: StepContext) -> None:
    run_id = str(ctx.output("reserve_lanes", "run_id"))
    run = await ctx.services.sequencing.runs.get(ctx.session, ctx.tenant_id, run_id, for_update=True)
    if run.state == RunState.PLANNED.value:
        await ctx.services.sequencing.runs.cancel(
            ctx.session, ctx.principal, run_id, reason=f"sequencing submission saga {ctx.saga_id} undone"
        )


async def generate_sheet(ctx: StepContext) -> dict[str, Any]:
    if facts(SequencingPlatform(str(ctx.inputs["platform"]))).vendor != "illumina":
        return {"sheet": None, "sha256": None}
    run_id = str(ctx.output("reserve_lanes", "run_id"))
    sheet = await ctx.services.sequencing.runs.sample_sheet(ctx.session, ctx.tenant_id, run_id)
    return {"sheet": sheet, "sha256": hashlib.sha256(sheet.encode()).hexdigest()}


async def _command(ctx: StepContext, type: str, args: dict[str, Any]) -> str:
    """One command per key: a command this step's key created already is not created again."""
    device_id = str(ctx.inputs["device_id"])
    rows = await ctx.session.execute(
        select(DeviceCommand).where(
            DeviceCommand.tenant_id == ctx.tenant_id, DeviceCommand.device_id == device_id, DeviceCommand.type == type
        )
    )
    for command in rows.scalars():
        if command.args.get("idempotency_key") == ctx.key:
            return command.id
    created = await ctx.services.devices.command(
        ctx.session, ctx.principal, device_id, type, {**args, "idempotency_key": ctx.key}
    )
    return created.id


async def send_to_edge(ctx: StepContext) -> dict[str, Any]:
    sheet = ctx.output("generate_sheet", "sheet")
    if sheet is None:
        return {"command_id": None}
    args = {
        "run_id": ctx.output("reserve_lanes", "run_id"),
        "run_name": ctx.output("reserve_lanes", "run_name"),
        "filename": f"{ctx.output('reserve_lanes', 'run_name')}.csv",
        "sheet": sheet,
        "sha256": ctx.output("generate_sheet", "sha256"),
    }
    return {"command_id": await _command(ctx, WRITE_SHEET, args)}


async def remove_from_edge(ctx: StepContext) -> None:
    if ctx.output("send_to_edge", "command_id") is None:
        return
    args = {
        "run_id": ctx.output("reserve_lanes", "run_id"),
        "filename": f"{ctx.output('reserve_lanes', 'run_name')}.csv",
    }
    await _command(ctx, REMOVE_SHEET, args)


def _run_id(ctx: StepContext) -> str:
    return str(ctx.output("reserve_lanes", "run_id"))


async def notify(ctx: StepContext) -> dict[str, Any]:
    users = [ctx.principal.id] if ctx.principal.kind == "user" else []
    ended = str(ctx.output("track", "event") or "")
    stored = await ctx.notify(
        users,
        kind="saga.sequencing_submission",
        severity="warning" if ended.endswith("failed") else "info",
        context={
            "title": f"run {ctx.output('reserve_lanes', 'run_name')} {ended.removeprefix('sequencing.run_')}",
            "detail": f"sequencing submission saga {ctx.saga_id}",
        },
    )
    return {"messages": stored}


DEFINITION = SagaDefinition(
    TYPE,
    1,
    (
        Step("validate", validate),
        Step("reserve_lanes", reserve_lanes, compensate=release_lanes),
        Step("generate_sheet", generate_sheet),
        Step("send_to_edge", send_to_edge, compensate=remove_from_edge),
        Step(
            "wait_run_started",
            None,
            pivot=True,
            wait=Wait(
                frozenset({"sequencing.run_running", "sequencing.run_completed", "sequencing.run_failed"}),
                _run_id,
                deadline_from("start_deadline_s", timedelta(hours=24)),
            ),
        ),
        Step(
            "track",
            None,
            wait=Wait(
                frozenset({"sequencing.run_completed", "sequencing.run_failed"}),
                _run_id,
                deadline_from("finish_deadline_s", timedelta(days=14)),
                poll=timedelta(seconds=30),
            ),
        ),
        Step("notify", notify, attempts=10),
    ),
)
