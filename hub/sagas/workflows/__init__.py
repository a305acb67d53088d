"""The lab's workflows as sagas, by type."""

from __future__ import annotations

from hub.sagas.definition import SagaDefinition
from hub.sagas.workflows import excursion, intake, sequencing

REGISTRY: dict[str, SagaDefinition] = {
    d.type: d for d in (intake.DEFINITION, sequencing.DEFINITION, excursion.DEFINITION)
}

__all__ = ["REGISTRY", "excursion", "intake", "sequencing"]
