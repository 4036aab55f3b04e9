"""The live router commits operations in groups: those that come while a commit is in
flight are decided together and committed in one round trip. Each caller still gets its
own result and events, an operation that fails takes nobody else down with it, and what
the store holds is what one-by-one commits would have left."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from plateaux.platform.events import InProcessEventBus
from plateaux.routing.engine import Outcome
from plateaux.routing.lifecycle import TransitionError
from plateaux.routing.records import agent_key, contact_key, decode_agent, decode_contact
from plateaux.routing.router import Notes, TenantRouter
from plateaux.routing.state import AgentState, ContactState, ContactStatus, Membership, Queue
from plateaux.routing.store import MemoryStore


async def router_with(agents: int) -> tuple[TenantRouter, MemoryStore]:
    store = MemoryStore()
    router = TenantRouter(uuid.uuid4(), store=store, bus=InProcessEventBus())
    router.configure([Queue(id="q", accept_timeout=None)], {}, wrap_up_seconds={})
    people = [AgentState(id=f"a{n}", capacity={"chat": 1}, idle_since=float(n),
                         queues={"q": Membership()}) for n in range(agents)]
    assert await router.initialise(people, ())
    assert await router.load()
    return router, store


def contact(ident: str) -> ContactState:
    return ContactState(id=ident, channel="chat", created_at=0.0, queue_id="q")


async def stored_contact(store: MemoryStore, router: TenantRouter,
                         contact_id: str) -> ContactState | None:
    found = (await store.fetch(router.tenant, [contact_key(contact_id)]))[contact_key(contact_id)]
    return None if found is None else decode_contact(found[1])[0]


async def test_operations_waiting_together_are_committed_together_with_their_own_events(
) -> None:
    router, store = await router_with(2)
    before = len(store._logs[router.tenant])
    first, second = contact("c1"), contact("c2")
    results = await asyncio.gather(
        router.run(lambda now, notes: router.engine.arrive(first, now)),
        router.run(lambda now, notes: router.engine.arrive(second, now)),
        router.run(lambda now, notes: router.engine.accept("c1", "a0", now)))
    assert len(store._logs[router.tenant]) - before <= 2  # one commit, or two at most
    arrived, _, accepted = results
    assert [o.agent_ids for o in arrived.outcome.offers] == [("a0",)]
    assert [e["k"] for e in arrived.events if e.get("c") == "c1"] == ["queued", "offered"]
    # Offered and accepted within one batch: still two steps, each reported by its own.
    assert [e["k"] for e in accepted.events] == ["assigned"]
    held = await stored_contact(store, router, "c1")
    assert held is not None and held.status == ContactStatus.ASSIGNED and held.agent_id == "a0"


async def test_a_failing_operation_fails_alone_and_leaves_no_half_change() -> None:
    router, store = await router_with(2)

    def half_done(now: float, notes: Notes) -> Outcome:
        router.engine.arrive(contact("broken"), now)
        raise TransitionError("refused half way")

    outcomes = await asyncio.gather(
        router.run(lambda now, notes: router.engine.arrive(contact("c1"), now)),
        router.run(half_done),
        router.run(lambda now, notes: router.engine.accept("nobody", "a0", now)),
        router.run(lambda now, notes: router.engine.arrive(contact("c2"), now)),
        return_exceptions=True)
    assert isinstance(outcomes[1], TransitionError)
    assert isinstance(outcomes[2], KeyError | TransitionError)
    offered = {o.contact_id: o.agent_ids for r in (outcomes[0], outcomes[3])
               if not isinstance(r, BaseException) for o in r.outcome.offers}
    assert sorted(offered) == ["c1", "c2"] and {offered["c1"], offered["c2"]} == {("a0",),
                                                                                  ("a1",)}
    assert "broken" not in router.snapshot.contacts
    assert await stored_contact(store, router, "broken") is None
    for agent_id in ("a0", "a1"):
        found = (await store.fetch(router.tenant, [agent_key(agent_id)]))[agent_key(agent_id)]
        assert found is not None and dict(decode_agent(found[1])[0].load) == {"chat": 1}


async def test_a_refused_batch_is_decided_again_on_the_fresh_records() -> None:
    router, store = await router_with(1)
    other = TenantRouter(router.tenant_id, store=store, bus=InProcessEventBus())
    other.configure([Queue(id="q", accept_timeout=None)], {}, wrap_up_seconds={})
    assert await other.load()
    # Another process takes the only agent first; this one has not seen it yet.
    taken = await other.run(lambda now, notes: other.engine.arrive(contact("theirs"), now))
    assert [o.agent_ids for o in taken.outcome.offers] == [("a0",)]
    results = await asyncio.gather(
        router.run(lambda now, notes: router.engine.arrive(contact("c1"), now)),
        router.run(lambda now, notes: router.engine.arrive(contact("c2"), now)))
    assert all(not r.outcome.offers for r in results)  # nobody left with room
    for contact_id in ("c1", "c2"):
        waiting = await stored_contact(store, router, contact_id)
        assert waiting is not None and waiting.status == ContactStatus.QUEUED


@pytest.mark.parametrize("count", [1, 50])
async def test_every_caller_gets_an_answer(count: int) -> None:
    router, _ = await router_with(count)
    results = await asyncio.gather(*(
        router.run(lambda now, notes, n=n: router.engine.arrive(contact(f"c{n}"), now))
        for n in range(count)))
    assert sorted(o.contact_id for r in results for o in r.outcome.offers) \
        == sorted(f"c{n}" for n in range(count))


async def test_a_snapshot_that_lost_a_record_heals_from_the_store() -> None:
    router, _ = await router_with(1)
    await router.run(lambda now, notes: router.engine.arrive(contact("c1"), now))
    # Whatever made this process's snapshot drop the offered contact, the store has it.
    router.snapshot.remove_contact("c1")
    keys = [contact_key("c1"), agent_key("a0")]
    assert await router.resync(keys) is True
    assert router.snapshot.contacts["c1"].status == ContactStatus.OFFERED
    accepted = await router.run(lambda now, notes: router.engine.accept("c1", "a0", now))
    assert [e["k"] for e in accepted.events] == ["assigned"]
    assert await router.resync(keys) is False
