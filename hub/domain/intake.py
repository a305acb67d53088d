"""Intake. (Filled in by the intake module.)"""

from __future__ import annotations

from hub.audit.trail import AuditTrail
from hub.domain.samples import Samples


class Intake:
    def __init__(self, audit: AuditTrail, samples: Samples) -> None:
        self.audit = audit
        self.samples = samples
