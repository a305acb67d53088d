"""Freezer risk from a week of synthetic readings: a unit whose compressor works ever harder, recovers ever more
slowly after door openings and drifts warmer ranks high with those reasons; a steady unit scores near zero."""

from __future__ import annotations

import numpy as np

from hub.ai.freezer_risk import assess
from hub.alerts.anomaly.features import Series, UnitReadings

DAY = 86400.0
START = 1_750_000_000.0 - (1_750_000_000.0 % 3600)


def week(*, wearing: bool, seed: int = 3) -> UnitReadings:
    """Readings every minute for seven days: temperature, a compressor channel (its on-share per ten minutes),
    and a door opened for two minutes every six hours."""
    rng = np.random.default_rng(seed)
    t = START + np.arange(0, 7 * DAY, 60.0)
    progress = (t - START) / (7 * DAY)
    duty = 0.4 + (0.35 * progress if wearing else 0.0)
    compressor = ((t % 600) / 600 < duty).astype(float)
    temperature = -80.0 + (2.5 * progress if wearing else 0.0) + rng.normal(0, 0.1, t.size)
    door = np.zeros(t.size)
    recovery = 600 + 1500 * progress * wearing
    for opened in np.arange(START + 3 * 3600, START + 7 * DAY, 6 * 3600):
        closed = opened + 120
        door[(t >= opened) & (t < closed)] = 1.0
        after = (t >= opened) & (t < closed + recovery[np.searchsorted(t, closed)])
        since = np.clip(t - closed, 0, None)
        warm = np.where(t < closed, 10.0, 10.0 * (1 - since / recovery[np.searchsorted(t, closed)]))
        temperature = np.where(after, temperature + np.clip(warm, 0, None), temperature)
    return UnitReadings(
        temperature=Series.of(t.tolist(), temperature.tolist()),
        door=Series.of(t.tolist(), door.tolist()),
        compressor=Series.of(t.tolist(), compressor.tolist()),
    )


def test_a_wearing_unit_scores_high_with_its_reasons() -> None:
    risk = assess(week(wearing=True), START, START + 7 * DAY)
    assert risk.score is not None
    assert risk.score > 0.8
    assert risk.parts["duty_trend_per_day"] is not None
    assert 0.03 < risk.parts["duty_trend_per_day"] < 0.07
    assert risk.parts["drift_c"] is not None
    assert 1.5 < risk.parts["drift_c"] < 2.5
    text = " ".join(risk.reasons)
    assert "compressor duty rising" in text
    assert "recovery after door openings" in text
    assert "warmer" in text


def test_a_steady_unit_scores_near_zero() -> None:
    risk = assess(week(wearing=False), START, START + 7 * DAY)
    assert risk.score is not None
    assert risk.score < 0.15
    assert risk.reasons == ["no sign of wear"]
    assert risk.windows == 168


def test_a_unit_without_readings_is_not_judged() -> None:
    empty = UnitReadings(temperature=Series.of([], []))
    risk = assess(empty, START, START + 7 * DAY)
    assert risk.score is None
    assert risk.reasons
