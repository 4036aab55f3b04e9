"""The event bus: publish an event to an audience of one tenant, subscribe to audiences.

Two implementations pass one contract: Redis pub/sub in production (every server process
sees every event) and in-process queues in the embedded default. The tenant id is part of
every channel name, so a subscriber of one tenant can never receive another tenant's event,
whatever audience name it asks for.

Order: a subscriber receives one publisher's events in the order they were published. A
Redis bus also delivers its own process's events to that process's subscribers at once,
without the round trip through Redis (a chat message whose visitor and agent are on one
process is forwarded as soon as it is stored); the copy coming back from Redis is
recognised by the process's origin tag and dropped. So events of different processes are
not ordered among themselves: a consumer that needs an order across publishers takes it
from the data (chat messages carry sequence numbers; read receipts only move forward).

Delivery is at most once and best effort: an event published while a subscriber is
disconnected, or pushed out of a full subscriber buffer, is lost. That is by design: events
are published after the data they describe is committed, and clients catch up from the
stored sequence numbers (DESIGN.md decision 4), so the bus only has to be fast, never durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "plateaux:ev"
# Per subscriber; an agent console receives a few events a second, so a thousand pending
# means the reader is stuck, not busy.
DEFAULT_MAX_PENDING = 1000


def _json_default(value: object) -> object:
    # Ids and timestamps are everyday payload values; anything else (a model instance, say)
    # is a bug that must fail at publish time rather than reach clients as its repr.
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(
        f"event payloads hold JSON values, ids and timestamps, not {type(value).__name__}"
    )


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in one tenant, for one audience of it.

    ``audience`` is ``"tenant"`` (everyone of the tenant), ``"role:<role>"``,
    ``"user:<uuid>"``, ``"conversation:<uuid>"`` and so on: subscribers name the audiences
    they belong to, the bus does not interpret them.
    """

    tenant_id: uuid.UUID
    type: str
    audience: str
    payload: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # A tenant id passed as a string would still build a channel name, so the mistake
        # would only show as events silently going nowhere.
        if not isinstance(self.tenant_id, uuid.UUID):
            raise TypeError("Event.tenant_id must be a uuid.UUID")
        if not self.type or not self.audience:
            raise ValueError("an event needs a type and an audience")

    def to_json(self, *, origin: str | None = None) -> str:
        return encode_event(tenant=str(self.tenant_id), type=self.type,
                            audience=self.audience, payload=self.payload, id=self.id,
                            occurred_at=self.occurred_at.isoformat(), origin=origin)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        """Parse the wire form; ValueError when it is not an event."""
        try:
            data = orjson.loads(raw)
            payload = data["payload"]
            if not isinstance(payload, dict):
                raise TypeError("payload is not an object")
            return cls(
                tenant_id=uuid.UUID(data["tenant_id"]),
                type=data["type"],
                audience=data["audience"],
                payload=payload,
                id=data["id"],
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an event: {exc}") from exc


def encode_event(*, tenant: str, type: str, audience: str, payload: dict[str, Any],
                 id: str, occurred_at: str, origin: str | None = None) -> str:
    """The wire form of an event (``Event.to_json``) from its parts, the tenant id and
    the time already written: a publisher of many events of one tenant at one moment
    (the router) writes them once and builds no ``Event`` per message. ``origin``, the
    publishing bus's tag, comes first, so a bus recognises its own events by their first
    bytes. TypeError when the payload cannot be encoded."""
    document: dict[str, Any] = {} if origin is None else {"origin": origin}
    document.update(tenant_id=tenant, type=type, audience=audience, payload=payload, id=id,
                    occurred_at=occurred_at)
    # orjson: a busy router publishes thousands of events a second, and the standard
    # encoder was a third of publishing. It writes NaN and infinities as null, which
    # is what a browser's JSON.parse can read.
    try:
        return orjson.dumps(
            document,
            default=_json_default,
            option=orjson.OPT_NON_STR_KEYS,
        ).decode()
    except TypeError as error:
        # orjson reports its own words; ours (from ``_json_default``) say what to fix.
        raise TypeError(str(error.__cause__ or error)) from error


def channel_prefix(tenant_id: uuid.UUID) -> str:
    """Every channel of the tenant starts so; the audience follows."""
    return f"{CHANNEL_PREFIX}:{tenant_id}:"


def channel_name(tenant_id: uuid.UUID, audience: str) -> str:
    return channel_prefix(tenant_id) + audience


def wire_message(event: Event, origin: str | None = None) -> tuple[str, str]:
    """The Redis bus's channel and data for ``event``: what ``RedisEventBus`` publishes."""
    return channel_name(event.tenant_id, event.audience), event.to_json(origin=origin)


def _channel_names(tenant_id: uuid.UUID, audiences: Sequence[str]) -> list[str]:
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a uuid.UUID")
    # A bare string is a Sequence[str] too, and would subscribe to one audience per letter.
    if isinstance(audiences, str):
        raise TypeError("audiences is a list of audience names, not one string")
    if not audiences or not all(audiences):
        raise ValueError("subscribe to at least one non-empty audience")
    return list(dict.fromkeys(channel_name(tenant_id, a) for a in audiences))


class Subscription:
    """The events of one subscriber, in publication order.

    Iterate with ``async for`` (ends when the subscription closes) or poll with ``get``.
    The buffer is bounded: a subscriber that stops reading (a stalled WebSocket) must
    neither block publishers nor grow memory without bound, so when it is full the oldest
    event is dropped and counted in ``dropped``. Dropping is recoverable because clients
    resume from stored sequence numbers; blocking or unbounded growth would not be.
    """

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._pending: deque[Event] = deque()
        self._max_pending = max_pending
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        # Times the bus's connection came back: whatever was published meanwhile is lost.
        self.interruptions = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def lapses(self) -> int:
        """Grows whenever this subscriber may have missed events (dropped from a full
        buffer, or published while the bus was reconnecting): a consumer whose state is
        not in stored sequence numbers resynchronises when it changes."""
        return self.dropped + self.interruptions

    def _offer(self, event: Event) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(event)
        self._ready.set()

    def _close(self) -> None:
        self._closed = True
        self._ready.set()

    async def _next(self) -> Event | None:
        while not self._pending:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._pending.popleft()

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None after ``timeout`` seconds without one or once closed."""
        try:
            async with asyncio.timeout(timeout):
                return await self._next()
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        event = await self._next()
        if event is None:
            raise StopAsyncIteration
        return event


class EventBus(ABC):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def publish(self, event: Event) -> None:
        """Send ``event`` to the current subscribers of its tenant and audience."""

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Publish ``events`` in this order, as ``publish`` would one by one. Every payload
        is encoded before anything is sent, so one that cannot be (TypeError) fails the
        call with nothing published."""
        for event in events:
            event.to_json()
        for event in events:
            await self.publish(event)

    @abstractmethod
    def subscribe(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AbstractAsyncContextManager[Subscription]:
        """Receive the tenant's events for ``audiences`` while the context is open.

        The subscription is live when the context is entered: an event published after
        that is delivered.
        """


class InProcessEventBus(EventBus):
    """The embedded default: subscribers in this process only."""

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._subscribers: dict[str, set[Subscription]] = {}

    async def publish(self, event: Event) -> None:
        # Deliver the wire form, as Redis does, so code written against the embedded bus
        # sees the same payload types in production and cannot share mutable state with
        # the publisher.
        self._offer(event, event.to_json())

    async def publish_many(self, events: Sequence[Event]) -> None:
        wire = [event.to_json() for event in events]  # all encoded before any is delivered
        for event, data in zip(events, wire, strict=True):
            self._offer(event, data)

    def _offer(self, event: Event, wire: str) -> None:
        subscribers = self._subscribers.get(channel_name(event.tenant_id, event.audience))
        if not subscribers:
            return
        delivered = Event.from_json(wire)
        for subscription in list(subscribers):
            subscription._offer(delivered)

    def subscribe(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(_channel_names(tenant_id, audiences))

    @asynccontextmanager
    async def _subscription(self, names: list[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(max_pending=self._max_pending)
        for name in names:
            self._subscribers.setdefault(name, set()).add(subscription)
        try:
            yield subscription
        finally:
            for name in names:
                subscribers = self._subscribers.get(name)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._subscribers[name]
            subscription._close()

    async def close(self) -> None:
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription._close()
        self._subscribers.clear()


_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisEventBus(EventBus):
    """Redis pub/sub, shared by every server process.

    Each bus holds one listening connection for all its subscriptions (a process may serve
    thousands of consoles; one Redis connection each would not scale) and counts local
    subscribers per channel, so Redis is only told when a channel gains its first or loses
    its last local subscriber. One reader task receives everything and fans it out.

    What this bus publishes reaches its own subscribers at once (see the module's note on
    order); the copy Redis sends back carries the bus's origin tag and is dropped.

    Redis pub/sub channels ignore the database number: two deployments sharing one Redis
    server share their channels too.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        subscribe_timeout: float = 5.0,
        keepalive: float = 15.0,
        client_name: str = "plateaux-events",
    ) -> None:
        self._url = redis_url
        self._max_pending = max_pending
        self._subscribe_timeout = subscribe_timeout
        self._keepalive = keepalive
        self._client_name = client_name
        self._publisher: Redis | None = None
        self._listener: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        # One command at a time on the listening connection, and none while it reconnects.
        self._command_lock = asyncio.Lock()
        self._local: dict[str, set[Subscription]] = {}
        # SUBSCRIBE/UNSUBSCRIBE commands sent per channel whose reply has not come back:
        # only the reply to the last one tells whether the channel is subscribed now.
        self._in_flight: dict[str, int] = {}
        self._live: set[str] = set()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self.reconnects = 0
        # This bus's tag on what it publishes, and how its own events' wire form begins.
        self._origin = uuid.uuid4().hex
        self._own_prefix = b'{"origin":"' + self._origin.encode() + b'"'

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if self._reader is not None:
                return
            common: dict[str, Any] = {
                "client_name": self._client_name,
                "socket_connect_timeout": 5.0,
                "socket_timeout": 5.0,
            }
            # A PUBLISH that fails on a stale pooled connection is retried on a fresh one;
            # a rare duplicate is harmless (events carry ids), a lost event is not.
            self._publisher = Redis.from_url(
                self._url,
                retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 2),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
                **common,
            )
            # No automatic retry on the listening connection: the reader reconnects it
            # itself, so that it knows to subscribe again to every channel.
            self._listener = Redis.from_url(self._url, **common)
            try:
                self._pubsub = await self._open_pubsub()
            except BaseException:
                await self._close_clients()
                raise
            self._reader = asyncio.create_task(self._read_forever(), name="event-bus-reader")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        for subscribers in self._local.values():
            for subscription in subscribers:
                subscription._close()
        self._local.clear()
        self._live.clear()
        self._in_flight.clear()
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(RuntimeError("the event bus was closed"))
        self._waiters.clear()
        await self._close_clients()

    async def _close_clients(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        for client in (self._publisher, self._listener):
            if client is not None:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
        self._publisher = self._listener = None

    async def _ensure_started(self) -> None:
        if self._reader is None:
            await self.start()

    # --- publishing --------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        await self.publish_many((event,))

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Delivered here at once, then sent to Redis in one round trip (a routing commit
        publishes several at once)."""
        wire = [wire_message(event, self._origin) for event in events]
        if not wire:
            return
        await self._ensure_started()
        assert self._publisher is not None
        for channel, data in wire:
            self._deliver_here(channel, data)
        if len(wire) == 1:
            await self._publisher.publish(*wire[0])
            return
        # Not a transaction: PUBLISH needs no isolation, only the order, which one
        # connection keeps.
        async with self._publisher.pipeline(transaction=False) as pipe:
            for channel, data in wire:
                pipe.publish(channel, data)
            await pipe.execute()

    def _deliver_here(self, channel: str, data: str) -> None:
        """This process's subscribers get the event from its wire form, as they would
        from Redis (nothing shared with the publisher)."""
        subscribers = self._local.get(channel)
        if not subscribers:
            return
        event = Event.from_json(data)
        for subscription in list(subscribers):
            subscription._offer(event)

    # --- subscribing -------------------------------------------------------------------

    def subscribe(
        self, tenant_id: uuid.UUID, audiences: Sequence[str]
    ) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(_channel_names(tenant_id, audiences))

    @asynccontextmanager
    async def _subscription(self, names: list[str]) -> AsyncIterator[Subscription]:
        await self._ensure_started()
        subscription = Subscription(max_pending=self._max_pending)
        try:
            await self._join(subscription, names)
            yield subscription
        finally:
            await self._leave(subscription, names)

    async def _join(self, subscription: Subscription, names: list[str]) -> None:
        new = [name for name in names if name not in self._local]
        for name in names:
            self._local.setdefault(name, set()).add(subscription)
        # Waiters are registered before SUBSCRIBE is sent: the reader may see the reply
        # while this task is still awaiting the send.
        waiters = self._expect_confirmation(names)
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                if new:
                    await self._send("SUBSCRIBE", new)
                await asyncio.gather(*(waiter for _, waiter in waiters))
        except TimeoutError:
            raise TimeoutError(
                f"Redis did not confirm the subscription within {self._subscribe_timeout}s"
            ) from None
        finally:
            self._forget(waiters)

    def _expect_confirmation(self, names: list[str]) -> list[tuple[str, asyncio.Future[None]]]:
        loop = asyncio.get_running_loop()
        waiters: list[tuple[str, asyncio.Future[None]]] = []
        for name in names:
            if name not in self._live:
                waiter = loop.create_future()
                self._waiters.setdefault(name, set()).add(waiter)
                waiters.append((name, waiter))
        return waiters

    def _forget(self, waiters: list[tuple[str, asyncio.Future[None]]]) -> None:
        for name, waiter in waiters:
            pending = self._waiters.get(name)
            if pending is not None:
                pending.discard(waiter)
                if not pending:
                    del self._waiters[name]

    async def _leave(self, subscription: Subscription, names: list[str]) -> None:
        subscription._close()
        abandoned: list[str] = []
        for name in names:
            subscribers = self._local.get(name)
            if subscribers is None:
                continue
            subscribers.discard(subscription)
            if not subscribers:
                del self._local[name]
                self._live.discard(name)
                abandoned.append(name)
        if abandoned:
            await self._send("UNSUBSCRIBE", abandoned)

    async def _send(self, command: str, channels: Sequence[str]) -> None:
        """Send a command on the listening connection, if it is up.

        When it is down the command is skipped: the reader subscribes again to every wanted
        channel as soon as it has reconnected, which is the same outcome.
        """
        async with self._command_lock:
            pubsub = self._pubsub
            # redis-py would reconnect a closed connection by itself here, behind the
            # reader's back; only the reader may reconnect.
            if pubsub is None or pubsub.connection is None or not pubsub.connection.is_connected:
                return
            # Counted before sending: the reply can arrive before the send returns.
            for channel in channels:
                self._in_flight[channel] = self._in_flight.get(channel, 0) + 1
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await pubsub.execute_command(command, *channels)

    # --- the reader --------------------------------------------------------------------

    async def _open_pubsub(self) -> PubSub:
        """A connected listening connection, subscribed to every wanted channel."""
        assert self._listener is not None
        pubsub = self._listener.pubsub()
        try:
            await pubsub.connect()
            wanted = list(self._local)
            if wanted:
                for channel in wanted:
                    self._in_flight[channel] = self._in_flight.get(channel, 0) + 1
                await pubsub.execute_command("SUBSCRIBE", *wanted)
        except BaseException:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
            raise
        return pubsub

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._pump()
            except _CONNECTION_ERRORS as exc:
                logger.warning("event bus lost its Redis connection (%s); reconnecting", exc)
            except Exception:
                # The reader must outlive any surprise, or every subscriber goes deaf.
                logger.exception("event bus reader failed; reconnecting")
            await self._reconnect()

    async def _pump(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        while True:
            if pubsub.connection is None or not pubsub.connection.is_connected:
                raise RedisConnectionError("listening connection closed")
            message = await pubsub.get_message(timeout=self._keepalive)
            now = loop.time()
            if message is not None:
                last_heard = now
                self._dispatch(message)
            elif now - last_heard > 2 * self._keepalive:
                # A connection dropped without a FIN (a NAT or load balancer forgetting it)
                # never raises; an unanswered PING is the only sign.
                raise RedisConnectionError("Redis did not answer the keepalive")
            else:
                await self._send("PING", ())

    async def _reconnect(self) -> None:
        self.reconnects += 1
        delay = 0.05
        while True:
            async with self._command_lock:
                old, self._pubsub = self._pubsub, None
                self._live.clear()
                self._in_flight.clear()
                if old is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await old.aclose()
                try:
                    self._pubsub = await self._open_pubsub()
                    logger.info("event bus reconnected to Redis")
                    for subscription in {s for subs in self._local.values() for s in subs}:
                        subscription.interruptions += 1
                    return
                except Exception as exc:
                    # Whatever the cause (Redis down, restarting, refusing us), retrying
                    # is the only way back for the subscribers.
                    logger.warning("event bus cannot reach Redis (%r); retrying in %.2fs",
                                   exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "message":
            self._deliver(_text(message["channel"]), message["data"])
        elif kind in ("subscribe", "unsubscribe"):
            self._acknowledge(kind, _text(message["channel"]))

    def _acknowledge(self, kind: str, channel: str) -> None:
        left = self._in_flight.get(channel, 0) - 1
        if left > 0:
            self._in_flight[channel] = left
            return
        self._in_flight.pop(channel, None)
        if kind == "subscribe" and channel in self._local:
            self._live.add(channel)
            for waiter in self._waiters.pop(channel, set()):
                if not waiter.done():
                    waiter.set_result(None)

    def _deliver(self, channel: str, data: bytes | str) -> None:
        subscribers = self._local.get(channel)
        if not subscribers:
            return
        raw = data.encode() if isinstance(data, str) else data
        if raw.startswith(self._own_prefix):
            return  # published here: delivered here already
        try:
            event = Event.from_json(data)
        except ValueError:
            logger.warning("malformed event on %s dropped", channel)
            return
        # Whoever can PUBLISH to Redis can write anything on any channel: an event is only
        # delivered on the one channel its own tenant and audience name.
        if channel_name(event.tenant_id, event.audience) != channel:
            logger.warning("event %s does not belong on %s; dropped", event.id, channel)
            return
        for subscription in list(subscribers):
            subscription._offer(event)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def create_event_bus(redis_url: str | None) -> EventBus:
    """Redis when a URL is configured, else the in-process bus."""
    return RedisEventBus(redis_url) if redis_url else InProcessEventBus()
