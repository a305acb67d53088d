"""Sagas: lab workflows that span modules and survive crashes.

A saga is an ordered list of steps, each an action and its compensation (``definition``), logged in the hub
database (``hub.db.sagas_models``); ``SagaRunner`` claims runnable sagas under a lease and advances them one
transaction per step, resuming every unfinished saga after a restart; ``SagaBook`` starts, lists, retries and
aborts them. The lab's workflows are in ``workflows``.
"""

from __future__ import annotations

from hub.sagas.book import SagaBook, SagaView
from hub.sagas.context import Services, StepContext
from hub.sagas.crash import CrashPoints
from hub.sagas.definition import (
    Backoff,
    PermanentStepError,
    RetryableStepError,
    SagaDefinition,
    SagaError,
    Step,
    StepTimeoutError,
    Wait,
)
from hub.sagas.engine import SagaRunner
from hub.sagas.workflows import REGISTRY

__all__ = [
    "REGISTRY",
    "Backoff",
    "CrashPoints",
    "PermanentStepError",
    "RetryableStepError",
    "SagaBook",
    "SagaDefinition",
    "SagaError",
    "SagaRunner",
    "SagaView",
    "Services",
    "Step",
    "StepContext",
    "StepTimeoutError",
    "Wait",
]
