"""What the tenant and role sweep needs from each domain module, one file per module.

Each module here defines:

- ``async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]``: records of tenant A
  for the module's routes, returned as path parameter name → id (``{"sample_id": …}``); every id returned is also
  watched for leaks to tenant B;
- ``BODIES`` and ``QUERIES``: ``(method, path template) → (world → JSON body or query parameters)`` for routes whose
  smallest schema-valid request would not reach the handler. ``world.path_ids`` holds every seeded id.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

Maker = Callable[[Any], Any]
Seeder = Callable[[Any, Any, str], Awaitable[dict[str, str]]]


@dataclass(frozen=True)
class ModuleSeeds:
    name: str
    seed: Seeder
    bodies: dict[tuple[str, str], Maker]
    queries: dict[tuple[str, str], Maker]


def _load(module: ModuleType) -> ModuleSeeds:
    return ModuleSeeds(
        name=module.__name__.rsplit(".", 1)[-1],
        seed=module.seed,
        bodies=getattr(module, "BODIES", {}),
        queries=getattr(module, "QUERIES", {}),
    )


def all_seeds() -> list[ModuleSeeds]:
    found = [
        _load(importlib.import_module(f"{__name__}.{info.name}"))
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
    ]
    return found
