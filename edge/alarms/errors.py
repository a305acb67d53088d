"""The exception tree of ``edge.alarms``.

``AlarmError`` is the root; it will become a subclass of the edge's ``EdgeError`` once that exists.
Callers switch on the class, never on the message.
"""

from __future__ import annotations


class AlarmError(Exception):
    """Root of every error raised by the alarm rules (also raised for a clock that runs backwards)."""


class AlarmConfigError(AlarmError, ValueError):
    """A rule configuration or a threshold change is not acceptable; the message names the field and value."""


class UnknownRuleError(AlarmConfigError, LookupError):
    """A threshold change names a device, channel or limit kind that has no rule."""


class UnknownAlarmError(AlarmError, LookupError):
    """An alarm id is not currently active (never raised, or already cleared)."""


class AlreadyAcknowledgedError(AlarmError):
    """The alarm is active but someone has already acknowledged it; the message says who and when."""
