"""The sample tables' own rules, on SQLite and PostgreSQL, written straight to the database past the domain code:
the database refuses what a bug or a race would otherwise let through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from hub.db.base import Database, new_id
from hub.db.models import ESignature, Tenant, User
from hub.db.sample_models import CustodyTransfer, QcResult, Sample, SampleLink, SampleType

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class Rows:
    db: Database
    tenants: tuple[str, str]
    sample_type: str

    async def add(self, model: Any, **values: Any) -> None:
        async with self.db.transaction() as session:
            await session.execute(insert(model).values(**values))

    async def sample(self, tenant: int = 0, **values: Any) -> str:
        sample_id = new_id()
        row = {
            "id": sample_id,
            "tenant_id": self.tenants[tenant],
            "barcode": f"B-{sample_id[:8]}",
            "name": "raw",
            "sample_type_id": self.sample_type,
            "state": "stored",
            "custodian": "someone",
            "attributes": {},
            "version": 1,
            "created_by": "test",
            "created_at": NOW,
            "updated_at": NOW,
        }
        await self.add(Sample, **(row | values))
        return sample_id


@pytest.fixture
async def rows(db_url: str, tmp_path: Path) -> AsyncIterator[Rows]:
    db = Database(db_url)
    tenants = (new_id(), new_id())
    type_id = new_id()
    async with db.transaction() as session:
        for i, tenant_id in enumerate(tenants):
            session.add(Tenant(id=tenant_id, slug=f"lab-{i}", name=f"Lab {i}"))
        await session.flush()
        session.add(SampleType(id=type_id, tenant_id=tenants[0], name="Blood", zone="-80", colder_ok=True))
    try:
        yield Rows(db, tenants, type_id)
    finally:
        await db.dispose()


async def test_a_sample_row_breaking_a_rule_is_refused(rows: Rows) -> None:
    await rows.sample(barcode="TUBE-1")
    await rows.sample(tenant=1, barcode="TUBE-1")  # another lab's tube
    broken: list[dict[str, Any]] = [
        {"barcode": "TUBE-1"},
        {"volume_ul": Decimal("-0.001")},
        {"concentration": Decimal(-1)},
        {"state": "lost"},
        {"qc_status": "maybe"},
        {"version": 0},
        {"state": "stored", "held_from": "received"},
    ]
    for values in broken:
        with pytest.raises(IntegrityError):
            await rows.sample(**values)
    await rows.sample(volume_ul=Decimal(0), concentration=Decimal(0), state="on_hold", held_from="stored")


async def test_a_sample_is_not_its_own_parent(rows: Rows) -> None:
    parent, child = await rows.sample(), await rows.sample()
    link = {"tenant_id": rows.tenants[0], "kind": "aliquot", "created_by": "test", "created_at": NOW}
    with pytest.raises(IntegrityError):
        await rows.add(SampleLink, parent_id=parent, child_id=parent, **link)
    with pytest.raises(IntegrityError):
        await rows.add(SampleLink, parent_id=parent, child_id=child, **{**link, "kind": "clone"})
    await rows.add(SampleLink, parent_id=parent, child_id=child, **link)


async def test_a_sample_has_one_open_hand_over_at_a_time(rows: Rows) -> None:
    sample_id = await rows.sample()

    def transfer(**values: Any) -> dict[str, Any]:
        return {
            "id": new_id(),
            "tenant_id": rows.tenants[0],
            "batch_id": new_id(),
            "sample_id": sample_id,
            "from_party": "alice",
            "to_party": "bob",
            "reason": "move",
            "sent_by": "user:alice",
            "sent_at": NOW,
            "status": "in_transit",
        } | values

    first = transfer()
    await rows.add(CustodyTransfer, **first)
    with pytest.raises(IntegrityError):
        await rows.add(CustodyTransfer, **transfer())
    with pytest.raises(IntegrityError):
        await rows.add(CustodyTransfer, **transfer(status="received"))  # received by nobody
    with pytest.raises(IntegrityError):
        await rows.add(CustodyTransfer, **transfer(status="received", received_by="user:bob", to_party="alice"))
    async with rows.db.transaction() as session:
        await session.execute(
            update(CustodyTransfer)
            .where(CustodyTransfer.id == first["id"])
            .values(status="received", received_by="user:bob", received_at=NOW)
        )
    await rows.add(CustodyTransfer, **transfer(from_party="bob", to_party="carol"))


async def test_only_a_failed_qc_result_carries_a_release(rows: Rows) -> None:
    sample_id = await rows.sample()
    user_id, signature_id = new_id(), new_id()
    await rows.add(
        User,
        id=user_id,
        tenant_id=rows.tenants[0],
        username="qa",
        display_name="QA",
        password_hash="x",
        role="lab_manager",
        disabled=False,
        failed_logins=0,
        password_changed_at=NOW,
        created_at=NOW,
    )
    await rows.add(
        ESignature,
        id=signature_id,
        tenant_id=rows.tenants[0],
        user_id=user_id,
        signer_name="QA",
        meaning="approval",
        record_type="qc_result",
        record_id="r",
        record_hash="0" * 64,
        signed_at=NOW,
    )
    result = {
        "tenant_id": rows.tenants[0],
        "sample_id": sample_id,
        "assay": "Qubit",
        "reason": "r",
        "recorded_by": "user:tech",
        "recorded_at": NOW,
        "released_signature_id": signature_id,
    }
    with pytest.raises(IntegrityError):
        await rows.add(QcResult, id=new_id(), passed=True, **result)
    await rows.add(QcResult, id=new_id(), passed=False, **result)
