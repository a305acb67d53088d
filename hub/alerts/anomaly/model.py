"""One unit's model of its own normal behaviour: a robust baseline per window feature, learned from the unit's
history with scikit-learn's ``RobustScaler`` (median and inter-quartile range, scaled to σ units), and a threshold
learned from how far the unit's own normal windows stray.

A window's score is its largest robust z across the features, signed where only one direction is a fault (duty
and recovery time rising; the mean temperature and its slope count both ways). Why robust statistics and not an
isolation forest: the faults here move one feature steadily (duty creeping up, recovery slowing, a probe drifting),
which a per-feature score sees earliest and can name ("duty 6.1 σ above its baseline"); the median and the
quartiles shrug off the defrosts and the odd long door opening in the training history, which an unscaled mean and
variance would learn as normal.

The model is stored as plain numbers (``to_params``/``from_params``: JSON), never as a pickle: loading a model
runs no code and does not depend on the scikit-learn version that fitted it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from hub.alerts.anomaly.features import FEATURES, Floats
from hub.errors import ValidationFailedError

ALGORITHM = "robust-z/1"
Direction = Literal["both", "high"]
DIRECTIONS: dict[str, Direction] = {"mean_c": "both", "slope_c_per_h": "both", "duty": "high", "recovery_s": "high"}
# the smallest spread a feature may have: a unit with a very steady history must not alert on a sensor's last digit
SCALE_FLOORS: dict[str, float] = {"mean_c": 0.1, "slope_c_per_h": 0.2, "duty": 0.02, "recovery_s": 20.0}


class TooLittleHistoryError(ValidationFailedError):
    """The unit's history holds too few usable windows to learn its normal behaviour."""


@dataclass(frozen=True)
class TrainingSpec:
    min_windows: int = 48
    min_feature_windows: int = 12  # a feature seen in fewer training windows (a door that never opened) is left out
    quantile: float = 99.5
    margin: float = 1.5
    min_threshold: float = 4.0


@dataclass(frozen=True)
class AnomalyModel:
    features: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    enabled: tuple[bool, ...]
    threshold: float
    algorithm: str = ALGORITHM

    def z(self, rows: Floats) -> Floats:
        """Directional robust z per feature (NaN where missing or not learned); rows of ``FEATURES`` order."""
        rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        z = (rows - np.asarray(self.center)) / np.asarray(self.scale)
        for i, name in enumerate(self.features):
            if not self.enabled[i]:
                z[:, i] = math.nan
            elif DIRECTIONS.get(name, "both") == "both":
                z[:, i] = np.abs(z[:, i])
        result: Floats = z
        return result

    def scores(self, rows: Floats) -> tuple[Floats, list[str | None]]:
        """Each row's score (its largest directional z; NaN when no feature could be computed) and the feature
        that gave it."""
        z = self.z(rows)
        usable = ~np.isnan(z)
        filled = np.where(usable, z, -np.inf)
        best = np.argmax(filled, axis=1)
        score = filled[np.arange(len(z)), best]
        any_usable: NDArray[np.bool_] = np.asarray(usable.any(axis=1), dtype=bool)
        score = np.where(any_usable, score, math.nan)
        picked = [int(b) for b in best]
        seen = [bool(ok) for ok in any_usable]
        names = [self.features[b] if ok else None for b, ok in zip(picked, seen, strict=True)]
        result: Floats = score
        return result, names

    def to_params(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "features": list(self.features),
            "center": list(self.center),
            "scale": list(self.scale),
            "enabled": list(self.enabled),
            "threshold": self.threshold,
        }

    @staticmethod
    def from_params(params: Mapping[str, Any]) -> AnomalyModel:
        if params.get("algorithm") != ALGORITHM:
            raise ValidationFailedError(
                f"stored anomaly model is {params.get('algorithm')!r}; this hub reads {ALGORITHM!r}: train it again"
            )
        features = tuple(str(f) for f in params["features"])
        if features != FEATURES:
            raise ValidationFailedError(f"stored anomaly model has features {features}, expected {FEATURES}")
        return AnomalyModel(
            features=features,
            center=tuple(float(c) for c in params["center"]),
            scale=tuple(float(s) for s in params["scale"]),
            enabled=tuple(bool(e) for e in params["enabled"]),
            threshold=float(params["threshold"]),
        )


@dataclass(frozen=True)
class Training:
    model: AnomalyModel
    metrics: dict[str, Any]


def train(rows: Floats, spec: TrainingSpec = TrainingSpec()) -> Training:
    """Learn a unit's baseline from its normal windows (rows of ``FEATURES``, NaN where missing)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
    usable = rows[~np.isnan(rows[:, 0])]
    if len(usable) < spec.min_windows:
        raise TooLittleHistoryError(
            f"{len(usable)} usable windows of history; at least {spec.min_windows} are needed to learn the unit",
            windows=len(usable),
            needed=spec.min_windows,
        )
    seen = (~np.isnan(usable)).sum(axis=0)
    enabled = tuple(bool(n >= spec.min_feature_windows) for n in seen)
    fit_on = np.where(np.asarray(enabled), usable, 0.0)  # a column never seen is not learned (and warns nothing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with a few NaN: scikit-learn ignores them
        from sklearn.preprocessing import RobustScaler  # here, not at the top: importing scikit-learn costs seconds

        scaler = RobustScaler(quantile_range=(25.0, 75.0), unit_variance=True).fit(fit_on)
    center = [float(c) if e else 0.0 for c, e in zip(scaler.center_, enabled, strict=True)]
    # scikit-learn scales a feature with no spread by 1 (its unit); here it gets the feature's floor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        quartiles = np.nanpercentile(fit_on, [25.0, 75.0], axis=0)
    flat = [bool(f) for f in (quartiles[1] - quartiles[0]) <= 0]
    floors = [SCALE_FLOORS[name] for name in FEATURES]
    scale = [
        (floor if f else max(float(s), floor)) if e else 1.0
        for s, floor, f, e in zip(scaler.scale_, floors, flat, enabled, strict=True)
    ]
    draft = AnomalyModel(FEATURES, tuple(center), tuple(scale), enabled, threshold=math.inf)
    scores, _ = draft.scores(usable)
    finite = scores[~np.isnan(scores)]
    quantile = float(np.percentile(finite, spec.quantile))
    threshold = max(spec.min_threshold, spec.margin * quantile)
    model = AnomalyModel(FEATURES, tuple(center), tuple(scale), enabled, threshold=threshold)
    above = int((finite > threshold).sum())
    metrics = {
        "windows": len(usable),
        "feature_windows": {name: int(n) for name, n in zip(FEATURES, seen, strict=True)},
        "score_quantile": quantile,
        "quantile": spec.quantile,
        "threshold": threshold,
        "training_windows_above": above,
        "centers": dict(zip(FEATURES, center, strict=True)),
        "scales": dict(zip(FEATURES, scale, strict=True)),
        "enabled": [name for name, on in zip(FEATURES, enabled, strict=True) if on],
    }
    return Training(model, metrics)
