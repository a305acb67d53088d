"""The storage rules the database itself holds, on SQLite and PostgreSQL, tried with raw SQL that bypasses the
domain code: one sample per position and one position per sample, no position beyond a box's grid, no more child
containers than the capacity, known kinds and zones, and one open excursion per unit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hub.api.state import HubState
from hub.db.base import utcnow
from hub.db.sample_models import SampleType
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.samples import NewSample
from hub.domain.storage.containers import NewContainer
from hub.domain.storage.placement import Placement
from tests.integration.hub.harness import hub_settings, running_hub, seed
from tests.integration.hub.test_tenant_role_sweep import enrol_device


async def refused(state: HubState, statement: str, **params: Any) -> None:
    with pytest.raises(IntegrityError):
        async with state.db.transaction() as session:
            await session.execute(text(statement), params)


async def accepted(state: HubState, statement: str, **params: Any) -> None:
    async with state.db.transaction() as session:
        await session.execute(text(statement), params)


def test_the_database_refuses_what_the_storage_rules_forbid_even_without_the_domain_code(
    db_url: str, tmp_path: Path
) -> None:
    async def main() -> None:
        async with running_hub(hub_settings(db_url, tmp_path)) as hub:
            state = hub.state
            tenant = (await seed(state, slugs=("alpha-lab",), roles=(Role.ADMIN,)))["alpha-lab"]
            user = tenant.users[Role.ADMIN]
            admin = Principal("user", user.id, tenant.id, user.username, Role.ADMIN)
            device_id, _ = await enrol_device(hub, tenant)
            async with state.db.transaction() as session:
                dna = SampleType(tenant_id=tenant.id, name="dna", zone="-80", colder_ok=True)
                session.add(dna)
                await session.flush()
                made = await state.samples.register_many(
                    session, admin, [NewSample(name=f"s{i}", sample_type_id=dna.id) for i in range(2)]
                )
                first, second = (s.id for s in made)
                await state.samples.transition_many(session, admin, [first, second], SampleState.RECEIVED, reason="in")
                freezer = await state.storage.create_container(session, admin, NewContainer("freezer", "F", zone="-80"))
                rack = await state.storage.create_container(
                    session, admin, NewContainer("rack", "R", freezer.id, capacity=1)
                )
                box = await state.storage.create_container(
                    session, admin, NewContainer("box", "B", rack.id, rows=2, cols=2)
                )
                await state.storage.place(session, admin, [Placement(first, box.id, "A1")])
            ids = {"box": box.id, "t": tenant.id, "first": first, "second": second}

            # a position holds one sample, a sample sits in one position
            await refused(
                state,
                "INSERT INTO storage_positions (box_id, row_no, col_no, tenant_id, sample_id)"
                " VALUES (:box, 1, 1, :t, :second)",
                **ids,
            )
            await refused(
                state,
                "UPDATE storage_positions SET sample_id = :first WHERE box_id = :box AND row_no = 1 AND col_no = 2",
                **ids,
            )
            await refused(state, "UPDATE storage_positions SET row_no = 0 WHERE box_id = :box AND col_no = 2", **ids)
            # no more children than the capacity; a box has a grid, nothing else does
            await refused(state, "UPDATE storage_containers SET child_count = 2 WHERE id = :id", id=rack.id)
            await refused(state, "UPDATE storage_containers SET child_count = -1 WHERE id = :id", id=freezer.id)
            await refused(state, "UPDATE storage_containers SET grid_rows = NULL WHERE id = :box", **ids)
            await refused(state, "UPDATE storage_containers SET grid_cols = 49 WHERE id = :box", **ids)
            await refused(
                state, "UPDATE storage_containers SET grid_rows = 2, grid_cols = 2 WHERE id = :id", id=rack.id
            )
            await refused(state, "UPDATE storage_containers SET kind = 'igloo' WHERE id = :id", id=rack.id)
            await refused(state, "UPDATE storage_containers SET zone = '-70' WHERE id = :id", id=freezer.id)
            await refused(state, "UPDATE storage_containers SET warn_at_pct = 101 WHERE id = :id", id=freezer.id)
            await accepted(
                state, "UPDATE storage_containers SET capacity = 1, child_count = 1 WHERE id = :id", id=rack.id
            )
            # one open excursion per unit; ended ones are history
            excursion = (
                "INSERT INTO storage_excursions (id, tenant_id, unit_id, device_id, source, channel, rule, started_at,"
                " start_seq, ended_at, active_alarms, samples_at_start)"
                " VALUES (:id, :t, :unit, :device, '', 'temp', 'high', :at, 0, :ended, '{}', 0)"
            )
            common = {"t": tenant.id, "unit": freezer.id, "device": device_id, "at": utcnow()}
            await accepted(state, excursion, id="e1", ended=utcnow(), **common)
            await accepted(state, excursion, id="e2", ended=None, **common)
            await refused(state, excursion, id="e3", ended=None, **common)
            # a channel watches one unit
            binding = (
                "INSERT INTO storage_unit_bindings (id, tenant_id, unit_id, device_id, source, channel, created_by,"
                " created_at) VALUES (:id, :t, :unit, :device, '', 'temp', 'test', :at)"
            )
            await accepted(state, binding, id="b1", **common)
            await refused(state, binding, id="b2", **common)
            async with state.db.read() as session:
                grid = await state.storage.box(session, tenant.id, box.id)
            assert [(c.label, c.sample_id) for c in grid.cells] == [
                ("A1", first),
                ("A2", None),
                ("B1", None),
                ("B2", None),
            ]

    asyncio.run(main())
