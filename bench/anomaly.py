"""Benchmark: per-unit anomaly detection on simulated -80 °C freezers with injected faults.

    python bench/anomaly.py [--units-per-fault N] [--normal-units N] [--train-days D] [--test-days D] [--seed S]

Simulates freezers with the thermal model of ``firmware-sim/freezer/thermal.py`` (first-order cabinet, leak to a
room with a daily swing, a door leak ten times the normal one, a compressor switched at setpoint ± 1.5 °C,
defrosts every 6 h for 150 s, probe noise σ 0.03 °C), vectorised over units with numpy and stepped every
``--dt`` simulated seconds (the firmware steps 0.1 s: too slow for unit-months). Each unit gets its own leak,
cooling power, room offset and door routine (3 to 10 openings a working day, 15 to 90 s each), so each model has
its own normal to learn. Readings: the cabinet probe every ``--sample-s`` seconds, the door and defrost channels
on each change, as an edge logs them; no compressor channel (the duty is estimated from the sawtooth, the
harder case).

Every unit trains on its first ``--train-days`` (normal) days, then runs ``--test-days`` more. Fault units get
their fault ``--fault-day`` days into the test period:

- ``compressor``: cooling power falls linearly by 45 % over four days (compressor duty rising);
- ``door_seal``: a torn gasket: the leak steps up by 35 % and a door opening lets in 50 % more heat (slower
  recovery after doors);
- ``drift``: the probe reads 0.5 °C/day warmer, growing linearly (the control probe, and so the cabinet, is
  unaffected).

Prints, with and without a hold time (1 window, and ``--hold`` windows): false alerts per unit per day (alerts
raised on normal units and on fault units before their fault), and the detection delay per fault type (from the
fault's start to the end of the window that raised the alert; median and worst, and how many were missed).
Deterministic: same seed, same figures. ``measure`` is what the test in tests/unit/hub/test_anomaly_bench.py runs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Run as a script, this folder comes first on sys.path, and its sync.py would shadow the sync package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from hub.alerts.anomaly.detector import judge  # noqa: E402
from hub.alerts.anomaly.features import Series, UnitReadings, WindowSpec, matrix, windows  # noqa: E402
from hub.alerts.anomaly.model import train  # noqa: E402

DAY = 86_400.0
SETPOINT, HYSTERESIS = -80.0, 1.5
AMBIENT_MEAN, AMBIENT_SWING = 22.0, 1.0
K_LEAK = 0.03 / (AMBIENT_MEAN - SETPOINT)
K_DOOR = 0.004
COOLING = 0.09
SENSOR_NOISE = 0.03
DEFROST_EVERY, DEFROST_DURATION = 6 * 3600.0, 150.0
FAULTS = ("compressor", "door_seal", "drift")


@dataclass(frozen=True)
class Scenario:
    fault: str | None  # None: a normal unit
    fault_at: float = math.inf  # simulated seconds


@dataclass
class Simulated:
    readings: list[UnitReadings]
    scenarios: list[Scenario]


def _door_schedule(rng: np.random.Generator, units: int, days: int) -> list[list[tuple[float, float]]]:
    rates = rng.uniform(3, 10, units)
    found: list[list[tuple[float, float]]] = []
    for u in range(units):
        spans = []
        for day in range(days):
            for _ in range(rng.poisson(rates[u])):
                start = day * DAY + rng.uniform(8, 18) * 3600.0
                spans.append((start, start + rng.uniform(15, 90)))
        spans.sort()
        merged: list[tuple[float, float]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1] + 5:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        found.append(merged)
    return found


def simulate(scenarios: list[Scenario], days: int, *, seed: int, dt: float = 2.0, sample_s: float = 30.0) -> Simulated:
    rng = np.random.default_rng(seed)
    n = len(scenarios)
    leak = K_LEAK * rng.uniform(0.85, 1.15, n)
    cooling = COOLING * rng.uniform(0.9, 1.1, n)
    room = rng.uniform(-2.0, 2.0, n)
    phase = rng.uniform(0, DEFROST_EVERY, n)
    doors = _door_schedule(rng, n, days)
    fault_at = np.array([s.fault_at for s in scenarios])
    kind = [s.fault for s in scenarios]
    is_comp = np.array([k == "compressor" for k in kind])
    is_seal = np.array([k == "door_seal" for k in kind])
    is_drift = np.array([k == "drift" for k in kind])

    temp = SETPOINT + rng.uniform(-HYSTERESIS, HYSTERESIS, n)
    demand = rng.random(n) < 0.5
    steps_per_day = round(DAY / dt)
    every = round(sample_s / dt)
    samples_t: list[np.ndarray] = []
    samples_v: list[np.ndarray] = []
    for day in range(days):
        t = day * DAY + np.arange(steps_per_day) * dt  # (steps,)
        ambient = (AMBIENT_MEAN + AMBIENT_SWING * np.sin(2 * np.pi * t / DAY))[:, None] + room[None, :]
        door = np.zeros((steps_per_day, n), dtype=bool)
        for u in range(n):
            for s, e in doors[u]:
                if e >= t[0] and s < t[-1] + dt:
                    door[(t >= s) & (t < e), u] = True
        since = (t[:, None] - phase[None, :]) % DEFROST_EVERY
        defrost = since < DEFROST_DURATION
        age = np.clip(t[:, None] - fault_at[None, :], 0.0, None)
        faulted = t[:, None] >= fault_at[None, :]
        cool_mul = np.where(is_comp[None, :] & faulted, 1.0 - 0.45 * np.minimum(1.0, age / (4 * DAY)), 1.0)
        leak_mul = np.where(is_seal[None, :] & faulted, 1.35, 1.0)
        door_mul = np.where(is_seal[None, :] & faulted, 1.5, 1.0)
        k_leak = leak[None, :] * leak_mul
        k_door = K_DOOR * door_mul * door
        power = cooling[None, :] * cool_mul
        kept = np.empty((steps_per_day // every + 1, n))
        k = 0
        for i in range(steps_per_day):
            running = demand & ~defrost[i]
            gap = ambient[i] - temp
            temp = temp + ((k_leak[i] + k_door[i]) * gap - running * power[i]) * dt
            demand = np.where(
                temp >= SETPOINT + HYSTERESIS, True, np.where(temp <= SETPOINT - HYSTERESIS, False, demand)
            )
            if i % every == 0:
                kept[k] = temp
                k += 1
        times = t[::every][:k]
        offset = np.where(is_drift[None, :], 0.5 * np.clip(times[:, None] - fault_at[None, :], 0.0, None) / DAY, 0.0)
        samples_t.append(times)
        samples_v.append(kept[:k] + offset + rng.normal(0.0, SENSOR_NOISE, (k, n)))
    all_t = np.concatenate(samples_t)
    all_v = np.concatenate(samples_v)
    readings = []
    for u in range(n):
        door_t = [x for s, e in doors[u] for x in (s, e)]
        door_v = [v for _ in doors[u] for v in (1.0, 0.0)]
        starts = np.arange(phase[u], days * DAY, DEFROST_EVERY)
        defrost_t = np.stack([starts, starts + DEFROST_DURATION], axis=1).ravel()
        defrost_v = np.tile([1.0, 0.0], len(starts))
        readings.append(
            UnitReadings(
                temperature=Series(all_t.copy(), all_v[:, u].copy()),
                door=Series.of(door_t, door_v),
                defrost=Series(defrost_t, defrost_v),
            )
        )
    return Simulated(readings, scenarios)


@dataclass
class Figures:
    holds: tuple[int, ...]
    unit_days: float = 0.0
    false_alerts: dict[int, int] = field(default_factory=dict)
    delays_h: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    missed: dict[int, dict[str, int]] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)

    def false_per_unit_day(self, hold: int) -> float:
        return self.false_alerts[hold] / self.unit_days if self.unit_days else math.nan

    def delay(self, hold: int, fault: str, how: str = "median") -> float:
        found = self.delays_h[hold][fault]
        if not found:
            return math.inf
        return statistics.median(found) if how == "median" else max(found)


def measure(
    *,
    normal_units: int,
    units_per_fault: int,
    train_days: int,
    test_days: int,
    fault_day: float,
    seed: int,
    holds: tuple[int, ...] = (1, 3),
    dt: float = 2.0,
    sample_s: float = 30.0,
    spec: WindowSpec | None = None,
) -> Figures:
    spec = spec or WindowSpec()
    scenarios = [Scenario(None) for _ in range(normal_units)]
    fault_at = (train_days + fault_day) * DAY
    scenarios += [Scenario(f, fault_at) for f in FAULTS for _ in range(units_per_fault)]
    sim = simulate(scenarios, train_days + test_days, seed=seed, dt=dt, sample_s=sample_s)
    figures = Figures(holds)
    figures.units = {"normal": normal_units, **dict.fromkeys(FAULTS, units_per_fault)}
    for hold in holds:
        figures.false_alerts[hold] = 0
        figures.delays_h[hold] = {f: [] for f in FAULTS}
        figures.missed[hold] = dict.fromkeys(FAULTS, 0)
    test_start, test_end = train_days * DAY, (train_days + test_days) * DAY
    for readings, scenario in zip(sim.readings, sim.scenarios, strict=True):
        model = train(matrix(windows(readings, 0.0, test_start, spec))).model
        test = windows(readings, test_start, test_end, spec)
        normal_until = min(scenario.fault_at, test_end)
        figures.unit_days += (normal_until - test_start) / DAY
        for hold in holds:
            verdicts = judge(model, test, hold)
            figures.false_alerts[hold] += sum(1 for v in verdicts if v.raised and v.end <= normal_until)
            if scenario.fault is not None:
                caught = [v.end for v in verdicts if v.raised and v.end > scenario.fault_at]
                if caught:
                    figures.delays_h[hold][scenario.fault].append((caught[0] - scenario.fault_at) / 3600.0)
                else:
                    figures.missed[hold][scenario.fault] += 1
    return figures


def report(figures: Figures) -> str:
    lines = [
        f"units: {figures.units}; normal unit-days judged: {figures.unit_days:.1f}",
        f"{'hold (windows of 1 h)':<24}{'false alerts/unit/day':>22}"
        + "".join(f"{f + ' delay h (median/worst, missed)':>42}" for f in FAULTS),
    ]
    for hold in figures.holds:
        cells = []
        for fault in FAULTS:
            med, worst = figures.delay(hold, fault), figures.delay(hold, fault, "worst")
            cells.append(f"{med:8.1f} / {worst:6.1f}, missed {figures.missed[hold][fault]}")
        lines.append(f"{hold:<24}{figures.false_per_unit_day(hold):>22.4f}" + "".join(f"{c:>42}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal-units", type=int, default=12)
    parser.add_argument("--units-per-fault", type=int, default=6)
    parser.add_argument("--train-days", type=int, default=14)
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument("--fault-day", type=float, default=4.0)
    parser.add_argument("--hold", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dt", type=float, default=2.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    args = parser.parse_args()
    started = time.perf_counter()
    figures = measure(
        normal_units=args.normal_units,
        units_per_fault=args.units_per_fault,
        train_days=args.train_days,
        test_days=args.test_days,
        fault_day=args.fault_day,
        seed=args.seed,
        holds=(1, args.hold),
        dt=args.dt,
        sample_s=args.sample_s,
    )
    print(report(figures))
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
