"""The permission matrix: one row per role, an auditor who only reads, and the README's table rendered from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.identity import Principal
from hub.domain.permissions import MATRIX, Permission, Role, allows, render_matrix
from hub.errors import ForbiddenError

README = Path(__file__).resolve().parents[3] / "README.md"
CHANGES = ("write", "manage", "ack", "sign", "sync")


def test_the_readme_shows_the_matrix_exactly_as_rendered() -> None:
    table = render_matrix()
    assert table in README.read_text(encoding="utf-8"), (
        "README.md's permission table differs from hub.domain.permissions.MATRIX; paste this in:\n" + table
    )


def test_every_role_has_a_row_and_nothing_else_does() -> None:
    assert set(MATRIX) == set(Role)
    assert all(MATRIX[role] for role in Role)


def test_the_rendered_table_has_a_column_per_role_and_a_row_per_permission_people_can_hold() -> None:
    header, rule, *rows = render_matrix().splitlines()
    assert header == "| permission | " + " | ".join(r.value for r in Role) + " |"
    assert rule.count(":-:") == len(Role)
    held = {p for grants in MATRIX.values() for p in grants}
    assert [row.split("`")[1] for row in rows] == [p.value for p in Permission if p in held]


@pytest.mark.parametrize("permission", sorted(MATRIX[Role.AUDITOR]))
def test_an_auditor_holds_no_permission_that_changes_anything(permission: Permission) -> None:
    assert permission.value.endswith(":read") or permission is Permission.AUDIT_EXPORT
    assert permission.value.split(":")[1] not in CHANGES


def test_an_auditor_reads_everything_a_person_can_read() -> None:
    readable = {p for grants in MATRIX.values() for p in grants if p.value.endswith(":read")}
    assert readable <= MATRIX[Role.AUDITOR]


def test_only_the_admin_manages_users_and_devices() -> None:
    for permission in (Permission.USERS_MANAGE, Permission.DEVICES_MANAGE):
        assert [r for r in Role if allows(r, permission)] == [Role.ADMIN]


def test_a_principal_is_refused_what_its_role_does_not_allow() -> None:
    scientist = Principal("user", "u1", "t1", "sam", Role.SCIENTIST)
    assert scientist.can(Permission.ESIGN)
    with pytest.raises(ForbiddenError, match="users:manage"):
        scientist.require(Permission.USERS_MANAGE)
    assert not Principal("user", "u2", "t1", "nobody").can(Permission.TENANT_READ)


@pytest.mark.parametrize("permission", sorted({p for grants in MATRIX.values() for p in grants}))
def test_a_device_holds_no_permission_of_a_person(permission: Permission) -> None:
    assert not Principal("device", "d1", "t1", "freezer-gw").can(permission)
