"""A circuit breaker per channel and tenant, so one dead provider neither stalls nor burns the others' messages.

Closed: messages flow. After ``threshold`` consecutive failures it opens: the delivery loop claims none of the
channel's messages, so they wait without spending attempts. After ``cooldown_s`` it is half-open: one message goes
out as a probe; success closes it, failure opens it for another cool-down. The state lives in each delivery
process (each one learns on its own that a provider is down); it is logged once when a breaker opens and once when
it closes again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Circuit:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False


K = TypeVar("K", bound=Hashable)


class Breakers(Generic[K]):
    """The breakers of every channel, keyed by ``(tenant_id, channel_id)``; ``clock`` is monotonic seconds."""

    def __init__(self, *, threshold: int = 5, cooldown_s: float = 30.0, clock: Callable[[], float] | None = None):
        if threshold < 1 or cooldown_s <= 0:
            raise ValueError("a breaker needs a threshold of at least 1 and a positive cool-down")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock or time.monotonic
        self._circuits: dict[K, _Circuit] = {}

    def state(self, key: K) -> BreakerState:
        circuit = self._circuits.get(key)
        if circuit is None:
            return BreakerState.CLOSED
        if circuit.state is BreakerState.OPEN and self._cooled(circuit):
            return BreakerState.HALF_OPEN
        return circuit.state

    def _cooled(self, circuit: _Circuit) -> bool:
        return self._clock() - circuit.opened_at >= self.cooldown_s

    def allow(self, key: K) -> bool:
        """May a message go out on this channel now? In half-open state this takes the one probe."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.state is BreakerState.CLOSED:
            return True
        if circuit.state is BreakerState.OPEN:
            if not self._cooled(circuit):
                return False
            circuit.state = BreakerState.HALF_OPEN
        if circuit.probing:
            return False
        circuit.probing = True
        return True

    def blocked(self) -> set[K]:
        """The channels that would refuse a message now (open and cooling down, or half-open with a probe out)."""
        return {
            key
            for key, circuit in self._circuits.items()
            if (circuit.state is BreakerState.OPEN and not self._cooled(circuit))
            or (circuit.state is not BreakerState.CLOSED and circuit.probing)
        }

    def success(self, key: K) -> None:
        circuit = self._circuits.get(key)
        if circuit is None:
            return
        if circuit.state is not BreakerState.CLOSED:
            logger.info("notification channel %s recovered: its circuit breaker is closed again", key)
        del self._circuits[key]

    def failure(self, key: K) -> None:
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        circuit.probing = False
        if circuit.state is BreakerState.HALF_OPEN:
            circuit.state, circuit.opened_at = BreakerState.OPEN, self._clock()
        elif circuit.state is BreakerState.CLOSED and circuit.failures >= self.threshold:
            circuit.state, circuit.opened_at = BreakerState.OPEN, self._clock()
            logger.error(
                "notification channel %s failed %d times in a row: its circuit breaker is open; its messages wait "
                "(probing every %.0f s)",
                key,
                circuit.failures,
                self.cooldown_s,
            )
