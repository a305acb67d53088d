"""Fault names and the start-up schedule of actions (``--fault NAME@SECONDS``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Fault(enum.StrEnum):
    COMPRESSOR_FAILURE = "compressor_failure"
    """The compressor never runs: the cabinet warms slowly towards room temperature."""
    STUCK_SENSOR = "stuck_sensor"
    """The reported cabinet temperature stays at the value it had when the fault began."""
    NOISY_SENSOR = "noisy_sensor"
    """Gaussian noise with sigma 2 °C on the reported cabinet temperature."""
    UNRESPONSIVE = "unresponsive"
    """Requests are read and dropped; connections stay open, so clients time out."""
    EXCEPTION = "exception"
    """Every read is answered with Modbus exception 4 (slave device failure)."""


CLEAR = "clear"
"""Clears every active fault."""
OTHER_ACTIONS = ("door_open", "door_close", "defrost_start", "defrost_stop")
ACTIONS = (*(fault.value for fault in Fault), CLEAR, *OTHER_ACTIONS)


@dataclass(frozen=True)
class ScheduledAction:
    at: float
    """Simulated second at which the action applies."""
    action: str


def parse_scheduled(text: str) -> ScheduledAction:
    """Parse ``name@seconds`` (or a bare ``name``, meaning at second 0)."""
    name, _, at_text = text.partition("@")
    name = name.strip()
    if name not in ACTIONS:
        raise ValueError(f"unknown fault or action {name!r}; expected one of {', '.join(ACTIONS)}")
    try:
        at = float(at_text) if at_text else 0.0
    except ValueError:
        raise ValueError(f"bad time in {text!r}: expected simulated seconds") from None
    if at < 0:
        raise ValueError(f"negative time in {text!r}")
    return ScheduledAction(at=at, action=name)
