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

Baseline, on the very same simulated readings: a plain static limit as a lab configures one on a -80 °C freezer
(``--limit``, default -70 °C) with the same hold time. A window is over the limit when every probe reading in it
(doors and defrosts included: a limit alarm knows nothing of them) was above the limit, i.e. its coldest reading
was; ``StaticLimit`` hands that to ``judge`` as the window's score, with the limit as the threshold, so the hold
(``hold`` consecutive windows over the limit: above the limit for ``hold`` hours), the windows, the unit-days and
the counting of false alerts and delays are the model's own code, unchanged. Then, per hold and fault type, the
ratio of median detection delays model/baseline, or where the baseline never fired within the test period. The
faults here are the slow ones a limit is blind to until the cabinet (or the probe) is warm: a weakened compressor
and a torn gasket still hold -80 °C, and a 0.5 °C/day drift takes some 17 days before the probe's warmest
readings pass -70 °C, and 23 before a whole hour's do.

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

from hub.alerts.anomaly.detector import Verdict, judge  # noqa: E402
from hub.alerts.anomaly.features import (  # noqa: E402
    Floats,
    Series,
    UnitReadings,
    Window,
    WindowSpec,
    aligned_starts,
    matrix,
    windows,
)
from hub.alerts.anomaly.model import AnomalyModel, train  # noqa: E402

DAY = 86_400.0
SETPOINT, HYSTERESIS = -80.0, 1.5
AMBIENT_MEAN, AMBIENT_SWING = 22.0, 1.0
K_LEAK = 0.03 / (AMBIENT_MEAN - SETPOINT)
K_DOOR = 0.004
COOLING = 0.09
SENSOR_NOISE = 0.03
DEFROST_EVERY, DEFROST_DURATION = 6 * 3600.0, 150.0
FAULTS = ("compressor", "door_seal", "drift")
LIMIT_C = -70.0  # the usual alarm limit of a -80 °C freezer


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


class StaticLimit(AnomalyModel):
    """A lab's fixed alarm limit, dressed as a model so that ``judge`` runs it unchanged: a window's one value (from
    ``limit_windows``) is its coldest reading, which is its score, and the limit is the threshold: the window is
    over the limit when every reading in it was above the limit."""

    def __init__(self, limit_c: float) -> None:
        super().__init__(("coldest_c",), (0.0,), (1.0,), (True,), limit_c, algorithm="static-limit")

    def scores(self, rows: Floats) -> tuple[Floats, list[str | None]]:
        score: Floats = np.atleast_2d(np.asarray(rows, dtype=np.float64))[:, 0]
        return score, [None if math.isnan(x) else "temperature" for x in score.tolist()]


def limit_windows(readings: UnitReadings, start: float, end: float, spec: WindowSpec) -> list[Window]:
    """The windows of ``windows`` (the same whole, aligned ones in [start, end)), each with its coldest raw probe
    reading, or NaN with fewer than ``spec.min_samples`` readings (no verdict, as for the model)."""
    found = []
    for s in aligned_starts(start, end, spec.length_s):
        inside = readings.temperature.between(s, s + spec.length_s).v
        coldest = float(inside.min()) if inside.size >= spec.min_samples else math.nan
        found.append(Window(s, s + spec.length_s, (coldest,)))
    return found


@dataclass
class Figures:
    holds: tuple[int, ...]
    unit_days: float = 0.0
    false_alerts: dict[int, int] = field(default_factory=dict)
    delays_h: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    missed: dict[int, dict[str, int]] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    detector: str = "per-unit model"
    watched_h: float = 0.0  # how long a fault unit is judged after its fault began
    baseline: Figures | None = None  # the static limit on the same readings, when measured

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
    limit_c: float | None = LIMIT_C,
) -> Figures:
    """The model's figures, and in ``.baseline`` the static limit's (``limit_c`` °C; None: no baseline), scored by
    the same code on the same simulated readings."""
    spec = spec or WindowSpec()
    scenarios = [Scenario(None) for _ in range(normal_units)]
    fault_at = (train_days + fault_day) * DAY
    scenarios += [Scenario(f, fault_at) for f in FAULTS for _ in range(units_per_fault)]
    sim = simulate(scenarios, train_days + test_days, seed=seed, dt=dt, sample_s=sample_s)
    units = {"normal": normal_units, **dict.fromkeys(FAULTS, units_per_fault)}
    figures = _empty(holds, units, "per-unit model")
    limit = StaticLimit(limit_c) if limit_c is not None else None
    if limit_c is not None:
        figures.baseline = _empty(holds, units, f"static limit {limit_c:g} °C")
    test_start, test_end = train_days * DAY, (train_days + test_days) * DAY
    for found in (figures, figures.baseline):
        if found is not None:
            found.watched_h = (test_end - fault_at) / 3600.0
    for readings, scenario in zip(sim.readings, sim.scenarios, strict=True):
        model = train(matrix(windows(readings, 0.0, test_start, spec))).model
        test = windows(readings, test_start, test_end, spec)
        normal_until = min(scenario.fault_at, test_end)
        for hold in holds:
            _tally(figures, hold, judge(model, test, hold), scenario, normal_until)
        figures.unit_days += (normal_until - test_start) / DAY
        if limit is not None and figures.baseline is not None:
            test = limit_windows(readings, test_start, test_end, spec)
            for hold in holds:
                _tally(figures.baseline, hold, judge(limit, test, hold), scenario, normal_until)
            figures.baseline.unit_days += (normal_until - test_start) / DAY
    return figures


def _empty(holds: tuple[int, ...], units: dict[str, int], detector: str) -> Figures:
    figures = Figures(holds, units=dict(units), detector=detector)
    for hold in holds:
        figures.false_alerts[hold] = 0
        figures.delays_h[hold] = {f: [] for f in FAULTS}
        figures.missed[hold] = dict.fromkeys(FAULTS, 0)
    return figures


def _tally(figures: Figures, hold: int, verdicts: list[Verdict], scenario: Scenario, normal_until: float) -> None:
    """One unit's verdicts into the figures: alerts raised while it was normal are false; the first one after its
    fault began gives the delay; none is a miss. The model and the baseline are counted by this alone."""
    figures.false_alerts[hold] += sum(1 for v in verdicts if v.raised and v.end <= normal_until)
    if scenario.fault is not None:
        caught = [v.end for v in verdicts if v.raised and v.end > scenario.fault_at]
        if caught:
            figures.delays_h[hold][scenario.fault].append((caught[0] - scenario.fault_at) / 3600.0)
        else:
            figures.missed[hold][scenario.fault] += 1


def report(figures: Figures) -> str:
    lines = [f"units: {figures.units}; normal unit-days judged: {figures.unit_days:.1f}", *_table(figures)]
    base = figures.baseline
    if base is None:
        return "\n".join(lines)
    lines += ["", "baseline, on the same readings and scored by the same code:", *_table(base), ""]
    lines.append(f"ratio {figures.detector} / {base.detector} (median detection delay; < 1: the model is sooner):")
    for hold in figures.holds:
        cells = []
        for fault in FAULTS:
            ours, theirs = figures.delay(hold, fault), base.delay(hold, fault)
            units, missed = figures.units[fault], base.missed[hold][fault]
            said = "never" if math.isinf(ours) else f"{ours:.1f} h"
            if math.isinf(theirs):
                cells.append(f"{fault}: baseline missed all {units} ({said} vs never in {base.watched_h:g} h)")
            else:
                ratio = f"{ours / theirs:.3f}" if not math.isinf(ours) else "model missed all"
                note = f", baseline missed {missed}/{units}" if missed else ""
                cells.append(f"{fault}: {ratio} ({said} vs {theirs:.1f} h{note})")
        lines.append(f"  hold {hold}: " + "; ".join(cells))
    lines.append(
        "false alerts/unit/day, model vs baseline: "
        + ", ".join(
            f"hold {h}: {figures.false_per_unit_day(h):.4f} vs {base.false_per_unit_day(h):.4f}" for h in figures.holds
        )
    )
    return "\n".join(lines)


def _table(figures: Figures) -> list[str]:
    lines = [
        f"{figures.detector}:",
        f"{'hold (windows of 1 h)':<24}{'false alerts/unit/day':>22}"
        + "".join(f"{f + ' delay h (median/worst, missed)':>42}" for f in FAULTS),
    ]
    for hold in figures.holds:
        cells = []
        for fault in FAULTS:
            med, worst = figures.delay(hold, fault), figures.delay(hold, fault, "worst")
            cells.append(f"{med:8.1f} / {worst:6.1f}, missed {figures.missed[hold][fault]}")
        lines.append(f"{hold:<24}{figures.false_per_unit_day(hold):>22.4f}" + "".join(f"{c:>42}" for c in cells))
    return lines


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
    parser.add_argument("--limit", type=float, default=LIMIT_C, help="the baseline's static limit, °C")
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
        limit_c=args.limit,
    )
    print(report(figures))
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
