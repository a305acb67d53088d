"""Window features of one storage unit's readings, as pure functions: how the unit behaves, not whether it is
within its limits.

Per window (an hour by default), from the unit's temperature channel and, when bound, its door, defrost and
compressor channels:

- ``mean_c``: the mean temperature while the cabinet is undisturbed (drift against its own baseline shows here);
- ``slope_c_per_h``: the least-squares slope of those readings;
- ``duty``: the compressor's share of the window: the mean of a compressor channel when one is bound, else
  estimated from the temperature sawtooth as the share of readings that fell since the one before (the compressor
  runs while the cabinet cools; a coarse sampling period biases the estimate, the same way for the unit's normal
  history and for the window judged, so the model compares like with like);
- ``recovery_s``: the mean time after each door closing in the window until the cabinet is back at the top of its
  normal band (the warmest undisturbed reading of the half hour before the door opened), capped at
  ``recovery_cap_s``; missing when the door stayed shut.

"Undisturbed" leaves out a door opening or a defrost and ``settle_s`` after it ends, when those channels are bound:
otherwise every lab's daily door routine would read as a change of the unit. A feature that cannot be computed
is NaN (no readings, no door opening); the model treats it as no evidence either way.

Times are float seconds on one axis (the service uses POSIX seconds); nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FEATURES: tuple[str, ...] = ("mean_c", "slope_c_per_h", "duty", "recovery_s")
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    """One channel: sample times (seconds, ascending) and values."""

    t: Floats
    v: Floats

    @staticmethod
    def of(times: Sequence[float], values: Sequence[float]) -> Series:
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if t.shape != v.shape or t.ndim != 1:
            raise ValueError(f"times and values must be two flat sequences of one length, got {t.shape} and {v.shape}")
        order = np.argsort(t, kind="stable")
        return Series(t[order], v[order])

    def between(self, start: float, end: float) -> Series:
        lo, hi = np.searchsorted(self.t, [start, end], side="left")
        return Series(self.t[lo:hi], self.v[lo:hi])


def empty() -> Series:
    return Series(np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class UnitReadings:
    """What a unit's bound channels logged; door and defrost are 1 (open, running) / 0 samples."""

    temperature: Series
    door: Series | None = None
    defrost: Series | None = None
    compressor: Series | None = None


@dataclass(frozen=True)
class WindowSpec:
    length_s: float = 3600.0
    settle_s: float = 600.0
    recovery_cap_s: float = 3600.0
    before_door_s: float = 1800.0
    min_samples: int = 10


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    values: tuple[float, ...] = field(default=())

    def as_dict(self) -> dict[str, float | None]:
        return {name: None if math.isnan(v) else v for name, v in zip(FEATURES, self.values, strict=True)}


def intervals(series: Series | None) -> list[tuple[float, float]]:
    """The (start, end) spans a 0/1 channel spent at 1; one still at 1 at the last sample ends there."""
    if series is None or series.t.size == 0:
        return []
    found: list[tuple[float, float]] = []
    began: float | None = None
    for at, value in zip(series.t.tolist(), series.v.tolist(), strict=True):
        if value >= 0.5 and began is None:
            began = at
        elif value < 0.5 and began is not None:
            found.append((began, at))
            began = None
    if began is not None:
        found.append((began, float(series.t[-1])))
    return found


def _disturbed(t: Floats, spans: Sequence[tuple[float, float]], settle_s: float) -> NDArray[np.bool_]:
    mask = np.zeros(t.shape, dtype=bool)
    for start, end in spans:
        mask |= (t >= start) & (t < end + settle_s)
    return mask


def _slope_per_h(t: Floats, v: Floats) -> float:
    if t.size < 2:
        return math.nan
    dt = t - t.mean()
    sxx = float(np.dot(dt, dt))
    if sxx == 0.0:
        return math.nan
    return float(np.dot(dt, v - v.mean())) / sxx * 3600.0


def _duty_from_sawtooth(t: Floats, v: Floats, steady: NDArray[np.bool_]) -> float:
    both = steady[1:] & steady[:-1]
    if int(both.sum()) < 2:
        return math.nan
    falling = np.diff(v)[both] < 0
    return float(falling.mean())


def _duty_from_channel(series: Series, start: float, end: float) -> float:
    inside = series.between(start, end)
    if inside.t.size == 0:
        return math.nan
    values = inside.v / 100.0 if float(inside.v.max()) > 1.0 else inside.v
    return float(values.mean())


def recovery_times(
    temperature: Series,
    doors: Sequence[tuple[float, float]],
    spec: WindowSpec,
    every_door: Sequence[tuple[float, float]] | None = None,
) -> list[tuple[float, float]]:
    """(door closed at, seconds until back at the top of the band before it opened), for each of ``doors`` whose
    half hour before was seen; ``every_door`` (default ``doors``): openings that disturb that half hour."""
    every_door = doors if every_door is None else every_door
    found: list[tuple[float, float]] = []
    t, v = temperature.t, temperature.v
    for opened, closed in doors:
        before = (t >= opened - spec.before_door_s) & (t < opened)
        earlier = [(s, e) for s, e in every_door if e <= opened]
        if earlier:
            before &= ~_disturbed(t, earlier, spec.settle_s)
        if int(before.sum()) < 3:
            continue
        band_top = float(v[before].max())
        after = np.flatnonzero((t >= closed) & (t <= closed + spec.recovery_cap_s))
        if after.size == 0:
            continue
        back = after[v[after] <= band_top]
        recovered = float(t[back[0]] - closed) if back.size else spec.recovery_cap_s
        if not back.size and float(t[after[-1]]) < closed + spec.recovery_cap_s:
            continue  # not recovered yet, and the readings end before the cap: unknown, not slow
        found.append((closed, recovered))
    return found


def window_features(readings: UnitReadings, start: float, end: float, spec: WindowSpec = WindowSpec()) -> Window:
    """The features of [start, end)."""
    return _features(readings, intervals(readings.door), intervals(readings.defrost), start, end, spec)


def _features(
    readings: UnitReadings,
    doors: Sequence[tuple[float, float]],
    defrosts: Sequence[tuple[float, float]],
    start: float,
    end: float,
    spec: WindowSpec,
) -> Window:
    temp = readings.temperature.between(start, end)
    steady = ~_disturbed(temp.t, [*doors, *defrosts], spec.settle_s)
    t, v = temp.t[steady], temp.v[steady]
    enough = t.size >= spec.min_samples
    mean_c = float(v.mean()) if enough else math.nan
    slope = _slope_per_h(t, v) if enough else math.nan
    if readings.compressor is not None:
        duty = _duty_from_channel(readings.compressor, start, end)
    else:
        duty = _duty_from_sawtooth(temp.t, temp.v, steady) if enough else math.nan
    closing = [d for d in doors if start <= d[1] < end]
    times: list[float] = []
    if closing:
        context = readings.temperature.between(start - spec.before_door_s, end + spec.recovery_cap_s)
        times = [r for _, r in recovery_times(context, closing, spec, doors)]
    recovery = float(np.mean(times)) if times else math.nan
    return Window(start, end, (mean_c, slope, duty, recovery))


def aligned_starts(start: float, end: float, length_s: float) -> list[float]:
    """Starts of the whole windows inside [start, end), aligned to multiples of ``length_s``."""
    first = math.ceil(start / length_s) * length_s
    count = max(0, math.floor((end - first) / length_s))
    return [first + i * length_s for i in range(count)]


def windows(readings: UnitReadings, start: float, end: float, spec: WindowSpec = WindowSpec()) -> list[Window]:
    """The features of every whole, aligned window in [start, end)."""
    doors, defrosts = intervals(readings.door), intervals(readings.defrost)
    return [
        _features(readings, doors, defrosts, s, s + spec.length_s, spec)
        for s in aligned_starts(start, end, spec.length_s)
    ]


def matrix(found: Sequence[Window]) -> Floats:
    """The windows' features as rows (NaN where missing)."""
    if not found:
        return np.zeros((0, len(FEATURES)))
    return np.asarray([w.values for w in found], dtype=np.float64)
