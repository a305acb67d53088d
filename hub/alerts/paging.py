"""The one place alerts reach people: each escalation step queues its messages in the notifications outbox
(``hub.notify``), which stores them before sending and keys them on (tenant, dedup key, user, channel), so a step
queued twice sends nothing new."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import NotFoundError
from hub.notify.outbox import Severity, enqueue

logger = logging.getLogger(__name__)

# alert severities (the edge's: warning, alarm, critical) as the notifications outbox ranks them
_FOR_PEOPLE: dict[str, Severity] = {"warning": "warning", "alarm": "critical", "critical": "critical"}

Pager = Callable[..., Awaitable[int]]


async def page(
    session: AsyncSession,
    *,
    tenant_id: str,
    user_id: str,
    kind: str,
    severity: str,
    dedup_key: str,
    context: Mapping[str, Any],
) -> int:
    """Queue one person's messages for one step; returns how many messages stand for it (0: unreachable)."""
    try:
        messages = await enqueue(
            session,
            tenant_id=tenant_id,
            user_id=user_id,
            kind=kind,
            severity=_FOR_PEOPLE.get(severity, "warning"),
            dedup_key=dedup_key,
            context=context,
        )
    except NotFoundError:
        logger.warning("escalation step %s names user %s, who is gone", dedup_key, user_id)
        return 0
    return len(messages)
