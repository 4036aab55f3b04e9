"""The event bus: publish to a tenant audience, subscribe to audiences.

Redis pub/sub in production (every server process sees every event), in-process queues in
the embedded default. The tenant id is part of every channel name, so a subscriber of one
tenant can never receive another tenant's event, whatever audience name it asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

logger = logging.getLogger(__name__)
SUBSCRIBER_QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Event:
    tenant_id: uuid.UUID
    type: str
    audience: str
    payload: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> str:
        return json.dumps(
            {
                "tenant_id": str(self.tenant_id),
                "type": self.type,
                "audience": self.audience,
                "payload": self.payload,
                "id": self.id,
                "occurred_at": self.occurred_at.isoformat(),
            },
            default=str,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        data = json.loads(raw)
        return cls(
            tenant_id=uuid.UUID(data["tenant_id"]),
            type=data["type"],
            audience=data["audience"],
            payload=data["payload"],
            id=data["id"],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
        )


def channel_name(tenant_id: uuid.UUID, audience: str) -> str:
    return f"plateaux:ev:{tenant_id}:{audience}"


class Subscription:
    """Events for one subscriber, in publication order."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        # A subscriber that stops reading must neither block publishers nor grow without
        # bound: the oldest event is dropped and counted; clients resume from stored
        # sequence numbers (DESIGN.md decision 4), so a drop is recoverable.
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> Event | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()


class EventBus(ABC):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def publish(self, event: Event) -> None: ...

    @abstractmethod
    def subscribe(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AbstractAsyncContextManager[Subscription]: ...


class InProcessEventBus(EventBus):
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}

    async def publish(self, event: Event) -> None:
        for sub in list(self._subscribers.get(channel_name(event.tenant_id, event.audience), ())):
            sub._offer(event)

    @asynccontextmanager
    async def _subscription(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AsyncIterator[Subscription]:
        sub = Subscription()
        names = [channel_name(tenant_id, a) for a in audiences]
        for name in names:
            self._subscribers.setdefault(name, set()).add(sub)
        try:
            yield sub
        finally:
            for name in names:
                subs = self._subscribers.get(name)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subscribers[name]

    def subscribe(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(tenant_id, audiences)


class RedisEventBus(EventBus):
    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._redis: Redis | None = None

    async def start(self) -> None:
        self._redis = Redis.from_url(self._url)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self._url)
        return self._redis

    async def publish(self, event: Event) -> None:
        await self._client().publish(channel_name(event.tenant_id, event.audience), event.to_json())

    @asynccontextmanager
    async def _subscription(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AsyncIterator[Subscription]:
        sub = Subscription()
        names = [channel_name(tenant_id, a) for a in audiences]
        pubsub = self._client().pubsub()
        # subscribe() returns once Redis has confirmed: an event published right after
        # this context is entered is delivered.
        await pubsub.subscribe(*names)
        for _ in names:
            await pubsub.get_message(timeout=1.0)
        reader = asyncio.create_task(self._read(pubsub, sub, names))
        try:
            yield sub
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()

    async def _read(self, pubsub: PubSub, sub: Subscription, names: list[str]) -> None:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            except (ConnectionError, OSError) as exc:
                logger.warning("event bus connection lost, resubscribing: %s", exc)
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(*names)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                sub._offer(Event.from_json(message["data"]))
            except (ValueError, KeyError):
                logger.warning("malformed event on %s", message.get("channel"))

    def subscribe(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(tenant_id, audiences)


def create_event_bus(redis_url: str | None) -> EventBus:
    return RedisEventBus(redis_url) if redis_url else InProcessEventBus()
