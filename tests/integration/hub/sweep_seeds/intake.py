"""Tenant A's intake records for the sweep: a template whose version 1 a second person approved, and a dry-run
upload against it. The version is seeded by its id (a number such as ``1`` would look like a leak in every
answer); the upload route takes a raw file, which the sweep does not send: it answers 400 on the empty body."""

from __future__ import annotations

from typing import Any

from hub.db.models import User
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from hub.intake import FieldSpec
from tests.integration.hub.harness import PASSWORD, RunningHub, SeededTenant

FIELDS: list[dict[str, Any]] = [
    {"key": "barcode", "label": "Barcode", "type": "text", "maps_to": "barcode"},
    {"key": "name", "label": "Sample name", "type": "text", "required": True, "maps_to": "name"},
    {"key": "sample_type", "label": "Sample type", "type": "text", "required": True, "maps_to": "sample_type"},
]


def _person(tenant: SeededTenant, role: Role) -> Principal:
    user = tenant.users[role]
    return Principal("user", user.id, tenant.id, user.username, role)


async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]:
    state = hub.state
    author, approver = _person(tenant, Role.LAB_MANAGER), _person(tenant, Role.TECHNICIAN)
    async with state.db.transaction() as session:
        template, version = await state.intake.create_template(
            session, author, name="Sweep intake A", description=None, fields=[FieldSpec(**f) for f in FIELDS], note=None
        )
        signer = await session.get(User, approver.id)
        assert signer is not None
        await state.intake.approve(session, approver, signer, template.id, 1, reason="sweep seed")
    async with state.db.transaction() as session:
        outcome = await state.intake.upload(
            session,
            author,
            template.id,
            data=b"Barcode,Sample name,Sample type\r\nSWEEP-1,one,Intake sweep type\r\n",
            content_type="text/csv",
            filename="sweep.csv",
            dry_run=True,
        )
    return {"template_id": template.id, "template_version": version.id, "upload_id": outcome.upload.id}


BODIES = {
    ("POST", "/v1/intake/templates"): lambda w: {"name": "Sweep intake", "fields": FIELDS},
    ("POST", "/v1/intake/templates/{template_id}/versions"): lambda w: {"fields": FIELDS, "reason": "sweep change"},
    ("POST", "/v1/intake/templates/{template_id}/versions/{template_version}/approval"): lambda w: {
        "password": PASSWORD
    },
    ("POST", "/v1/intake/templates/{template_id}/uploads"): lambda w: None,  # a raw file; none sent
}
