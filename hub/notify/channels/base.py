"""The seam between the delivery loop and the providers: a message as a channel sends it, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One message ready to send. ``id`` is the idempotency key: the same on every attempt at this message."""

    id: str
    tenant_id: str
    channel_id: str
    channel_name: str
    channel_kind: str
    address: str | None
    kind: str
    severity: str
    subject: str
    body: str
    context: dict[str, Any]
    created_at: datetime
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Receipt:
    """What the provider said: ``delivered`` when its answer means the message reached its place (a Slack post is
    in the channel), not only that it was accepted for delivery."""

    delivered: bool = False
    provider_message_id: str | None = None
    status_code: int | None = None


class Channel(Protocol):
    """One kind of channel. ``send`` raises ``RetryableDeliveryError`` or ``PermanentDeliveryError``, nothing else;
    it passes ``message.id`` as an idempotency key wherever the provider accepts one."""

    async def send(self, message: Outgoing) -> Receipt: ...
