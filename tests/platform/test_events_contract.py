"""One contract for both event buses: in-process (embedded default) and Redis (production),
then what only the Redis bus has to prove (several processes, one listening connection,
reconnection, keepalive)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from plateaux.platform.events import (
    Event,
    EventBus,
    InProcessEventBus,
    RedisEventBus,
    Subscription,
    channel_name,
    create_event_bus,
)

REDIS_URL = "redis://127.0.0.1:6379/0"

BusFactory = Callable[..., Awaitable[EventBus]]


@pytest.fixture(scope="module")
def redis_available() -> None:
    """Tests that need Redis fail, loudly, when it is not there; they never skip."""
    client = SyncRedis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        pytest.fail(f"these tests need Redis on 127.0.0.1:6379 and it does not answer: {exc}")
    finally:
        client.close()


@pytest.fixture
async def redis_client(redis_available: None) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["in-process", "redis"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    buses: list[EventBus] = []
    if request.param == "redis":
        request.getfixturevalue("redis_available")

    async def make(**options: Any) -> EventBus:
        bus: EventBus = (InProcessEventBus(**options) if request.param == "in-process"
                         else RedisEventBus(REDIS_URL, **options))
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
async def bus(make_bus: BusFactory) -> EventBus:
    return await make_bus()


def probe(tenant: uuid.UUID, audience: str = "tenant", n: int = 0) -> Event:
    return Event(tenant_id=tenant, type="probe.sent", audience=audience, payload={"n": n})


async def receive(sub: Subscription, count: int, timeout: float = 5.0) -> list[int]:
    numbers = []
    for _ in range(count):
        event = await sub.get(timeout=timeout)
        assert event is not None, f"only {len(numbers)} of {count} events arrived"
        numbers.append(event.payload["n"])
    return numbers


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# --- the contract, for both implementations -------------------------------------------


async def test_an_event_reaches_its_audience_only(bus: EventBus) -> None:
    tenant = uuid.uuid4()
    async with bus.subscribe(tenant, ["role:supervisor"]) as supervisors, \
            bus.subscribe(tenant, [f"user:{uuid.uuid4()}"]) as someone, \
            bus.subscribe(tenant, ["tenant"]) as everyone:
        await bus.publish(probe(tenant, "role:supervisor", 1))
        got = await supervisors.get(timeout=5)
        assert got is not None
        assert (got.tenant_id, got.type, got.audience, got.payload) == (
            tenant, "probe.sent", "role:supervisor", {"n": 1})
        assert await someone.get(timeout=0.2) is None
        # "tenant" is an audience like any other, not a wildcard over the others.
        assert await everyone.get(timeout=0.01) is None


async def test_one_subscription_listens_to_several_audiences(bus: EventBus) -> None:
    tenant, user = uuid.uuid4(), f"user:{uuid.uuid4()}"
    async with bus.subscribe(tenant, ["tenant", user, "role:agent"]) as sub:
        await bus.publish(probe(tenant, "tenant", 1))
        await bus.publish(probe(tenant, user, 2))
        await bus.publish(probe(tenant, "role:supervisor", 3))
        await bus.publish(probe(tenant, "role:agent", 4))
        assert await receive(sub, 3) == [1, 2, 4]
        assert await sub.get(timeout=0.2) is None


async def test_a_tenant_never_receives_another_tenants_events(bus: EventBus) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    conversation = f"conversation:{uuid.uuid4()}"
    async with bus.subscribe(a, ["tenant", conversation]) as sub_a, \
            bus.subscribe(b, ["tenant", conversation]) as sub_b:
        await bus.publish(probe(b, "tenant", 1))
        await bus.publish(probe(b, conversation, 2))
        await bus.publish(probe(a, "tenant", 3))
        assert await receive(sub_a, 1) == [3]
        assert await receive(sub_b, 2) == [1, 2]
        assert await sub_a.get(timeout=0.2) is None
        assert await sub_b.get(timeout=0.01) is None


async def test_every_subscriber_receives_every_event_in_publication_order(
    bus: EventBus,
) -> None:
    tenant = uuid.uuid4()
    async with bus.subscribe(tenant, ["tenant"]) as one, \
            bus.subscribe(tenant, ["tenant"]) as two, \
            bus.subscribe(tenant, ["tenant", "role:agent"]) as three:
        for n in range(200):
            await bus.publish(probe(tenant, n=n))
        for sub in (one, two, three):
            assert await receive(sub, 200) == list(range(200))


async def test_publish_many_delivers_each_event_to_its_audience_in_order(bus: EventBus) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    async with bus.subscribe(tenant, ["tenant"]) as everyone, \
            bus.subscribe(tenant, ["user:1"]) as user, \
            bus.subscribe(other, ["tenant"]) as stranger:
        await bus.publish_many([probe(tenant, "tenant", 1), probe(tenant, "user:1", 2),
                                probe(tenant, "tenant", 3), probe(other, "user:1", 4)])
        await bus.publish_many([])
        await bus.publish(probe(tenant, "tenant", 5))
        assert await receive(everyone, 3) == [1, 3, 5]
        assert await receive(user, 1) == [2]
        assert await stranger.get(timeout=0.2) is None


async def test_publish_many_sends_nothing_when_one_payload_cannot_be_encoded(
    bus: EventBus,
) -> None:
    tenant = uuid.uuid4()
    bad = Event(tenant_id=tenant, type="bad", audience="tenant", payload={"user": object()})
    async with bus.subscribe(tenant, ["tenant"]) as sub:
        with pytest.raises(TypeError, match="not object"):
            await bus.publish_many([probe(tenant, n=1), bad])
        await bus.publish(probe(tenant, n=2))
        assert await receive(sub, 1) == [2]


async def test_leaving_the_context_unsubscribes(bus: EventBus) -> None:
    tenant = uuid.uuid4()
    async with bus.subscribe(tenant, ["tenant"]) as staying:
        async with bus.subscribe(tenant, ["tenant"]) as leaving:
            await bus.publish(probe(tenant, n=1))
            assert await receive(leaving, 1) == [1]
        assert leaving.closed
        await bus.publish(probe(tenant, n=2))
        assert await receive(staying, 2) == [1, 2]
        assert await leaving.get(timeout=0.2) is None
        assert leaving.dropped == 0


async def test_iteration_ends_when_the_subscription_closes(bus: EventBus) -> None:
    tenant = uuid.uuid4()
    received: list[int] = []

    async def listen(sub: Subscription) -> None:
        async for event in sub:
            received.append(event.payload["n"])

    async with bus.subscribe(tenant, ["tenant"]) as sub:
        listener = asyncio.create_task(listen(sub))
        await bus.publish(probe(tenant, n=1))
        await bus.publish(probe(tenant, n=2))
        await eventually(lambda: len(received) == 2)
    await asyncio.wait_for(listener, 5)
    assert received == [1, 2]


async def test_closing_the_bus_ends_its_subscriptions(make_bus: BusFactory) -> None:
    bus = await make_bus()

    async def first(sub: Subscription) -> Event | None:
        return await anext(aiter(sub), None)

    async with bus.subscribe(uuid.uuid4(), ["tenant"]) as sub:
        listener = asyncio.create_task(first(sub))
        await asyncio.sleep(0.05)
        await bus.close()
        assert await asyncio.wait_for(listener, 5) is None
        assert await sub.get(timeout=1) is None


async def test_a_stalled_subscriber_loses_its_oldest_events_and_blocks_nobody(
    make_bus: BusFactory,
) -> None:
    bus = await make_bus(max_pending=3)
    tenant = uuid.uuid4()
    async with bus.subscribe(tenant, ["tenant"]) as stalled, \
            bus.subscribe(tenant, ["tenant"]) as reader:
        received: list[int] = []
        for n in range(10):
            await bus.publish(probe(tenant, n=n))
            received += await receive(reader, 1)
        assert received == list(range(10))
        await eventually(lambda: stalled.dropped == 7)
        assert stalled.lapses == 7 and reader.lapses == 0  # the stalled one knows it missed
        assert await receive(stalled, 3) == [7, 8, 9]
        assert await stalled.get(timeout=0.1) is None


async def test_subscribers_receive_the_wire_form_of_the_payload(bus: EventBus) -> None:
    tenant, ticket = uuid.uuid4(), uuid.uuid4()
    at = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    async with bus.subscribe(tenant, ["tenant"]) as sub:
        await bus.publish(Event(tenant_id=tenant, type="ticket.opened", audience="tenant",
                                payload={"ticket_id": ticket, "at": at, "tags": ("a", "b")}))
        got = await sub.get(timeout=5)
    assert got is not None
    assert got.payload == {"ticket_id": str(ticket), "at": at.isoformat(), "tags": ["a", "b"]}


async def test_an_object_in_a_payload_is_refused_at_publish(bus: EventBus) -> None:
    with pytest.raises(TypeError, match="not object"):
        await bus.publish(Event(tenant_id=uuid.uuid4(), type="bad", audience="tenant",
                                payload={"user": object()}))


async def test_subscribe_checks_its_arguments(bus: EventBus) -> None:
    with pytest.raises(TypeError):
        bus.subscribe(str(uuid.uuid4()), ["tenant"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.subscribe(uuid.uuid4(), "tenant")
    with pytest.raises(ValueError):
        bus.subscribe(uuid.uuid4(), [])


# --- the event itself ---------------------------------------------------------------


def test_json_round_trip() -> None:
    original = Event(tenant_id=uuid.uuid4(), type="message.created",
                     audience=f"conversation:{uuid.uuid4()}",
                     payload={"seq": 12, "text": "Bonjour, j’ai une question", "meta": None,
                              "nested": {"list": [1, 2.5, True]}})
    assert Event.from_json(original.to_json()) == original
    assert Event.from_json(original.to_json().encode()) == original


def test_from_json_rejects_what_is_not_an_event() -> None:
    good = probe(uuid.uuid4()).to_json()
    for raw in ("not json", "[]", "{}", good.replace('"tenant_id":"', '"tenant_id":"x'),
                good.replace('{"n":0}', "[1]")):
        with pytest.raises(ValueError):
            Event.from_json(raw)


def test_an_event_needs_a_uuid_tenant_a_type_and_an_audience() -> None:
    with pytest.raises(TypeError):
        Event(tenant_id=str(uuid.uuid4()), type="t", audience="tenant",  # type: ignore[arg-type]
              payload={})
    with pytest.raises(ValueError):
        Event(tenant_id=uuid.uuid4(), type="t", audience="", payload={})


def test_create_event_bus_picks_the_implementation() -> None:
    assert isinstance(create_event_bus(None), InProcessEventBus)
    assert isinstance(create_event_bus(REDIS_URL), RedisEventBus)


# --- Redis only ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_bus(url: str = REDIS_URL, **options: Any) -> AsyncIterator[RedisEventBus]:
    bus = RedisEventBus(url, **options)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


async def connections_named(client: Redis, name: str) -> list[dict[str, Any]]:
    return [entry for entry in await client.client_list() if entry.get("name") == name]


class SlowLink:
    """A TCP relay to Redis on loopback that holds every chunk for ``delay`` seconds each
    way, as a distant Redis would (on plain loopback a race between two connections is
    always won by whoever sent first, so it could never show), and that can cut Redis off.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def __aenter__(self) -> SlowLink:
        await self.restore()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def cut(self) -> None:
        """Redis becomes unreachable: connections drop, new ones are refused."""
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, client_in: asyncio.StreamReader,
                     client_out: asyncio.StreamWriter) -> None:
        redis_in, redis_out = await asyncio.open_connection("127.0.0.1", 6379)
        self._writers += [client_out, redis_out]
        await asyncio.gather(self._pipe(client_in, redis_out), self._pipe(redis_in, client_out),
                             return_exceptions=True)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await asyncio.sleep(self.delay)
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


async def test_two_bus_instances_see_each_others_events(redis_client: Redis) -> None:
    # As two server processes would.
    tenant = uuid.uuid4()
    async with redis_bus() as first, redis_bus() as second, \
            first.subscribe(tenant, ["tenant"]) as on_first, \
            second.subscribe(tenant, ["tenant"]) as on_second:
        await first.publish(probe(tenant, n=1))
        assert await receive(on_first, 1) == [1]
        assert await receive(on_second, 1) == [1]
        await second.publish(probe(tenant, n=2))
        assert await receive(on_first, 1) == [2]
        assert await receive(on_second, 1) == [2]
        await first.publish_many([probe(tenant, n=3), probe(tenant, n=4)])
        assert await receive(on_first, 2) == [3, 4]
        assert await receive(on_second, 2) == [3, 4]
        # Each once: a bus's own events, delivered at once, are not delivered again
        # when Redis sends them back.
        await second.publish(probe(tenant, n=5))
        assert await receive(on_first, 1) == [5]
        assert await receive(on_second, 1) == [5]
        assert await on_first.get(timeout=0.2) is None
        assert await on_second.get(timeout=0.2) is None


async def test_a_process_hears_its_own_events_without_redis(redis_client: Redis) -> None:
    # Its subscribers are served in the process, so its listening connection being down
    # (or slow) costs them nothing of what the process itself publishes.
    name = f"plateaux-test-{uuid.uuid4().hex[:8]}"
    tenant = uuid.uuid4()
    async with SlowLink(delay=0.2) as link, redis_bus(link.url, client_name=name) as bus, \
            bus.subscribe(tenant, ["tenant"]) as sub:
        await bus.publish(probe(tenant, n=1))
        # Through Redis, the link alone would take 0.4 s.
        assert await receive(sub, 1, timeout=0.1) == [1]
        # The copy that comes back through Redis is dropped.
        assert await sub.get(timeout=0.6) is None


async def test_a_subscription_is_live_when_subscribe_returns(redis_client: Redis) -> None:
    # The subscriber is far from Redis, the publisher next to it: had subscribe returned
    # before Redis confirmed, the PUBLISH would overtake the SUBSCRIBE and be lost.
    tenant = uuid.uuid4()
    async with SlowLink(delay=0.05) as link, redis_bus() as publisher, \
            redis_bus(link.url) as subscriber:
        for n in range(3):
            audience = f"user:{uuid.uuid4()}"
            async with subscriber.subscribe(tenant, [audience]) as sub:
                await publisher.publish(probe(tenant, audience, n))
                assert await receive(sub, 1) == [n]


async def test_one_listening_connection_serves_every_subscription(redis_client: Redis) -> None:
    name = f"plateaux-test-{uuid.uuid4().hex[:8]}"
    tenant = uuid.uuid4()
    async with redis_bus(client_name=name) as bus, contextlib.AsyncExitStack() as stack:
        for n in range(20):
            await stack.enter_async_context(bus.subscribe(tenant, ["tenant", f"user:{n}"]))
        listening = [c for c in await connections_named(redis_client, name) if c["sub"] != "0"]
        assert [c["sub"] for c in listening] == ["21"]


async def test_redis_forgets_channels_nobody_listens_to(redis_client: Redis) -> None:
    tenant = uuid.uuid4()
    channel = channel_name(tenant, "tenant")
    async with redis_bus() as bus:
        async with bus.subscribe(tenant, ["tenant"]), bus.subscribe(tenant, ["tenant"]):
            assert await redis_client.pubsub_numsub(channel) == [(channel.encode(), 1)]

        async def unsubscribed() -> bool:
            return await redis_client.pubsub_numsub(channel) == [(channel.encode(), 0)]

        async with asyncio.timeout(5):
            while not await unsubscribed():
                await asyncio.sleep(0.01)


async def test_an_event_on_a_channel_it_does_not_belong_to_is_dropped(
    redis_client: Redis,
) -> None:
    # Anyone able to PUBLISH could write tenant B's event on tenant A's channel.
    a, b = uuid.uuid4(), uuid.uuid4()
    async with redis_bus() as bus, redis_bus() as other, bus.subscribe(a, ["tenant"]) as sub:
        await redis_client.publish(channel_name(a, "tenant"), probe(b, n=1).to_json())
        await redis_client.publish(channel_name(a, "tenant"), b"garbage")
        # Published by another process, so it comes through Redis after those two.
        await other.publish(probe(a, n=2))
        assert await receive(sub, 1) == [2]


async def test_the_bus_reconnects_and_resubscribes_after_losing_its_connection(
    redis_client: Redis,
) -> None:
    name = f"plateaux-test-{uuid.uuid4().hex[:8]}"
    tenant = uuid.uuid4()
    # What another process publishes comes through Redis (this bus's own events would
    # reach its subscribers without it).
    async with redis_bus(client_name=name) as bus, redis_bus() as publisher, \
            bus.subscribe(tenant, ["tenant", "role:agent"]) as sub:
        await publisher.publish(probe(tenant, n=0))
        assert await receive(sub, 1) == [0]
        assert sub.lapses == 0
        for connection in await connections_named(redis_client, name):
            await redis_client.client_kill_filter(_id=connection["id"])
        # Events published while the bus is disconnected are lost by design (clients catch
        # up from stored sequence numbers): publish until one gets through again.
        got = None
        async with asyncio.timeout(10):
            n = 0
            while got is None:
                n += 1
                await publisher.publish(probe(tenant, "role:agent", n))
                got = await sub.get(timeout=0.1)
        assert bus.reconnects >= 1
        # The subscriber is told it may have missed events (once per reconnection).
        assert sub.lapses == bus.reconnects
        # Both channels came back, and a subscription opened now works as well.
        await publisher.publish(probe(tenant, "tenant", 1000))
        async with bus.subscribe(tenant, ["role:supervisor"]) as late:
            await publisher.publish(probe(tenant, "role:supervisor", 2000))
            assert await receive(late, 1) == [2000]
        # (after any event of the loop above that was still on its way)
        async with asyncio.timeout(5):
            while await receive(sub, 1) != [1000]:
                pass


async def test_the_bus_waits_out_a_redis_outage(redis_client: Redis) -> None:
    tenant = uuid.uuid4()
    async with SlowLink(delay=0) as link, redis_bus() as publisher, \
            redis_bus(link.url, subscribe_timeout=0.3) as bus, \
            bus.subscribe(tenant, ["tenant"]) as sub:
        await link.cut()
        await asyncio.sleep(0.3)
        # Nothing can be promised while Redis is away: a new subscription says so.
        with pytest.raises(TimeoutError):
            async with bus.subscribe(tenant, ["role:agent"]):
                pass
        await link.restore()
        got = None
        async with asyncio.timeout(10):
            while got is None:
                await publisher.publish(probe(tenant, n=1))
                got = await sub.get(timeout=0.1)
        assert bus.reconnects >= 1


async def test_an_idle_connection_is_kept_alive(redis_client: Redis) -> None:
    tenant = uuid.uuid4()
    async with redis_bus(keepalive=0.1) as bus, redis_bus() as publisher, \
            bus.subscribe(tenant, ["tenant"]) as sub:
        await asyncio.sleep(0.8)
        await publisher.publish(probe(tenant, n=1))
        assert await receive(sub, 1) == [1]
        assert bus.reconnects == 0


async def test_an_unreachable_redis_fails_at_start() -> None:
    bus = RedisEventBus("redis://127.0.0.1:1/0")
    with pytest.raises((RedisConnectionError, OSError)):
        await asyncio.wait_for(bus.start(), 10)
    await bus.close()
