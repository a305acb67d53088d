"""Rate limits per user, per device and per tenant: fixed one-minute windows, in-process or in Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int) -> int | None:
        """Count one request for ``key``; None when allowed, else the whole seconds until the window resets
        (rounded up: a client that waits that long is in the next window)."""
        ...


class InProcessRateLimiter:
    """For the embedded hub (one process). Memory is bounded by pruning windows that have ended."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._clock = clock

    async def hit(self, key: str, limit: int) -> int | None:
        now = self._clock()
        window = int(now // 60)
        current_window, count = self._counts.get(key, (window, 0))
        if current_window != window:
            count = 0
        count += 1
        self._counts[key] = (window, count)
        if len(self._counts) > 100_000:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        if count > limit:
            return max(1, math.ceil(60 - now % 60))
        return None


class RedisRateLimiter:
    """Shared by every hub process: INCR on a key per window, expiring with it."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def hit(self, key: str, limit: int) -> int | None:
        now = time.time()
        window = int(now // 60)
        name = f"tracseq:rate:{key}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, 61)
            count, _ = await pipe.execute()
        if int(count) > limit:
            return max(1, math.ceil(60 - now % 60))
        return None
