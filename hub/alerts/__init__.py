"""Alerts: the facility's alert feed, lifecycle, escalation.

Sources (edge alarms through sync, rules on readings and device liveness, integrity events, capacity warnings,
failed sagas) become alerts with one lifecycle (pending → firing → acknowledged → resolved), deduplicated per
condition, grouped per storage unit, held back by doors and defrosts, silenced for maintenance, marked when they
flap, escalated through tiers of people and rotas, and fed to facilities as server-sent events, signed webhooks and
retained MQTT state, with a printable excursion report per alert.
"""

from hub.alerts.book import AlertBook, Condition, Flapping
from hub.alerts.engine import AlertEngine
from hub.alerts.escalation import PolicySpec, RotaSpec, ShiftSpec, TierSpec
from hub.alerts.inhibition import HoldTimes
from hub.alerts.lifecycle import AlertState, IllegalAlertMoveError
from hub.alerts.webhooks import WebhookSignatureError, sign, verify

__all__ = [
    "AlertBook",
    "AlertEngine",
    "AlertState",
    "Condition",
    "Flapping",
    "HoldTimes",
    "IllegalAlertMoveError",
    "PolicySpec",
    "RotaSpec",
    "ShiftSpec",
    "TierSpec",
    "WebhookSignatureError",
    "sign",
    "verify",
]
