"""The six lab roles and what each may do: the one place the permission matrix lives.

Every endpoint declares the permission it needs; the README's table is rendered from ``MATRIX`` (a test keeps
them equal).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    LAB_MANAGER = "lab_manager"
    TECHNICIAN = "technician"
    SCIENTIST = "scientist"
    AUDITOR = "auditor"
    FACILITIES = "facilities"


class Permission(StrEnum):
    TENANT_READ = "tenant:read"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    DEVICES_READ = "devices:read"
    DEVICES_MANAGE = "devices:manage"
    EVENTS_READ = "events:read"
    AUDIT_READ = "audit:read"
    AUDIT_EXPORT = "audit:export"
    ESIGN = "esign:sign"
    SAMPLES_READ = "samples:read"
    SAMPLES_WRITE = "samples:write"
    STORAGE_READ = "storage:read"
    STORAGE_WRITE = "storage:write"
    SEQUENCING_READ = "sequencing:read"
    SEQUENCING_WRITE = "sequencing:write"
    ALERTS_READ = "alerts:read"
    ALERTS_ACK = "alerts:ack"
    ALERTS_MANAGE = "alerts:manage"
    DEVICE_SYNC = "device:sync"  # edge devices only: write their own log; no person has it


_READ_ALL = {p for p in Permission if p.value.endswith(":read")}
DEVICE_PERMISSIONS = frozenset({Permission.DEVICE_SYNC})

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(set(Permission) - DEVICE_PERMISSIONS),
    Role.LAB_MANAGER: frozenset(
        _READ_ALL
        | {
            Permission.ESIGN,
            Permission.SAMPLES_WRITE,
            Permission.STORAGE_WRITE,
            Permission.SEQUENCING_WRITE,
            Permission.ALERTS_ACK,
            Permission.ALERTS_MANAGE,
            Permission.AUDIT_EXPORT,
        }
    ),
    Role.TECHNICIAN: frozenset(
        {
            Permission.TENANT_READ,
            Permission.SAMPLES_READ,
            Permission.SAMPLES_WRITE,
            Permission.STORAGE_READ,
            Permission.STORAGE_WRITE,
            Permission.SEQUENCING_READ,
            Permission.SEQUENCING_WRITE,
            Permission.ALERTS_READ,
            Permission.ALERTS_ACK,
            Permission.DEVICES_READ,
            Permission.EVENTS_READ,
            Permission.ESIGN,
        }
    ),
    Role.SCIENTIST: frozenset(
        {
            Permission.TENANT_READ,
            Permission.SAMPLES_READ,
            Permission.STORAGE_READ,
            Permission.SEQUENCING_READ,
            Permission.SEQUENCING_WRITE,
            Permission.ALERTS_READ,
            Permission.ESIGN,
        }
    ),
    # read-only everything, including audit trails and exports
    Role.AUDITOR: frozenset(_READ_ALL | {Permission.AUDIT_EXPORT}),
    Role.FACILITIES: frozenset(
        {
            Permission.TENANT_READ,
            Permission.STORAGE_READ,
            Permission.DEVICES_READ,
            Permission.ALERTS_READ,
            Permission.ALERTS_ACK,
            Permission.ALERTS_MANAGE,
            Permission.EVENTS_READ,
        }
    ),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in MATRIX[role]


def render_matrix() -> str:
    """The README's permission table, as Markdown."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |", "| --- |" + " :-: |" * len(roles)]
    for permission in Permission:
        if permission in DEVICE_PERMISSIONS:
            continue
        marks = " | ".join("✓" if permission in MATRIX[r] else "" for r in roles)
        lines.append(f"| `{permission.value}` | {marks} |")
    return "\n".join(lines)
