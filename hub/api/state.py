"""What the application holds between requests, built once by ``create_app`` from settings."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from hub.api.middleware import Metrics
from hub.audit.trail import AuditTrail
from hub.db.base import Database
from hub.domain.devices import Devices
from hub.domain.identity import Identity
from hub.domain.ingest import Ingest
from hub.domain.intake import Intake
from hub.domain.samples import Samples
from hub.domain.sequencing import Sequencing
from hub.domain.storage import Storage
from hub.events.bus import EventBus
from hub.ratelimit import RateLimiter
from hub.settings import HubSettings


@dataclass
class HubState:
    settings: HubSettings
    db: Database
    audit: AuditTrail
    identity: Identity
    limiter: RateLimiter
    bus: EventBus
    metrics: Metrics
    devices: Devices
    ingest: Ingest
    samples: Samples
    storage: Storage
    intake: Intake
    sequencing: Sequencing
    redis: Redis | None = None
