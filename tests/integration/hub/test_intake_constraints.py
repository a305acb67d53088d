"""The intake rules the database itself holds, on SQLite and PostgreSQL: what a bug or a race in the hub could
otherwise break (an approval without a signature or by its author, a half-registered upload, one file registered
twice, two versions with one number)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from hub.db.base import new_id, utcnow
from hub.db.intake_models import IntakeTemplate, IntakeTemplateVersion, IntakeUpload
from hub.db.models import ESignature
from hub.domain.permissions import Role
from tests.integration.hub.test_intake_lab import IntakeLab, lab

__all__ = ["lab"]
pytestmark = pytest.mark.anyio


def _version(template: IntakeTemplate, author: str, number: int = 1, **values: Any) -> IntakeTemplateVersion:
    return IntakeTemplateVersion(
        tenant_id=template.tenant_id,
        template_id=template.id,
        version=number,
        fields=[],
        content_hash="0" * 64,
        author_id=author,
        created_by="test",
        **values,
    )


def _upload(version: IntakeTemplateVersion, **values: Any) -> IntakeUpload:
    defaults: dict[str, Any] = {
        "tenant_id": version.tenant_id,
        "template_id": version.template_id,
        "template_version_id": version.id,
        "version": version.version,
        "filename": "x.csv",
        "format": "csv",
        "sha256": "a" * 64,
        "size_bytes": 10,
        "dry_run": False,
        "status": "checked",
        "created_by": "test",
    }
    return IntakeUpload(**{**defaults, **values})


async def test_the_database_refuses_what_the_intake_rules_forbid(lab: IntakeLab) -> None:
    author, approver = lab.a.users[Role.LAB_MANAGER].id, lab.a.users[Role.TECHNICIAN].id
    template = IntakeTemplate(id=new_id(), tenant_id=lab.a.id, name="constraints", created_by="test")
    version = _version(template, author, id=new_id())
    signature = ESignature(
        id=new_id(),
        tenant_id=lab.a.id,
        user_id=approver,
        signer_name="x",
        meaning="approval",
        record_type="intake_template_version",
        record_id=version.id,
        record_hash="0" * 64,
    )
    async with lab.hub.state.db.transaction() as session:
        session.add_all([template, version, signature])
    registered = {"status": "registered", "registered_sha256": "a" * 64}
    approved = {"status": "approved", "approver_id": approver, "approved_at": utcnow(), "signature_id": signature.id}
    refused: list[tuple[str, Callable[[], list[Any]]]] = [
        ("same name in the lab", lambda: [IntakeTemplate(tenant_id=lab.a.id, name="constraints", created_by="t")]),
        ("version 1 twice", lambda: [_version(template, author)]),
        ("version 0", lambda: [_version(template, author, 0)]),
        ("unknown status", lambda: [_version(template, author, 2, status="retired")]),
        ("approved, unsigned", lambda: [_version(template, author, 2, status="approved")]),
        ("approved by its author", lambda: [_version(template, author, 2, **{**approved, "approver_id": author})]),
        ("registered with problems", lambda: [_upload(version, problem_count=1, **registered)]),
        ("registered, no file hash", lambda: [_upload(version, status="registered")]),
        ("checked, yet registered", lambda: [_upload(version, registered_sha256="a" * 64)]),
        ("rejected with samples", lambda: [_upload(version, status="rejected", registered_count=3)]),
        ("one file registered twice", lambda: [_upload(version, **registered), _upload(version, **registered)]),
    ]
    for what, rows in refused:
        with pytest.raises(IntegrityError):  # noqa: PT012 - the rows and the flush are one step
            async with lab.hub.state.db.transaction() as session:
                session.add_all(rows())
                await session.flush()
            pytest.fail(f"the database allowed: {what}")
    async with lab.hub.state.db.transaction() as session:  # and what they allow
        session.add_all(
            [
                IntakeTemplate(tenant_id=lab.b.id, name="constraints", created_by="test"),
                _version(template, author, 2, **approved),
                _upload(version, **registered),
                _upload(version),
                _upload(version),
            ]
        )
