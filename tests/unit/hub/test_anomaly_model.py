"""A unit's model of its own normal: learned from its history, stored as numbers, scoring the way faults go."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hub.alerts.anomaly.model import ALGORITHM, AnomalyModel, TooLittleHistoryError, train
from hub.errors import ValidationFailedError


def history(windows: int = 200, seed: int = 1, recovery: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.column_stack(
        [
            rng.normal(-80.0, 0.1, windows),
            rng.normal(0.0, 0.3, windows),
            rng.normal(0.35, 0.03, windows),
            rng.normal(250.0, 40.0, windows) if recovery else np.full(windows, math.nan),
        ]
    )
    if recovery:
        rows[::3, 3] = math.nan  # most hours see no door opening
    return rows


def test_a_unit_with_too_little_history_is_refused_with_the_counts() -> None:
    with pytest.raises(TooLittleHistoryError, match="10 usable windows") as caught:
        train(history(10))
    assert isinstance(caught.value, ValidationFailedError)


def test_its_own_normal_windows_stay_below_the_learned_threshold() -> None:
    model = train(history()).model
    scores, _ = model.scores(history(seed=2))
    assert (scores <= model.threshold).mean() > 0.99


def test_duty_and_recovery_count_only_when_they_rise_and_the_mean_both_ways() -> None:
    model = train(history()).model
    rows = np.array(
        [
            [-80.0, 0.0, 0.10, 250.0],  # much lower duty: less load, not a fault
            [-80.0, 0.0, 0.70, 250.0],  # much higher duty
            [-78.0, 0.0, 0.35, 250.0],  # warmer
            [-82.0, 0.0, 0.35, 250.0],  # colder
            [-80.0, 0.0, 0.35, 900.0],  # slow recovery
        ]
    )
    scores, names = model.scores(rows)
    assert scores[0] <= model.threshold
    assert list(scores[1:] > model.threshold) == [True, True, True, True]
    assert names[1:] == ["duty", "mean_c", "mean_c", "recovery_s"]


def test_a_feature_never_seen_in_training_is_left_out_and_a_window_with_nothing_scores_nothing() -> None:
    training = train(history(recovery=False))
    assert "recovery_s" not in training.metrics["enabled"]
    scores, names = training.model.scores(np.array([[-80.0, 0.0, 0.35, 5000.0], [math.nan] * 4]))
    assert scores[0] <= training.model.threshold
    assert math.isnan(scores[1])
    assert names[1] is None


def test_a_stored_model_is_json_and_scores_as_the_one_trained() -> None:
    model = train(history()).model
    stored = json.loads(json.dumps(model.to_params()))
    again = AnomalyModel.from_params(stored)
    rows = history(seed=3)
    assert np.array_equal(model.scores(rows)[0], again.scores(rows)[0])
    with pytest.raises(ValidationFailedError, match=ALGORITHM):
        AnomalyModel.from_params({**stored, "algorithm": "pickle"})
