"""The hold time: a unit is flagged after N anomalous windows in a row, and unflagged after N normal ones."""

from __future__ import annotations

import math

import pytest

from hub.alerts.anomaly.detector import Streak, judge
from hub.alerts.anomaly.features import FEATURES, Window
from hub.alerts.anomaly.model import AnomalyModel

MODEL = AnomalyModel(FEATURES, (-80.0, 0.0, 0.35, 250.0), (0.1, 0.2, 0.02, 20.0), (True,) * 4, threshold=4.0)


def run(pattern: str, hold: int, streak: Streak | None = None) -> str:
    """``pattern``: a window per letter, ``a`` anomalous (warm), ``n`` normal, ``-`` no readings; returns the flag
    after each window (``F`` flagged, ``.`` not)."""
    values = {"a": (-79.0, 0.0, 0.35, math.nan), "n": (-80.0, 0.0, 0.35, math.nan), "-": (math.nan,) * 4}
    found = [Window(i * 3600.0, (i + 1) * 3600.0, values[c]) for i, c in enumerate(pattern)]
    return "".join("F" if v.streak.flagged else "." for v in judge(MODEL, found, hold, streak or Streak()))


def test_without_a_hold_the_first_anomalous_window_flags_and_the_first_normal_one_clears() -> None:
    assert run("nanaan", 1) == ".F.FF."


def test_with_a_hold_only_consecutive_anomalous_windows_flag_and_as_many_normal_ones_clear() -> None:
    assert run("aanaaaanannn", 3) == ".....FFFFFF."


def test_a_window_without_readings_neither_counts_nor_breaks_a_streak() -> None:
    assert run("aa-a--nn-n", 3) == "...FFFFFF."


def test_raised_and_cleared_mark_the_windows_where_the_flag_changed() -> None:
    found = [Window(i * 3600.0, (i + 1) * 3600.0, (-79.0 if i < 2 else -80.0, 0.0, 0.35, math.nan)) for i in range(4)]
    verdicts = judge(MODEL, found, 2)
    assert [(v.raised, v.cleared) for v in verdicts] == [(False, False), (True, False), (False, False), (False, True)]
    assert verdicts[0].feature == "mean_c"
    assert verdicts[0].anomalous


def test_a_stored_streak_carries_over_between_runs() -> None:
    assert run("a", 3, Streak(anomalous=2)) == "F"
    with pytest.raises(ValueError, match="at least one"):
        run("a", 0)
