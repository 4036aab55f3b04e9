"""Rate limits for public endpoints and logins.

A fixed-window counter keyed by what is being limited (site and address, account, ...).
In production the counters live in Redis so every server process shares them; the
embedded default keeps them in memory.

A long-lived connection (a chat WebSocket) limits its own frames with a :class:`TokenBucket`
held in the process: asking Redis on every frame would cost a round trip per frame, and
what a connection sends is known to the one process that holds it.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from plateaux.platform.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    seconds: int


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one per :meth:`take`.

    For one connection's frames: a person typing never notices it, a client flooding the
    connection is refused within ``burst`` frames. Not shared between processes, so it
    limits a connection, not a person (limit how often connections open for that).
    """

    __slots__ = ("_at", "_clock", "_tokens", "burst", "rate")

    def __init__(self, *, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def check(self, *, what: str = "requests") -> None:
        """:meth:`take`, or TooManyRequests saying when to try again."""
        wait = self.take()
        if wait:
            retry_after = max(1, math.ceil(wait))
            raise TooManyRequests(
                f"Too many {what}; try again in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
            )


class RateLimiter(ABC):
    @abstractmethod
    async def hit(self, key: str, limit: Limit) -> tuple[bool, int]:
        """Count one hit; return (allowed, seconds until the window resets)."""

    async def check(self, key: str, limit: Limit, *, what: str = "requests") -> None:
        allowed, retry_after = await self.hit(key, limit)
        if not allowed:
            raise TooManyRequests(
                f"Too many {what}; try again in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
            )

    @abstractmethod
    async def reset(self, key: str) -> None: ...

    async def close(self) -> None:
        return None


class MemoryRateLimiter(RateLimiter):
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}

    async def hit(self, key: str, limit: Limit) -> tuple[bool, int]:
        now = time.monotonic()
        count, resets_at = self._windows.get(key, (0, now + limit.seconds))
        if now >= resets_at:
            count, resets_at = 0, now + limit.seconds
        count += 1
        self._windows[key] = (count, resets_at)
        if len(self._windows) > 100_000:
            self._evict(now)
        return count <= limit.count, max(1, int(resets_at - now))

    def _evict(self, now: float) -> None:
        for k in [k for k, (_, r) in self._windows.items() if r <= now]:
            del self._windows[k]

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisRateLimiter(RateLimiter):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def hit(self, key: str, limit: Limit) -> tuple[bool, int]:
        name = f"plateaux:rl:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, limit.seconds, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        return int(count) <= limit.count, max(1, int(ttl))

    async def reset(self, key: str) -> None:
        await self._redis.delete(f"plateaux:rl:{key}")

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str | None) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(Redis.from_url(redis_url))
    return MemoryRateLimiter()
