"""The sender's idle wait ends when the agent asks for a round now (an alarm), and only then."""

from __future__ import annotations

import asyncio

from sync.errors import TransportError
from sync.messages import SyncAck
from sync.sender import SyncSender


class CaughtUpStore:
    """A log with nothing to send: each round reads once and finds nothing."""

    origin = "tracseq.local/edge/test"

    def __init__(self) -> None:
        self.rounds = 0

    def acked_seq(self) -> int:
        return 0

    def set_acked_seq(self, seq: int) -> None:
        raise AssertionError("nothing was sent")

    def read_entries(self, from_seq: int, max_entries: int, max_bytes: int) -> list[bytes]:
        self.rounds += 1
        return []

    def checkpoint_upto(self, upto_size: int) -> str | None:
        return None

    def store_cosigned(self, note: str) -> None:
        raise AssertionError("nothing was cosigned")


class UnusedTransport:
    async def send(self, body: bytes) -> SyncAck:
        raise TransportError("no hub here")


async def _rounds_after(wake_at: list[float], *, idle_s: float, run_for: float) -> int:
    store = CaughtUpStore()
    sender = SyncSender(store, UnusedTransport())
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(sender.run(stop, idle_s=idle_s, wake=wake))
    loop = asyncio.get_running_loop()
    for delay in wake_at:
        loop.call_later(delay, wake.set)
    await asyncio.sleep(run_for)
    stop.set()
    await asyncio.wait_for(task, 1)
    return store.rounds


def test_a_wake_starts_a_round_at_once_instead_of_after_the_idle_wait() -> None:
    assert asyncio.run(_rounds_after([0.05, 0.15], idle_s=30, run_for=0.3)) == 3


def test_without_a_wake_the_sender_stays_idle() -> None:
    assert asyncio.run(_rounds_after([], idle_s=30, run_for=0.2)) == 1
