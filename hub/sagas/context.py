"""What a step's action or compensation is handed: its transaction, the lab's services, who started the saga, the
saga's inputs and the outputs of the steps before it, and the step's idempotency key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.models import User
from hub.domain.devices import Devices
from hub.domain.identity import Principal
from hub.domain.intake import Intake
from hub.domain.permissions import Role
from hub.domain.samples import Samples
from hub.domain.sequencing import Sequencing
from hub.domain.storage import Storage
from hub.notify import Severity, enqueue


class Services(Protocol):
    """The domain services steps call (``HubState`` has them all)."""

    @property
    def audit(self) -> AuditTrail: ...
    @property
    def samples(self) -> Samples: ...
    @property
    def storage(self) -> Storage: ...
    @property
    def intake(self) -> Intake: ...
    @property
    def sequencing(self) -> Sequencing: ...
    @property
    def devices(self) -> Devices: ...


def principal_facts(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "id": principal.id,
        "tenant_id": principal.tenant_id,
        "name": principal.name,
        "role": principal.role.value if principal.role else None,
    }


def principal_of(facts: Mapping[str, Any]) -> Principal:
    role = facts.get("role")
    kind: Literal["user", "device"] = "device" if facts.get("kind") == "device" else "user"
    return Principal(kind, str(facts["id"]), str(facts["tenant_id"]), str(facts["name"]), Role(role) if role else None)


@dataclass
class StepContext:
    session: AsyncSession
    services: Services
    principal: Principal  # who started the saga: its steps act in their name
    saga_id: str
    saga_type: str
    step: str
    key: str  # the step's idempotency key: the same on every attempt, after every restart
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Mapping[str, Any]]  # by step name
    now: datetime

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    def output(self, step: str, key: str) -> Any:
        return self.outputs.get(step, {}).get(key)

    async def user_ids(self, usernames: Sequence[str]) -> list[str]:
        """The ids of the tenant's users among ``usernames`` (custodians are kept as user names)."""
        if not usernames:
            return []
        query = select(User.id).where(User.tenant_id == self.tenant_id, User.username.in_(sorted(set(usernames))))
        return sorted((await self.session.execute(query)).scalars())

    async def notify(
        self, user_ids: Sequence[str], *, kind: str, severity: Severity, context: Mapping[str, Any]
    ) -> int:
        """Queue one message per user and channel, keyed on this step: a retried or replayed step queues nothing
        new. Returns how many messages exist for the step."""
        stored = 0
        for user_id in sorted(set(user_ids)):
            messages = await enqueue(
                self.session,
                tenant_id=self.tenant_id,
                user_id=user_id,
                kind=kind,
                severity=severity,
                dedup_key=self.key,
                context=context,
                actor=f"system:saga:{self.saga_type}",
                now=self.now,
            )
            stored += len(messages)
        return stored
