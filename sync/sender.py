"""The edge side of sync: send what the hub does not have yet, in order, in bounded batches, until caught up.

The hub's acknowledged seq is the cursor, so a restart resumes exactly where the hub stands, and a 409 gap moves
the cursor to what the hub expects. Memory stays bounded while draining a backlog: one batch at a time.
Failures back off exponentially with jitter; a 429 waits for the hub's Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sync.errors import BatchTooLargeError, ChainError, ForkError, GapError, SyncError, TransportError
from sync.messages import MAX_BATCH_BYTES, MAX_ENTRIES, BatchHeader, Command, SyncAck, encode_batch

logger = logging.getLogger(__name__)


class SenderStore(Protocol):
    """What the sender needs of the edge's log (only durable entries are ever read)."""

    origin: str

    def acked_seq(self) -> int: ...

    def set_acked_seq(self, seq: int) -> None: ...

    def read_entries(self, from_seq: int, max_entries: int, max_bytes: int) -> list[bytes]: ...

    def checkpoint_upto(self, upto_size: int) -> str | None:
        """The newest signed checkpoint with size in (acked, upto_size], to be cosigned."""
        ...

    def store_cosigned(self, note: str) -> None: ...


class Transport(Protocol):
    async def send(self, body: bytes) -> SyncAck: ...


@dataclass
class SyncReport:
    batches: int = 0
    entries: int = 0
    acked_seq: int = 0
    commands: list[Command] = field(default_factory=list)
    beacons: list[SyncAck] = field(default_factory=list)


class SyncSender:
    def __init__(
        self,
        store: SenderStore,
        transport: Transport,
        *,
        max_entries: int = 2000,
        max_bytes: int = MAX_BATCH_BYTES // 2,
        rate_entries_per_s: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.max_entries = min(max_entries, MAX_ENTRIES)
        self.max_bytes = max_bytes
        self.rate = rate_entries_per_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.failures = 0
        self.last_error: str | None = None

    async def sync_once(self, *, max_batches: int | None = None) -> SyncReport:
        """Send batches until the hub has everything durable (or ``max_batches``). Raises SyncError."""
        report = SyncReport(acked_seq=self.store.acked_seq())
        limit = self.max_entries
        while max_batches is None or report.batches < max_batches:
            start = self.store.acked_seq()
            entries = self.store.read_entries(start, limit, self.max_bytes)
            if not entries:
                break
            checkpoint = self.store.checkpoint_upto(start + len(entries))
            header = BatchHeader(origin=self.store.origin, first_seq=start, count=len(entries), checkpoint=checkpoint)
            try:
                ack = await self.transport.send(encode_batch(header, entries))
            except GapError as exc:
                logger.warning("the hub expects seq %d (we were at %d); resuming there", exc.expected_seq, start)
                self.store.set_acked_seq(exc.expected_seq)
                continue
            except BatchTooLargeError:
                if len(entries) == 1:
                    raise  # one entry over the hub's limit: no smaller batch can help, a person must look
                limit = len(entries) // 2
                logger.warning("the hub refused %d entries as too large; sending %d at a time", len(entries), limit)
                continue
            if ack.acked_seq < start + len(entries) and ack.acked_seq <= start:
                raise ChainError(f"the hub acknowledged {ack.acked_seq} after a batch from {start}")
            # the cursor first: a crash between the two then loses a cosignature (the next batch brings a newer
            # one), never leaves a cosigned size above the cursor, which retention would prune up to
            self.store.set_acked_seq(ack.acked_seq)
            if ack.cosigned:
                self.store.store_cosigned(ack.cosigned)
            report.batches += 1
            report.entries += len(entries)
            report.acked_seq = ack.acked_seq
            report.commands.extend(ack.commands)
            report.beacons.append(ack)
            if self.rate:
                await asyncio.sleep(len(entries) / self.rate)
        return report

    def backoff_s(self) -> float:
        return min(300.0, 2.0 ** min(self.failures, 8)) * self._rng.uniform(0.5, 1.0)

    async def run(
        self,
        stop: asyncio.Event,
        *,
        idle_s: float = 2.0,
        on_report: _ReportHandler | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        """Sync until ``stop``; idle ``idle_s`` between rounds when caught up, back off on failures. Setting
        ``wake`` ends an idle wait at once (an alarm is worth a round now); it never shortens a backoff or a
        Retry-After."""
        while not stop.is_set():
            wait = idle_s
            idle = False
            try:
                report = await self.sync_once()
                if self.failures:
                    logger.info("sync recovered after %d failures", self.failures)
                self.failures = 0
                self.last_error = None
                if on_report is not None:
                    on_report(report)
                idle = True
            except TransportError as exc:
                self._failed(exc)
                wait = exc.retry_after if exc.retry_after is not None else self.backoff_s()
            except (ForkError, ChainError) as exc:
                self._failed(exc)
                logger.error("the hub refused our log: %s; a person must look (retrying slowly)", exc)
                wait = 300.0
            except SyncError as exc:
                self._failed(exc)
                wait = self.backoff_s()
            await _pause(stop, wake if idle else None, wait)

    def _failed(self, exc: SyncError) -> None:
        if self.failures == 0:
            logger.error("sync failed: %s", exc)
        self.failures += 1
        self.last_error = str(exc)


class _ReportHandler(Protocol):
    def __call__(self, report: SyncReport) -> None: ...


def commands_of(reports: Sequence[SyncReport]) -> list[Command]:
    return [c for r in reports for c in r.commands]


async def _pause(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` (or ``wake``, which is then cleared) is set."""
    if wake is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    wake.clear()
