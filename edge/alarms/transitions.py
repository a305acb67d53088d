"""What the engine reports: transitions (for the signed log) and the currently active alarms (for display)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge.alarms.rules import AlarmRuleName, AlarmSeverity
from protocol import format_timestamp

TransitionAction = Literal["raised", "cleared", "acknowledged"]
PayloadValue = str | int | bool | None


def alarm_id_for(device: str, channel: str, rule: str) -> str:
    """Stable across restarts and edges: the same rule on the same channel always has the same id."""
    return f"{device}/{channel}/{rule}"


@dataclass(frozen=True)
class AlarmTransition:
    """One alarm raised, cleared or acknowledged.

    ``value`` is the reading as a decimal string (for ``rate``, the measured rate per minute; for ``offline``,
    ``None`` when raised and the good reading that ended it when cleared; for ``door_open``, ``"1"``/``"0"``).
    ``limit`` is the rule's threshold (``None`` for offline and door rules). ``duration_ms`` is how long the
    condition held before raising (``None`` for rate, which has no delay), and how long the alarm was active when
    it clears (monotonic clock); ``None`` on acknowledgements, whose ``at`` and the raise's ``at`` tell the wait.
    ``by`` and ``comment`` are set on acknowledgements only.
    """

    action: TransitionAction
    alarm_id: str
    device: str
    channel: str
    rule: AlarmRuleName
    severity: AlarmSeverity
    value: str | None
    limit: str | None
    message: str
    at: datetime
    duration_ms: int | None = None
    by: str | None = None
    comment: str | None = None

    def payload(self) -> dict[str, PayloadValue]:
        """Every field, ``at`` in the log's timestamp spelling; no floats, so it can go into the chain."""
        return {
            "action": self.action,
            "alarm_id": self.alarm_id,
            "device": self.device,
            "channel": self.channel,
            "rule": self.rule,
            "severity": self.severity,
            "value": self.value,
            "limit": self.limit,
            "message": self.message,
            "at": format_timestamp(self.at),
            "duration_ms": self.duration_ms,
            "by": self.by,
            "comment": self.comment,
        }


@dataclass(frozen=True)
class ActiveAlarm:
    """An alarm that has been raised and not yet cleared, with its acknowledgement if someone gave one."""

    alarm_id: str
    device: str
    channel: str
    rule: AlarmRuleName
    severity: AlarmSeverity
    raised_at: datetime
    value: str | None
    limit: str | None
    message: str
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledge_comment: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_by is not None
