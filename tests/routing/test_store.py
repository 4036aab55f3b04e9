"""The routing state store's contract, for both implementations: compare-and-set over
several records, the log other processes follow, and (Redis) publication as part of a
commit, so that a refused commit tells nobody anything."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from plateaux.platform.events import Event, RedisEventBus, wire_message
from plateaux.routing.store import MemoryStore, RedisStore, RoutingStore
from tests.support.settings import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RoutingStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    prefix = f"plateaux:test-store:{uuid.uuid4().hex}"
    made = RedisStore(REDIS_URL, prefix=prefix)
    try:
        yield made
    finally:
        await made.close()
        client = Redis.from_url(REDIS_URL)
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)
        await client.aclose()


async def test_a_commit_applies_only_at_the_versions_it_read(store: RoutingStore) -> None:
    tenant = uuid.uuid4().hex
    assert await store.commit(tenant, {}, {"a:1": "{}"}, []) is None  # not initialised
    first = await store.commit(tenant, {"a:1": 0, "c:1": 0},
                               {"a:1": '{"n":1}', "c:1": '{"n":1}'},
                               [{"k": "queued", "c": "1"}], initialise=True)
    assert first is not None and first.versions == {"a:1": 1, "c:1": 1}

    # Someone else read version 0 of a:1 before the first commit: refused, nothing written.
    assert await store.commit(tenant, {"a:1": 0}, {"a:1": '{"n":2}'}, []) is None
    assert await store.fetch(tenant, ["a:1", "c:1", "c:2"]) == {
        "a:1": (1, '{"n":1}'), "c:1": (1, '{"n":1}'), "c:2": None}

    second = await store.commit(tenant, {"a:1": 1, "c:1": 1},
                                {"a:1": '{"n":3}', "c:1": None},
                                [{"k": "completed", "c": "1", "d": {"note": "é\u0000"}}])
    assert second is not None and second.versions == {"a:1": 2, "c:1": 2}
    image = await store.load(tenant)
    assert image is not None and image.records == {"a:1": (2, '{"n":3}')}
    assert image.cursor == second.log_id

    # The log holds both commits, writes (a deletion as None) and events, in order.
    entries = (await store.read_log({tenant: "0-0"}))[tenant]
    assert [entry.id for entry in entries] == [first.log_id, second.log_id]
    assert entries[0].writes == (("a:1", 1, '{"n":1}'), ("c:1", 1, '{"n":1}'))
    assert entries[1].writes == (("a:1", 2, '{"n":3}'), ("c:1", 2, None))
    assert entries[1].events == ({"k": "completed", "c": "1", "d": {"note": "é\u0000"}},)
    assert (await store.read_log({tenant: second.log_id})) == {}


async def test_redis_refuses_a_key_with_a_nul_character() -> None:
    """It separates the fields of a commit with NUL characters."""
    store = RedisStore(REDIS_URL, prefix=f"plateaux:test-store:{uuid.uuid4().hex}")
    try:
        with pytest.raises(ValueError, match="NUL"):
            await store.commit("t", {}, {"a:\0x": "{}"}, [], initialise=True)
    finally:
        await store.close()


async def test_the_in_process_store_does_not_publish() -> None:
    store = MemoryStore()
    assert not store.publishes
    with pytest.raises(ValueError, match="does not publish"):
        await store.commit("t", {}, {"a:1": "{}"}, [], initialise=True,
                           publish=[("channel", "data")])


async def test_redis_publishes_a_commits_messages_with_it_and_never_for_a_refused_one(
) -> None:
    prefix = f"plateaux:test-store:{uuid.uuid4().hex}"
    store = RedisStore(REDIS_URL, prefix=prefix)
    bus = RedisEventBus(REDIS_URL)
    await bus.start()
    tenant_id = uuid.uuid4()
    tenant = str(tenant_id)

    def message(n: int) -> Event:
        return Event(tenant_id=tenant_id, type="routing.offer", audience="user:ann",
                     payload={"n": n})

    try:
        async with bus.subscribe(tenant_id, ["user:ann"]) as subscription:
            done = await store.commit(tenant, {"a:1": 0}, {"a:1": "{}"}, [],
                                      initialise=True,
                                      publish=[wire_message(message(1)),
                                               wire_message(message(2))])
            assert done is not None
            refused = await store.commit(tenant, {"a:1": 0}, {"a:1": "{}"}, [],
                                         publish=[wire_message(message(3))])
            assert refused is None
            await store.commit(tenant, {"a:1": 1}, {"a:1": "{}"}, [],
                               publish=[wire_message(message(4))])
            received = [await subscription.get(timeout=5) for _ in range(3)]
            assert [event.payload["n"] for event in received if event] == [1, 2, 4]
            assert await subscription.get(timeout=0.2) is None
    finally:
        await bus.close()
        await store.close()
        client = Redis.from_url(REDIS_URL)
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)
        await client.aclose()


async def test_redis_reads_log_entries_written_in_the_earlier_layout() -> None:
    """A store running through an upgrade still holds entries of the one-document
    layout: processes started on the new code read them."""
    prefix = f"plateaux:test-store:{uuid.uuid4().hex}"
    store = RedisStore(REDIS_URL, prefix=prefix)
    tenant = uuid.uuid4().hex
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        log_key = f"{prefix}:{{{tenant}}}:log"
        old = json.dumps({"w": [["a:1", 3, '{"n":1}'], ["c:9", 2, False]],
                          "e": [{"k": "completed", "c": "9"}]})
        entry_id = await client.xadd(log_key, {"d": old})
        entries = (await store.read_log({tenant: "0-0"}))[tenant]
        assert [(e.id, e.writes, e.events) for e in entries] == [
            (entry_id, (("a:1", 3, '{"n":1}'), ("c:9", 2, None)),
             ({"k": "completed", "c": "9"},))]
    finally:
        await store.close()
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)
        await client.aclose()
