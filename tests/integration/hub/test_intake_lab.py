"""Fixtures and short calls for the intake tests (no tests here): a hub on SQLite or PostgreSQL, two tenants with
one user per role, sample types and a project in tenant A, and calls for templates, approvals and uploads."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from hub.db.sample_models import Project, SampleType
from hub.domain.permissions import Role
from hub.intake import XLSX_TYPE
from tests.integration.hub.harness import PASSWORD, RunningHub, SeededTenant, hub_settings, running_hub, seed

FIELDS: list[dict[str, Any]] = [
    {"key": "barcode", "label": "Barcode", "type": "text", "maps_to": "barcode", "pattern": r"TS-\d{4}"},
    {"key": "name", "label": "Sample name", "type": "text", "required": True, "maps_to": "name"},
    {"key": "sample_type", "label": "Sample type", "type": "text", "required": True, "maps_to": "sample_type"},
    {"key": "project", "label": "Project", "type": "text", "maps_to": "project"},
    {
        "key": "volume",
        "label": "Volume",
        "type": "number",
        "unit": "µL",
        "maximum": "1000",
        "maps_to": "volume_ul",
    },
    {"key": "collected", "label": "Collected on", "type": "date", "required": True},
    {"key": "consent", "label": "Consent", "type": "enum", "choices": ["yes", "no", "withdrawn"], "required": True},
    {"key": "comment", "label": "Comment", "type": "text"},
]


@dataclass
class IntakeLab:
    hub: RunningHub
    a: SeededTenant
    b: SeededTenant

    async def call(
        self, method: str, url: str, role: Role = Role.TECHNICIAN, tenant: str = "a", **kwargs: Any
    ) -> httpx.Response:
        user = (self.a if tenant == "a" else self.b).users[role]
        headers = {**self.hub.auth(user), **kwargs.pop("headers", {})}
        return await self.hub.client.request(method, url, headers=headers, **kwargs)

    async def template(self, name: str = "Blood intake", role: Role = Role.LAB_MANAGER, **body: Any) -> dict[str, Any]:
        response = await self.call("POST", "/v1/intake/templates", role, json={"name": name, "fields": FIELDS, **body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def approve(
        self, template_id: str, version: int | str = 1, role: Role = Role.TECHNICIAN, password: str = PASSWORD
    ) -> httpx.Response:
        return await self.call(
            "POST",
            f"/v1/intake/templates/{template_id}/versions/{version}/approval",
            role,
            json={"password": password, "reason": "checked the fields"},
        )

    async def approved(self, name: str = "Blood intake") -> str:
        template_id: str = (await self.template(name))["id"]
        response = await self.approve(template_id)
        assert response.status_code == 200, response.text
        return template_id

    async def upload(
        self,
        template_id: str,
        data: bytes,
        *,
        dry_run: bool = True,
        content_type: str = "text/csv",
        role: Role = Role.TECHNICIAN,
        tenant: str = "a",
        **params: Any,
    ) -> httpx.Response:
        return await self.call(
            "POST",
            f"/v1/intake/templates/{template_id}/uploads",
            role,
            tenant,
            content=data,
            headers={"Content-Type": content_type},
            params={"dry_run": str(dry_run).lower(), "filename": "samples.csv", **params},
        )


def xlsx(rows: Sequence[Sequence[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.worksheets[0]
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def problems_of(body: dict[str, Any]) -> set[tuple[int | None, str | None, str]]:
    return {(p["row"], p["column"], p["reason"]) for p in body["problems"]}


@pytest.fixture
async def lab(db_url: str, tmp_path: Path) -> AsyncIterator[IntakeLab]:
    async with running_hub(hub_settings(db_url, tmp_path)) as hub:
        tenants = await seed(hub.state)
        a = tenants["alpha-lab"]
        async with hub.state.db.transaction() as session:
            session.add_all(
                [
                    SampleType(tenant_id=a.id, name="Blood", zone="-80"),
                    SampleType(tenant_id=a.id, name="DNA", zone="-20"),
                    Project(tenant_id=a.id, code="P-100", name="Cohort", created_by="seed"),
                ]
            )
        yield IntakeLab(hub, a, tenants["beta-lab"])


__all__ = ["FIELDS", "XLSX_TYPE", "IntakeLab", "lab", "problems_of", "xlsx"]
