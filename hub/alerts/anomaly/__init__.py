"""Anomaly detection: per-unit models that flag a storage unit behaving unlike itself (compressor duty rising,
slower recovery after door openings, a probe drifting from the unit's own baseline) as a low-severity alert.

``features`` turns a unit's readings into window features, ``model`` learns the unit's normal from its own history,
``detector`` judges windows with a hold time, and ``service`` trains, stores and scores against the database and
raises the alert through the alert book.
"""

from hub.alerts.anomaly.detector import Streak, Verdict, judge
from hub.alerts.anomaly.features import FEATURES, Series, UnitReadings, Window, WindowSpec, windows
from hub.alerts.anomaly.model import ALGORITHM, AnomalyModel, TooLittleHistoryError, Training, TrainingSpec, train
from hub.alerts.anomaly.service import AnomalyService, AnomalySettings, alert_key, model_public

__all__ = [
    "ALGORITHM",
    "FEATURES",
    "AnomalyModel",
    "AnomalyService",
    "AnomalySettings",
    "Series",
    "Streak",
    "TooLittleHistoryError",
    "Training",
    "TrainingSpec",
    "UnitReadings",
    "Verdict",
    "Window",
    "WindowSpec",
    "alert_key",
    "judge",
    "model_public",
    "train",
    "windows",
]
