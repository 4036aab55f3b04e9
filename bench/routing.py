"""Routing benchmark: from a contact's arrival (or an agent becoming free) to the offer
committed in the state store and published, on one process.

20 queues with 3-step workflows (bullseye rings relaxing skill levels), agents with mixed
capacities serving 1 to 3 queues, Poisson arrivals; agents accept each offer and complete
it after an exponential handle time sized so they stay about 85% busy, and some go away
and come back all along. The state store is Redis when PLATEAUX_BENCH_REDIS_URL (or
--redis) names one, else the in-process store; events go to the in-process bus.

Prints JSON: p50/p99/p99.9 of the routing time per case, the p99 of a Redis round trip
measured in the same run, and capacity violations seen (checked after every event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from plateaux.platform.events import InProcessEventBus
from plateaux.routing.capacity import within_capacity
from plateaux.routing.router import Notes, TenantRouter
from plateaux.routing.state import AgentState, ContactState, Membership, Presence, Queue
from plateaux.routing.store import MemoryStore, RedisStore, RoutingStore
from plateaux.routing.workflows import Step, Workflow

QUEUES = 20
SKILLS = 10


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def build(agents: int, rng: random.Random) -> tuple[list[Queue], dict[str, Workflow],
                                                   list[AgentState]]:
    queues = [Queue(id=f"q{i}", accept_timeout=None) for i in range(QUEUES)]
    workflows = {}
    for i in range(QUEUES):
        skill = f"s{i % SKILLS}"
        workflows[f"w{i}"] = Workflow(id=f"w{i}", default_steps=(
            Step(queue_id=f"q{i}", required_skills={skill: 4}, timeout=10),
            Step(queue_id=f"q{i}", required_skills={skill: 2}, timeout=30),
            Step(queue_id=f"q{i}")))
    people = []
    for n in range(agents):
        served = rng.sample(range(QUEUES), rng.randint(1, 3))
        people.append(AgentState(
            id=f"a{n}", presence=Presence.AVAILABLE, idle_since=0.0,
            capacity={"phone": 1, "chat": rng.choice((2, 3)), "email": 5},
            skills={f"s{s}": rng.randint(1, 5) for s in rng.sample(range(SKILLS), 3)},
            queues={f"q{q}": Membership(priority=rng.randint(1, 2)) for q in served}))
    return queues, workflows, people


async def run_case(store: RoutingStore, *, agents: int, rate: float, seconds: float,
                   seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    queues, workflows, people = build(agents, rng)
    router = TenantRouter(uuid.uuid4(), store=store, bus=InProcessEventBus())
    router.configure(queues, workflows, wrap_up_seconds={})
    assert await router.initialise(people, ())
    assert await router.load()
    # Handle time so that the offered load keeps agents about 85% busy.
    slots = sum(min(a.capacity["chat"], 3) for a in people) * 0.5 + agents * 0.5
    handle = 0.85 * slots / rate
    arrival_times: list[float] = []
    free_times: list[float] = []
    violations = 0
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    def check() -> int:
        return sum(1 for a in router.snapshot.agents.values() if not within_capacity(a))

    async def finish(contact_id: str, delay: float) -> None:
        nonlocal violations
        await asyncio.sleep(delay)
        started = time.perf_counter()
        notes_final = "completed"

        def complete(now: float, notes: Notes) -> Any:
            notes.final[contact_id] = notes_final
            return router.engine.complete(contact_id, now)

        result = await router.run(complete)
        if result.outcome.offers:
            free_times.append(time.perf_counter() - started)
        await handle_offers(result.outcome.offers)

    async def handle_offers(offers: list[Any]) -> None:
        for offer in offers:
            agent_id = offer.agent_ids[0]
            await router.run(lambda now, notes, o=offer, a=agent_id:
                             router.engine.accept(o.contact_id, a, now))
            task = loop.create_task(finish(offer.contact_id, rng.expovariate(1 / handle)))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def flap() -> None:
        """Agents go away and come back all along."""
        while True:
            await asyncio.sleep(0.05)
            agent_id = f"a{rng.randrange(agents)}"
            agent = router.snapshot.agents[agent_id]
            presence = Presence.AWAY if agent.presence == Presence.AVAILABLE \
                else Presence.AVAILABLE
            reason = "break" if presence == Presence.AWAY else None
            result = await router.run(
                lambda now, notes, a=agent_id, p=presence, r=reason:
                router.engine.set_presence(a, p, now, reason=r))
            await handle_offers(result.outcome.offers)

    flapper = loop.create_task(flap())
    end = loop.time() + seconds
    next_at = loop.time()
    count = 0
    while loop.time() < end:
        next_at += rng.expovariate(rate)
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        count += 1
        queue = rng.randrange(QUEUES)
        contact = ContactState(id=f"c{count}", channel=rng.choice(("chat", "chat", "phone")),
                               created_at=time.time(), workflow_id=f"w{queue}",
                               priority=rng.choice((0, 0, 0, 1)))
        started = time.perf_counter()
        result = await router.run(lambda now, notes, c=contact: router.engine.arrive(c, now))
        arrival_times.append(time.perf_counter() - started)
        violations += check() if count % 50 == 0 else 0
        await handle_offers(result.outcome.offers)
    flapper.cancel()
    for task in list(pending):
        task.cancel()
    violations += check()
    return {
        "agents": agents, "rate_per_s": rate, "contacts": count,
        "arrival_ms": {"p50": percentile(arrival_times, 0.5) * 1000,
                       "p99": percentile(arrival_times, 0.99) * 1000,
                       "p99_9": percentile(arrival_times, 0.999) * 1000},
        "agent_free_ms": {"p50": percentile(free_times, 0.5) * 1000,
                          "p99": percentile(free_times, 0.99) * 1000,
                          "samples": len(free_times)},
        "capacity_violations": violations,
    }


async def redis_round_trip(url: str) -> float:
    client = Redis.from_url(url)
    samples = []
    for _ in range(2000):
        started = time.perf_counter()
        await client.ping()
        samples.append(time.perf_counter() - started)
    await client.aclose()
    return percentile(samples, 0.99) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default=os.environ.get("PLATEAUX_BENCH_REDIS_URL"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="the small case only")
    args = parser.parse_args()
    cases = [(1_000, 100.0)] if args.quick else [(1_000, 100.0), (10_000, 1_000.0)]
    results = []
    for agents, rate in cases:
        store: RoutingStore = RedisStore(args.redis, prefix=f"bench:{uuid.uuid4().hex}") \
            if args.redis else MemoryStore()
        results.append(await run_case(store, agents=agents, rate=rate, seconds=args.seconds,
                                      seed=agents))
        await store.close()
    report: dict[str, Any] = {"benchmark": "routing", "store": "redis" if args.redis
                              else "memory", "cases": results}
    if args.redis:
        report["redis_round_trip_p99_ms"] = await redis_round_trip(args.redis)
    report["summary"] = {"worst_arrival_p99_ms": max(r["arrival_ms"]["p99"] for r in results),
                         "mean_contacts": statistics.mean(r["contacts"] for r in results)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
