"""Tenant A's ai records for the sweep: one indexed document and one QC model version (a neutral model written as
a row: the sweep's tenant has too little history to train one). The upload and form routes take a raw file, which
the sweep does not send: they answer 400 on the empty body."""

from __future__ import annotations

import hashlib

from hub.ai.freezer_risk import FreezerRisk
from hub.ai.qc_model import KIND, NUMERIC, QcModel
from hub.db.ai_models import AiModel
from hub.db.base import utcnow
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from tests.integration.hub.harness import RunningHub, SeededTenant

SOP = b"# SOP-001 Sweep freezer checks\n\n## Daily check\n\nRead the freezer display every morning and record it.\n"


async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]:
    from hub.api.routes.ai import get_ai

    frozen = utcnow()  # the risk period ends at the last whole hour: held still while the sweep compares reads
    hub.app.state.freezer_risk = FreezerRisk(clock=lambda: frozen)

    user = tenant.users[Role.LAB_MANAGER]
    principal = Principal("user", user.id, tenant.id, user.username, Role.LAB_MANAGER)
    ai = get_ai(_Request(hub), hub.state)
    async with hub.state.db.transaction() as session:
        stored = await ai.documents.put(
            session, principal, data=SOP, filename="sweep-sop.md", content_type="text/markdown"
        )
        names = list(NUMERIC)
        neutral = QcModel(
            names, [0.0] * len(names), [0.0] * len(names), [1.0] * len(names), [0.0] * len(names), 0.0, -1.0, 0.0
        )
        data = neutral.to_bytes()
        model = AiModel(
            tenant_id=tenant.id,
            kind=KIND,
            version=1,
            algorithm="neutral (sweep seed)",
            trained_at=utcnow(),
            rows=0,
            metrics={"brier": None},
            model=data,
            model_sha256=hashlib.sha256(data).hexdigest(),
            created_by=principal.label,
        )
        session.add(model)
        await session.flush()
    return {"document_id": stored.document.id, "ai_model_id": model.id}


class _App:
    def __init__(self, hub: RunningHub) -> None:
        self.state = hub.app.state


class _Request:
    """Just what ``get_ai`` reads of a request: the application's state."""

    def __init__(self, hub: RunningHub) -> None:
        self.app = _App(hub)


BODIES = {
    ("POST", "/v1/ai/documents"): lambda w: None,  # a raw file; none sent
    ("POST", "/v1/ai/intake-forms"): lambda w: None,  # a raw file; none sent
    ("POST", "/v1/ai/query"): lambda w: {"question": "which samples are in Sweep freezer?"},
}
QUERIES = {
    ("POST", "/v1/ai/intake-forms"): lambda w: {
        "template_id": w.path_ids["template_id"],
        "version": w.path_ids["template_version"],
        "filename": "sweep-form.txt",
    },
}
