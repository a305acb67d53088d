"""Judging a unit's windows against its model, with a hold time: a window is *anomalous* when its score passes
the model's threshold; the unit is *flagged* once ``hold`` consecutive windows were anomalous, and unflagged once
``hold`` consecutive windows were normal again (the same count both ways, so a unit near its threshold does not
chatter). A window with no score (no readings: an edge offline) changes neither count.

Pure: the state between windows is the two counts and the flag, which the service stores with the model, so a
restart resumes where the last scorer stopped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from hub.alerts.anomaly.features import Window
from hub.alerts.anomaly.model import AnomalyModel


@dataclass(frozen=True)
class Streak:
    anomalous: int = 0
    normal: int = 0
    flagged: bool = False


@dataclass(frozen=True)
class Verdict:
    start: float
    end: float
    score: float  # NaN: nothing to judge
    feature: str | None
    anomalous: bool
    streak: Streak
    raised: bool  # this window flagged the unit
    cleared: bool  # this window unflagged it


def step(streak: Streak, anomalous: bool | None, hold: int) -> Streak:
    """The counts after one window (``None``: no score)."""
    if anomalous is None:
        return streak
    if anomalous:
        streak = Streak(streak.anomalous + 1, 0, streak.flagged)
        return replace(streak, flagged=True) if streak.anomalous >= hold else streak
    streak = Streak(0, streak.normal + 1, streak.flagged)
    return replace(streak, flagged=False) if streak.normal >= hold else streak


def judge(model: AnomalyModel, found: Sequence[Window], hold: int, streak: Streak = Streak()) -> list[Verdict]:
    """Every window's verdict, in order, from ``streak``."""
    if hold < 1:
        raise ValueError(f"hold must be at least one window, got {hold}")
    if not found:
        return []
    scores, names = model.scores(np.asarray([w.values for w in found], dtype=np.float64))
    verdicts = []
    for window, score, name in zip(found, scores.tolist(), names, strict=True):
        anomalous = None if math.isnan(score) else score > model.threshold
        after = step(streak, anomalous, hold)
        verdicts.append(
            Verdict(
                window.start,
                window.end,
                score,
                name,
                bool(anomalous),
                after,
                raised=after.flagged and not streak.flagged,
                cleared=streak.flagged and not after.flagged,
            )
        )
        streak = after
    return verdicts
