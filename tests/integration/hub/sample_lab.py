"""A lab for the sample tests: a hub on SQLite or PostgreSQL with two tenants (one user per role each), and short
calls for what most tests do first (a sample type, a batch of samples, a move)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.domain.permissions import Role
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed


@dataclass
class Lab:
    hub: RunningHub
    a: SeededTenant
    b: SeededTenant

    def headers(self, role: Role = Role.TECHNICIAN, tenant: str = "a") -> dict[str, str]:
        return self.hub.auth((self.a if tenant == "a" else self.b).users[role])

    def username(self, role: Role, tenant: str = "a") -> str:
        return (self.a if tenant == "a" else self.b).users[role].username

    async def call(
        self, method: str, url: str, role: Role = Role.TECHNICIAN, tenant: str = "a", **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.headers(role, tenant), **kwargs.pop("headers", {})}
        return await self.hub.client.request(method, url, headers=headers, **kwargs)

    async def ok(self, method: str, url: str, role: Role = Role.TECHNICIAN, **kwargs: Any) -> Any:
        response = await self.call(method, url, role, **kwargs)
        assert response.is_success, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()

    async def sample_type(self, name: str = "Blood", zone: str = "-80", tenant: str = "a") -> str:
        response = await self.call("POST", "/v1/sample-types", tenant=tenant, json={"name": name, "zone": zone})
        assert response.status_code == 201, response.text
        type_id: str = response.json()["id"]
        return type_id

    async def register(self, sample_type_id: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        body = {"samples": [{"name": f"sample {i}", "sample_type_id": sample_type_id, **fields} for i in range(count)]}
        samples: list[dict[str, Any]] = await self.ok("POST", "/v1/samples", json=body)
        return samples

    async def move(self, ids: list[str], to: str, reason: str = "lab work") -> httpx.Response:
        return await self.call("POST", "/v1/samples/transitions", json={"sample_ids": ids, "to": to, "reason": reason})

    async def stored(self, sample_type_id: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        """Samples registered, received and stored."""
        samples = await self.register(sample_type_id, count, **fields)
        ids = [s["id"] for s in samples]
        for to in ("received", "stored"):
            response = await self.move(ids, to)
            assert response.status_code == 200, response.text
        return list(response.json())


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(hub_settings(db_url, tmp_path)) as running:
        yield running


@pytest.fixture
async def lab(hub: RunningHub) -> Lab:
    tenants = await seed(hub.state)
    return Lab(hub, tenants["alpha-lab"], tenants["beta-lab"])
