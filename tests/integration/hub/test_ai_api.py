"""The documents and ask API on both databases: the evaluation corpus indexed for tenant A through the API answers
its questions with citations into A's documents; tenant B's answers never name A's documents; unchanged uploads
change nothing, changed ones re-index that document alone; an index built in another process follows changes by
the version counter; uploads need samples:write, asking any person's tenant:read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.ai import AiService
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from tests.data.ai.corpus import documents
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(hub_settings(db_url, tmp_path, alerts_in_process=False)) as running:
        yield running


async def _upload(
    hub: RunningHub, tenant: SeededTenant, name: str, content_type: str, data: bytes
) -> dict[str, object]:
    response = await hub.client.post(
        "/v1/ai/documents",
        params={"filename": name},
        content=data,
        headers={**hub.auth(tenant.users[Role.TECHNICIAN]), "content-type": content_type},
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, object] = response.json()
    return body


async def _ask(hub: RunningHub, tenant: SeededTenant, question: str, role: Role = Role.SCIENTIST) -> dict[str, object]:
    response = await hub.client.post("/v1/ai/ask", json={"question": question}, headers=hub.auth(tenant.users[role]))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_answers_cite_the_tenants_own_documents_and_never_another_tenants(hub: RunningHub) -> None:
    tenants = await seed(hub.state)
    a, b = tenants["alpha-lab"], tenants["beta-lab"]
    for name, content_type, data in documents():
        created = await _upload(hub, a, name, content_type, data)
        assert created["revision"] == 1
        assert created["chunk_count"]
    await _upload(
        hub, b, "beta-notes.md", "text/markdown", b"# Beta notes\n\n## Coffee\n\nThe coffee machine is on floor 2.\n"
    )

    answer = await _ask(hub, a, "Which backup freezer do we move samples to when a freezer fails?", Role.FACILITIES)
    assert answer["found"] is True
    assert "F9" in str(answer["answer"])
    statements = answer["statements"]
    assert isinstance(statements, list)
    assert statements
    retrieved = {p["chunk_id"] for p in answer["passages"]}  # type: ignore[attr-defined]
    for statement in statements:
        for citation in statement["citations"]:
            assert citation["chunk_id"] in retrieved
            assert citation["document_name"] == "sop-freezer-failure.md"
            assert "Response to an alarm" in citation["section"]

    pdf = await _ask(hub, a, "What loading concentration is used for the 10B flow cell?")
    assert pdf["found"] is True
    assert "150 to 200 pM" in str(pdf["answer"])
    assert pdf["passages"][0]["page"] == 1  # type: ignore[index]

    not_there = await _ask(hub, a, "What is the warranty period of the NovaSeq X instrument?")
    assert not_there["found"] is False
    assert not_there["answer"] == "Not found in your documents."

    a_names = {name for name, _, _ in documents()}
    for question in (
        "Which backup freezer do we move samples to?",
        "What loading concentration for the 10B flow cell?",
    ):
        other = await _ask(hub, b, question)
        assert other["found"] is False
        assert not {p["document_name"] for p in other["passages"]} & a_names  # type: ignore[attr-defined]
    listed = await hub.client.get("/v1/ai/documents", headers=hub.auth(b.users[Role.AUDITOR]))
    assert [d["name"] for d in listed.json()] == ["beta-notes.md"]


async def test_changed_documents_are_reindexed_and_unchanged_ones_are_not(hub: RunningHub) -> None:
    tenants = await seed(hub.state)
    a = tenants["alpha-lab"]
    first = await _upload(hub, a, "sop.md", "text/markdown", b"# SOP\n\n## Spills\n\nUse 10% bleach on spills.\n")
    again = await hub.client.post(
        "/v1/ai/documents",
        params={"filename": "sop.md"},
        content=b"# SOP\n\n## Spills\n\nUse 10% bleach on spills.\n",
        headers={**hub.auth(a.users[Role.TECHNICIAN]), "content-type": "text/markdown"},
    )
    assert again.status_code == 200
    assert again.json()["revision"] == 1

    # a second hub process's view: its own index, fed only by the database
    user = a.users[Role.SCIENTIST]
    principal = Principal("user", user.id, a.id, user.username, Role.SCIENTIST)
    elsewhere = AiService(hub.state.audit)
    async with hub.state.db.read() as session:
        assert "bleach" in (await elsewhere.ask(session, principal, "What should we use on spills?")).text

    changed = await _upload(hub, a, "sop.md", "text/markdown", b"# SOP\n\n## Spills\n\nUse Virkon on spills.\n")
    assert changed["id"] == first["id"]
    assert changed["revision"] == 2
    answer = await _ask(hub, a, "What should we use on spills?")
    assert "Virkon" in str(answer["answer"])
    assert "bleach" not in str(answer["answer"])
    async with hub.state.db.read() as session:
        assert "Virkon" in (await elsewhere.ask(session, principal, "What should we use on spills?")).text

    deleted = await hub.client.delete(f"/v1/ai/documents/{first['id']}", headers=hub.auth(a.users[Role.LAB_MANAGER]))
    assert deleted.status_code == 204
    assert (await _ask(hub, a, "What should we use on spills?"))["found"] is False
    trail = await hub.client.get(
        "/v1/audit/entries",
        params={"record_type": "ai_document", "record_id": str(first["id"])},
        headers=hub.auth(a.users[Role.AUDITOR]),
    )
    assert [e["action"] for e in trail.json()] == ["create", "update", "delete"]


async def test_uploads_need_samples_write_and_unreadable_files_are_refused(hub: RunningHub) -> None:
    tenants = await seed(hub.state)
    a = tenants["alpha-lab"]
    refused = await hub.client.post(
        "/v1/ai/documents",
        params={"filename": "x.md"},
        content=b"# x\n\ntext\n",
        headers={**hub.auth(a.users[Role.FACILITIES]), "content-type": "text/markdown"},
    )
    assert refused.status_code == 403
    broken = await hub.client.post(
        "/v1/ai/documents",
        params={"filename": "manual.pdf"},
        content=b"%PDF-1.4 broken",
        headers={**hub.auth(a.users[Role.TECHNICIAN]), "content-type": "application/pdf"},
    )
    assert broken.status_code == 400
    assert broken.headers["content-type"] == "application/problem+json"
    assert "not a readable PDF" in broken.json()["detail"]
