"""Tenant A's ai records for the sweep: one indexed document. The upload route takes a raw file, which the sweep
does not send: it answers 400 on the empty body."""

from __future__ import annotations

from hub.domain.identity import Principal
from hub.domain.permissions import Role
from tests.integration.hub.harness import RunningHub, SeededTenant

SOP = b"# SOP-001 Sweep freezer checks\n\n## Daily check\n\nRead the freezer display every morning and record it.\n"


async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]:
    from hub.api.routes.ai import get_ai

    user = tenant.users[Role.LAB_MANAGER]
    principal = Principal("user", user.id, tenant.id, user.username, Role.LAB_MANAGER)
    ai = get_ai(_Request(hub), hub.state)
    async with hub.state.db.transaction() as session:
        stored = await ai.documents.put(
            session, principal, data=SOP, filename="sweep-sop.md", content_type="text/markdown"
        )
    return {"document_id": stored.document.id}


class _App:
    def __init__(self, hub: RunningHub) -> None:
        self.state = hub.app.state


class _Request:
    """Just what ``get_ai`` reads of a request: the application's state."""

    def __init__(self, hub: RunningHub) -> None:
        self.app = _App(hub)


BODIES = {
    ("POST", "/v1/ai/documents"): lambda w: None,  # a raw file; none sent
}
