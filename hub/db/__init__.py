"""The hub's database: the declarative base, engines, and the model modules that make up the schema."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "hub.db.models",
    "hub.db.ingest_models",
    "hub.db.sample_models",
    "hub.db.storage_models",
    "hub.db.intake_models",
    "hub.db.sequencing_models",
    "hub.db.notifications_models",
    "hub.db.alerts_models",
    "hub.db.sagas_models",
    "hub.db.ai_models",
    "hub.db.anomaly_models",
)


def load_models() -> None:
    """Import every model module, so ``Base.metadata`` holds the whole schema (migrations, schema checks)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
