"""A short soak (bench/soak.py at small scale, about 35 s on a quiet machine): 4 edges × 10 channels and a
sequencer, a simulated day in 18 real seconds, into a hub (API + one worker) on PostgreSQL and Redis. The hub's
memory, open files and read latency stay flat and its database grows linearly with the entries it stores: the same
checks as the full soak. The figures are printed (``pytest -s``, lines after ``SOAK FIGURES``)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.e2e

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def load_soak() -> ModuleType:
    name = "bench_soak"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SOAK)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_a_short_soak_keeps_memory_files_and_latency_flat_and_database_growth_linear(
    require_service: Callable[[str], tuple[str, int]],
) -> None:
    require_service("postgresql")
    redis_host, redis_port = require_service("redis")
    soak = load_soak()
    config = soak.SoakConfig(
        edges=4,
        channels=10,
        rate=100.0,
        sim_seconds=86_400.0,
        real_seconds=18.0,
        sample_every=0.7,
        alarm_every=8.0,
        redis_url=f"redis://{redis_host}:{redis_port}/0",
    )

    result = soak.run_soak(config)

    print("\nSOAK FIGURES\n" + result.summary())
    assert result.samples[-1].entries > result.samples[0].entries, "the hub stored nothing during the soak"
    assert result.edges.alarms > 0, "no alarm was raised"
    assert not result.edges.errors, result.edges.errors
    assert not result.failures(), result.summary()
