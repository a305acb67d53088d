"""``Storage``, the service the API and the ingest handlers call: one object made of the parts in this package,
each adding one group of operations to the shared base (``base.StorageBase``)."""

from __future__ import annotations

from hub.audit.trail import AuditTrail
from hub.domain.samples import Samples
from hub.domain.storage.base import DEFAULT_WARN_AT_PCT
from hub.domain.storage.bindings import StorageBindings
from hub.domain.storage.containers import StorageContainers
from hub.domain.storage.excursions import StorageExcursions
from hub.domain.storage.placement import StoragePlacements
from hub.domain.storage.views import StorageViews


class Storage(StorageContainers, StorageViews, StoragePlacements, StorageBindings, StorageExcursions):
    """Where every sample is, whether it is cold enough there, and what to do when a unit warms up.

    ``Storage(audit, samples, warn_at_pct=90)``. Every change is audited and announced by an outbox event;
    ``on_device_events`` is the ingest handler that opens and ends excursions."""

    def __init__(self, audit: AuditTrail, samples: Samples, *, warn_at_pct: int = DEFAULT_WARN_AT_PCT) -> None:
        super().__init__(audit, samples, warn_at_pct=warn_at_pct)
        samples.after_transition.append(self.leave_storage)
