"""Offline alarm rules of the edge agent: pure logic, no I/O, no clock of its own.

The caller passes two clocks on every call: ``now_mono`` (monotonic seconds; decides when delays elapse) and
``now_utc`` (an aware datetime; only recorded). Tests drive both by hand and never sleep.

Semantics
---------
Readings
    Only ``quality == "good"`` with a finite decimal value is a reading. Bad or uncertain quality, ``None``
    and unparsable values never move a limit or rate rule (the last good value keeps holding) and count as
    silence for the offline rule. Values are compared as ``decimal.Decimal``, never as floats.
Held values
    Between readings the last good value is assumed to hold, so ``tick`` can raise a limit whose delay elapses
    between polls. Every ``observe`` first lets time pass to ``now_mono`` (like a tick), then applies the
    reading, so results do not depend on how often ``tick`` is called.
Limit rules (``high``, ``high_high``, ``low``, ``low_low``)
    Each is independent. A value strictly beyond the limit starts the delay; the alarm raises once the value
    has been beyond for ``delay_s`` without interruption (``delay_s == 0`` raises on the reading). Going back
    inside resets the pending delay. An active high clears once the value is at or below ``limit -
    hysteresis`` for ``clear_delay_s`` (default 0: at once); low mirrors it. Between the limit and the
    hysteresis edge nothing changes, which is what stops chatter.
Rate of change
    Least-squares slope of the good readings of the last ``window_s`` seconds, in units per minute, evaluated
    only on a good reading and only once those readings span at least half the window. Raises when its
    magnitude exceeds ``max_per_minute``; clears at or below ``max_per_minute - hysteresis_per_minute``.
Offline
    Raises when no good reading has arrived for ``after_s`` (counted from the engine's first call when none
    ever arrived); clears on the next good reading. Fires from ``tick`` alone.
Door
    The door channel reads ``"1"`` (open) or ``"0"`` (closed); other values are ignored. ``door_open`` raises
    once the door has been open for ``open_longer_than_s`` and clears when it closes. From the reading that
    opens the door until ``inhibit_s`` after the reading that closes it, the limit and rate rules of the
    inhibited channels (default: all other channels of the device) are inhibited: time beyond the limit does
    not count toward the delay (a pending alarm is held, neither reset nor advanced; it resumes counting when
    the inhibit window ends), no such alarm is raised, an already active alarm stays active, and clearing is
    never inhibited. Offline and door alarms are never inhibited. An inhibit window ends exactly at ``close +
    inhibit_s`` even when no call happens at that moment.
Ids and transitions
    ``alarm_id`` is ``f"{device}/{channel}/{rule}"`` (rule: a limit kind, ``rate``, ``offline`` or
    ``door_open``; the door alarm uses the door channel). Per id, transitions alternate raised →
    (acknowledged) → cleared. An acknowledgement records who, when and a comment; the alarm stays active until
    its condition clears. Clearing removes it from ``active()``; latching and escalation belong to the
    notifier, not here.
Threshold changes
    ``set_limit`` validates the new limit against the channel's other limits and applies it at the next call.
"""

from edge.alarms.engine import AlarmEngine
from edge.alarms.errors import (
    AlarmConfigError,
    AlarmError,
    AlreadyAcknowledgedError,
    UnknownAlarmError,
    UnknownRuleError,
)
from edge.alarms.rules import (
    AlarmRuleName,
    AlarmSeverity,
    ChannelAlarms,
    DeviceAlarms,
    DoorRule,
    LimitKind,
    LimitRule,
    OfflineRule,
    RateOfChangeRule,
)
from edge.alarms.transitions import ActiveAlarm, AlarmTransition, TransitionAction, alarm_id_for

__all__ = [
    "ActiveAlarm",
    "AlarmConfigError",
    "AlarmEngine",
    "AlarmError",
    "AlarmRuleName",
    "AlarmSeverity",
    "AlarmTransition",
    "AlreadyAcknowledgedError",
    "ChannelAlarms",
    "DeviceAlarms",
    "DoorRule",
    "LimitKind",
    "LimitRule",
    "OfflineRule",
    "RateOfChangeRule",
    "TransitionAction",
    "UnknownAlarmError",
    "UnknownRuleError",
    "alarm_id_for",
]
