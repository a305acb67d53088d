"""What only the database can say about a checked sheet: whether its sample types and projects exist in the lab
(matched by name or code, ignoring case) and whether its barcodes are registered already. Each answer is a problem
on the row and column it concerns, in the same report as the sheet's own problems."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.sample_models import Project, Sample, SampleType
from hub.intake import SheetCheck, Target

_CHUNK = 500  # values in one IN (...) list


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _values(check: SheetCheck, key: str) -> list[str]:
    return sorted({v for row in check.rows if isinstance(v := row.values.get(key), str)})


def _by_folded_name(rows: Iterable[Any]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for row_id, name in rows:
        found.setdefault(name.casefold(), []).append((row_id, name))
    return found


def _resolve(check: SheetCheck, key: str, target: Target, known: dict[str, list[tuple[str, str]]], what: str) -> None:
    for row in check.rows:
        value = row.values.get(key)
        if not isinstance(value, str):
            continue
        matches = known.get(value.casefold(), [])
        exact = [m for m in matches if m[1] == value]
        if len(matches) == 1 or len(exact) == 1:
            check.references.setdefault(row.number, {})[target] = (exact or matches)[0][0]
        elif matches:
            names = ", ".join(sorted(m[1] for m in matches))
            check.refuse(row, key, f"{what} {value!r} is ambiguous here ({names}): write it exactly")
        else:
            check.refuse(row, key, f"no {what} {value!r} in this lab")


async def resolve_references(session: AsyncSession, tenant_id: str, check: SheetCheck) -> None:
    """Fill ``check.references`` with sample type and project ids; add a problem for each unknown one and each
    barcode registered already."""
    key = check.target_key(Target.SAMPLE_TYPE)
    if key is not None:
        types = await session.execute(select(SampleType.id, SampleType.name).where(SampleType.tenant_id == tenant_id))
        _resolve(check, key, Target.SAMPLE_TYPE, _by_folded_name(types.all()), "sample type")
    key = check.target_key(Target.PROJECT)
    if key is not None:
        projects: list[Any] = []
        for chunk in _chunks(sorted({v.lower() for v in _values(check, key)})):
            query = select(Project.id, Project.code).where(
                Project.tenant_id == tenant_id, func.lower(Project.code).in_(chunk)
            )
            projects += (await session.execute(query)).all()
        _resolve(check, key, Target.PROJECT, _by_folded_name(projects), "project")
    key = check.target_key(Target.BARCODE)
    if key is not None:
        taken: set[str] = set()
        for chunk in _chunks(_values(check, key)):
            registered = select(Sample.barcode).where(Sample.tenant_id == tenant_id, Sample.barcode.in_(chunk))
            taken.update((await session.execute(registered)).scalars())
        for row in check.rows:
            barcode = row.values.get(key)
            if isinstance(barcode, str) and barcode in taken:
                check.refuse(row, key, f"barcode {barcode} is already registered")
