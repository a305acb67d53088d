"""The anomaly measurement of bench/anomaly.py, short: simulated freezers with injected faults must be caught
within the delays below, and normal ones must stay quiet. The floors come from the full run's figures (see the
bench's docstring) with room for the short run's fewer units."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow


def bench() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "bench" / "anomaly.py"
    spec = importlib.util.spec_from_file_location("bench_anomaly", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_simulated_faults_are_caught_in_time_and_normal_units_stay_quiet_with_and_without_a_hold() -> None:
    anomaly = bench()
    figures = anomaly.measure(
        normal_units=3, units_per_fault=1, train_days=6, test_days=5, fault_day=1.0, seed=7, holds=(1, 3), dt=4.0
    )
    print(anomaly.report(figures))
    assert figures.false_per_unit_day(3) <= 0.06  # one false alert in the 18 unit-days
    assert figures.false_per_unit_day(1) <= 0.12
    for hold, limits in {
        1: {"compressor": 72, "door_seal": 12, "drift": 36},
        3: {"compressor": 96, "door_seal": 48, "drift": 40},
    }.items():
        for fault, hours in limits.items():
            assert figures.missed[hold][fault] == 0, (hold, fault)
            assert figures.delay(hold, fault, "worst") <= hours, (hold, fault)
    assert not math.isnan(figures.unit_days)
