"""The hub's ingest admission: a few batches at a time, a short queue behind them, 429 beyond; no slot is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.audit.trail import AuditTrail
from hub.domain.ingest import Ingest
from hub.errors import RateLimitedError


def ingest(tmp_path: Path, wait_s: float = 5.0) -> Ingest:
    audit = AuditTrail("hub", tmp_path / "audit.key", 100)
    return Ingest(audit, tmp_path / "witness.key", "hub", max_concurrent=1, max_waiting=1, wait_s=wait_s)


def test_a_batch_waits_briefly_for_a_slot_and_one_more_is_told_to_retry(tmp_path: Path) -> None:
    async def main() -> None:
        gate = ingest(tmp_path)
        await gate.admit()
        waiter = asyncio.create_task(gate.admit())
        await asyncio.sleep(0.01)
        with pytest.raises(RateLimitedError) as refused:
            await gate.admit()  # the slot is taken and the queue is full
        assert refused.value.retry_after == 1
        gate.release()
        await asyncio.wait_for(waiter, 1)  # the queued batch got the slot
        gate.release()

    asyncio.run(main())


def test_a_batch_that_waits_too_long_is_told_to_retry_and_no_slot_is_lost(tmp_path: Path) -> None:
    async def main() -> None:
        gate = ingest(tmp_path, wait_s=0.05)
        await gate.admit()
        with pytest.raises(RateLimitedError):
            await gate.admit()
        cancelled = asyncio.create_task(gate.admit())
        await asyncio.sleep(0.01)
        cancelled.cancel()  # a client that went away while queued
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        gate.release()
        for _ in range(3):  # the one slot is still there, and the queue is empty again
            await asyncio.wait_for(gate.admit(), 1)
            gate.release()

    asyncio.run(main())
