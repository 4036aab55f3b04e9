"""Routing benchmark: from a contact's arrival (or an agent becoming free) to the offer
committed in the state store and published, on one process.

20 queues with 3-step workflows (bullseye rings relaxing skill levels), agents with mixed
capacities serving 1 to 3 queues. The floor starts busy, at about its steady state (the
contacts in service are routed by the same engine before the clock starts, then stored).
Then, open loop: contacts arrive as a Poisson stream at the asked rate whatever the
process's backlog; each offer is accepted by its agent after a short delay and completed
after an exponential handle time; agents go on breaks and come back all along. Every one
of those is an operation of the router (decided, committed, published), as it is in
production, and all share the process.

Latency is measured from the moment an arrival was due (not when the process got round
to it), so a backlog shows as latency rather than as a lower rate, and the arrival rate
actually achieved is reported beside the one asked. Audits run in the same process and
their time is taken out of the latencies they overlap: a sample of offers is checked by
brute force for priority inversions before it is applied (``routing.audit``), every
offered agent is checked for capacity after the offer, every agent every second, and at
the end every stored agent against the contacts the store says it holds.

The state store is Redis when PLATEAUX_BENCH_REDIS_URL (or --redis) names one, and the
event bus is then Redis too (production's configuration); else both are in-process.
Prints JSON.
"""

# ruff: noqa: E402  (the path is fixed before anything imports the standard library's email)
from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import itertools
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, its own folder comes first on the path, where another benchmark's name
# (bench/email.py) would shadow the standard library module of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from redis.asyncio import Redis

from plateaux.platform import heap
from plateaux.platform.events import EventBus, InProcessEventBus, RedisEventBus
from plateaux.routing.audit import offer_problems
from plateaux.routing.capacity import within_capacity
from plateaux.routing.engine import Engine, Outcome
from plateaux.routing.records import (
    AGENT,
    agent_key,
    contact_key,
    decode_agent,
    decode_contact,
    encode_agent,
    encode_contact,
    split_key,
)
from plateaux.routing.router import Notes, TenantRouter
from plateaux.routing.snapshot import Snapshot
from plateaux.routing.state import (
    HOLDING,
    AgentState,
    ContactState,
    ContactStatus,
    Membership,
    Offer,
    Presence,
    Queue,
)
from plateaux.routing.store import (
    Committed,
    MemoryStore,
    Publication,
    RedisStore,
    RoutingStore,
)
from plateaux.routing.workflows import Step, Workflow

QUEUES = 20
SKILLS = 5
# Contacts in service per agent at the steady state: with a third of arrivals calls (one
# per agent, blocking) and two thirds chats (2-3 per agent), an agent can hold about 1.67
# contacts of this mix, less the first steps' skill rings and the agents on a break; 1.0
# keeps the floor busy with room to move.
IN_SERVICE_PER_AGENT = 1.0
WARM_UP = 1.0  # seconds not measured: the router's first batches and the first breaks
AUDIT_EVERY = 0.05  # seconds between brute-force priority checks of an offer
SWEEP_EVERY = 1.0  # seconds between capacity checks of every agent
SWEEP_SLICE_EVERY = 0.02  # ... done a slice at a time
PING_EVERY = 0.02


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def summary(values: Sequence[float]) -> dict[str, float | int]:
    return {"n": len(values), "p50": round(percentile(values, 0.5) * 1000, 3),
            "p99": round(percentile(values, 0.99) * 1000, 3),
            "p99_9": round(percentile(values, 0.999) * 1000, 3),
            "max": round(max(values, default=0.0) * 1000, 3)}


def build(agents: int, rng: random.Random, *, sparse_skills: bool = False,
          ) -> tuple[list[Queue], dict[str, Workflow], list[AgentState]]:
    """Every agent has every skill at a level 1-5 (as in the decision benchmark), so each
    ring of a workflow widens to a real share of the queue's members: 40% for the first
    step (level 4), 80% for the second. ``sparse_skills``: 10 skills, 3 per agent, as the
    previous end-to-end run had; only 12% of a queue's members can take its contacts
    in their first 10 seconds."""
    queues = [Queue(id=f"q{i}", accept_timeout=None) for i in range(QUEUES)]
    workflows = {}
    skill_count = 10 if sparse_skills else SKILLS
    for i in range(QUEUES):
        skill = f"s{i % skill_count}"
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
            skills={f"s{s}": rng.randint(1, 5) for s in (
                rng.sample(range(skill_count), 3) if sparse_skills else range(skill_count))},
            queues={f"q{q}": Membership(priority=rng.randint(1, 2)) for q in served}))
    return queues, workflows, people


def new_contact(ident: str, rng: random.Random, now: float) -> ContactState:
    return ContactState(id=ident, channel=rng.choice(("chat", "chat", "phone")),
                        created_at=now, workflow_id=f"w{rng.randrange(QUEUES)}",
                        priority=rng.choice((0, 0, 0, 1)))


def preload(queues: list[Queue], workflows: dict[str, Workflow], people: list[AgentState],
            count: int, rng: random.Random, now: float) -> tuple[list[AgentState],
                                                                 list[ContactState]]:
    """The contacts in service at the steady state, routed and accepted by the engine
    itself (so loads follow the capacities and policies), before the clock starts."""
    engine = Engine(Snapshot(queues=queues, agents=people), workflows)
    for n in range(count):
        contact = new_contact(f"p{n}", rng, now - rng.uniform(0, 60))
        outcome = engine.arrive(contact, now)
        for offer in outcome.offers:
            engine.accept(offer.contact_id, offer.agent_ids[0], now)
        if not outcome.offers:
            engine.cancel(contact.id, now)  # the floor is full for this one: not in service
    snapshot = engine.snapshot
    return list(snapshot.agents.values()), list(snapshot.contacts.values())


class CountingStore:
    """Counts the commits (store round trips) the router makes."""

    def __init__(self, store: RoutingStore) -> None:
        self.store = store
        self.commits = 0
        self.records = 0
        original = store.commit

        async def commit(tenant: str, expected: Mapping[str, int],
                         writes: Mapping[str, str | None], events: Sequence[dict[str, Any]],
                         *, initialise: bool = False, publish: Sequence[Publication] = (),
                         ) -> Committed | None:
            self.commits += 1
            self.records += len(writes)
            return await original(tenant, expected, writes, events, initialise=initialise,
                                  publish=publish)

        store.commit = commit  # type: ignore[method-assign,unused-ignore]


@dataclass
class Measures:
    started: float
    window_from: float
    audit_seconds: float = 0.0  # time spent auditing, taken out of overlapping latencies
    arrival: list[float] = field(default_factory=list)
    arrival_from_due: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    arrival_offered: list[float] = field(default_factory=list)
    agent_free: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    measured_operations: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    capacity_violations: int = 0
    capacity_checks: int = 0
    inversion_checks: int = 0
    priority_inversions: int = 0
    other_problems: list[str] = field(default_factory=list)
    pings: list[float] = field(default_factory=list)
    collections: list[float] = field(default_factory=list)  # full (generation 2) GC pauses
    young_collections: dict[int, list[float]] = field(default_factory=dict)  # pauses


async def run_case(store: RoutingStore, bus: EventBus, *, agents: int, rate: float,
                   seconds: float, seed: int, redis_url: str | None,
                   sparse_skills: bool = False, server_collector: bool = True,
                   ) -> dict[str, Any]:
    rng = random.Random(seed)
    queues, workflows, people = build(agents, rng, sparse_skills=sparse_skills)
    handle = IN_SERVICE_PER_AGENT * agents / rate
    tenant = uuid.uuid4()
    now = time.time()
    people, in_service = preload(queues, workflows, people, round(handle * rate), rng, now)
    writes: dict[str, str | None] = {agent_key(a.id): encode_agent(a, since=now)
                                     for a in people}
    writes.update({contact_key(c.id): encode_contact(c) for c in in_service})
    assert await store.commit(str(tenant), dict.fromkeys(writes, 0), writes, [],
                              initialise=True) is not None
    counting = CountingStore(store)
    # As the server runs it: with Redis, the store publishes each commit's messages.
    router = TenantRouter(tenant, store=store, bus=bus, publish_in_commit=store.publishes)
    router.configure(queues, workflows, wrap_up_seconds={})
    assert await router.load()
    assert not router.snapshot.dirty_agents

    if server_collector:
        # What the server does: its collector policy from the start, and the snapshot,
        # which lives as long as the process, out of the collector's reach once loaded.
        heap.configure()
        heap.settle()
    loop = asyncio.get_running_loop()
    # Not ``loop.time()``: uvloop's reads the clock once per loop iteration, in whole
    # milliseconds, which would hide the very work being measured.
    clock = time.monotonic
    start = clock()
    m = Measures(started=start, window_from=start + WARM_UP)
    collecting: list[float] = []

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[:] = [time.perf_counter()]
        elif collecting:
            took = time.perf_counter() - collecting[0]
            if info["generation"] == 2:
                m.collections.append(took)
            else:
                m.young_collections.setdefault(info["generation"], []).append(took)

    gc.callbacks.append(on_collection)
    end = start + seconds
    tasks: set[asyncio.Task[None]] = set()
    # What the simulated agents do next, as plain tuples (due, order, action, contact or
    # agent, agent) in one heap behind one timer: a timer handle, context and closure for
    # each of the ~14,000 pending accepts, completions and returns from break made the
    # driver's own objects most of what the garbage collector walked.
    agenda: list[tuple[float, int, str, str, str]] = []
    order = itertools.count()
    wake: asyncio.TimerHandle | None = None
    next_audit = start

    def audit(snapshot: Snapshot, offer: Offer, at: float) -> None:
        nonlocal next_audit
        if clock() < next_audit:
            return
        began = time.perf_counter()
        problems = offer_problems(snapshot, offer, at)
        m.inversion_checks += 1
        m.priority_inversions += sum(p.startswith("priority inversion") for p in problems)
        m.other_problems += [p for p in problems if not p.startswith("priority inversion")]
        m.audit_seconds += time.perf_counter() - began
        next_audit = clock() + AUDIT_EVERY

    router.engine.audit = audit

    def check_offers(outcome: Outcome) -> None:
        began = time.perf_counter()
        for offer in outcome.offers:
            for agent_id in offer.agent_ids:
                m.capacity_checks += 1
                agent = router.snapshot.agents.get(agent_id)
                m.capacity_violations += agent is not None and not within_capacity(agent)
        m.audit_seconds += time.perf_counter() - began

    def later(delay: float, action: str, subject: str, agent_id: str = "") -> None:
        """Run ``action`` (accept, complete, back) as its own task once ``delay`` has
        passed."""
        at = clock() + delay
        if at >= end:
            return
        heapq.heappush(agenda, (at, next(order), action, subject, agent_id))
        if agenda[0][0] == at:
            arm()

    def arm() -> None:
        nonlocal wake
        if wake is not None:
            wake.cancel()
        wake = loop.call_later(max(0.0, agenda[0][0] - clock()), run_due)

    def run_due() -> None:
        nonlocal wake
        wake = None
        now = clock()
        # The loop's timers fire to the millisecond, possibly a little early: what falls
        # due within one is due now (else the timer would be armed again and again).
        while agenda and agenda[0][0] <= now + 0.001:
            _, _, action, subject, agent_id = heapq.heappop(agenda)
            if action == "accept":
                spawn(accept(subject, agent_id, now))
            elif action == "complete":
                spawn(complete(subject, now))
            else:
                spawn(come_back(subject, now))
        if agenda:
            arm()

    def spawn(coroutine: Any) -> None:
        task = loop.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def operate(kind: str, due: float,
                      operation: Callable[[float, Notes], Outcome | None], *,
                      handed: float | None = None) -> Outcome | None:
        """Run one operation; its latency counts from when it was handed to the process
        (and for arrivals from when it was due too), less overlapping audits."""
        audits = m.audit_seconds
        handed = due if handed is None else handed
        try:
            result = await router.run(operation)
        except Exception as error:
            m.failures[f"{kind}: {type(error).__name__}"] += 1
            return None
        finished = clock() - (m.audit_seconds - audits)
        elapsed = finished - handed
        m.operations[kind] += 1
        if due >= m.window_from:
            m.measured_operations[kind] += 1
            outcome = result.outcome
            if kind == "arrival":
                m.arrival.append(elapsed)
                m.arrival_from_due.append(finished - due)
                m.lateness.append(handed - due)
                if outcome.offers:
                    m.arrival_offered.append(elapsed)
            elif outcome.offers and kind in ("complete", "back"):
                m.agent_free.append(elapsed)
            else:
                m.other.append(elapsed)
        check_offers(result.outcome)
        for offer in result.outcome.offers:
            later(rng.uniform(0.2, 1.0), "accept", offer.contact_id, offer.agent_ids[0])
        return result.outcome

    async def accept(contact_id: str, agent_id: str, due: float) -> None:
        outcome = await operate("accept", due, lambda now, notes: router.engine.accept(
            contact_id, agent_id, now))
        if outcome is not None:
            later(rng.expovariate(1 / handle), "complete", contact_id)

    async def complete(contact_id: str, due: float) -> None:
        def operation(now: float, notes: Notes) -> Outcome:
            notes.final[contact_id] = "completed"
            return router.engine.complete(contact_id, now)

        await operate("complete", due, operation)

    async def arrive(number: int, due: float, handed: float) -> None:
        contact = new_contact(f"c{number}", rng, time.time())
        await operate("arrival", due, lambda now, notes: router.engine.arrive(contact, now),
                      handed=handed)

    async def take_break(agent_id: str, due: float) -> None:
        await operate("away", due, lambda now, notes: router.engine.set_presence(
            agent_id, Presence.AWAY, now, reason="break"))
        later(rng.uniform(2.0, 6.0), "back", agent_id)

    async def come_back(agent_id: str, due: float) -> None:
        await operate("back", due, lambda now, notes: router.engine.set_presence(
            agent_id, Presence.AVAILABLE, now))

    for contact in in_service:
        later(rng.expovariate(1 / handle), "complete", contact.id)

    async def breaks() -> None:
        """Agents go on short breaks and come back all along: 1% of them a second."""
        every = 100.0 / agents
        due = start
        while True:
            due += rng.expovariate(1 / every)
            await asyncio.sleep(max(0.0, due - clock()))
            agent = router.snapshot.agents[f"a{rng.randrange(agents)}"]
            if agent.presence == Presence.AVAILABLE:
                spawn(take_break(agent.id, due))

    async def sweep() -> None:
        """Every agent checked once a second, a slice at a time: one pass over 10,000
        agents held the loop for tens of milliseconds, and the operations queued behind
        it (not overlapping it, so not corrected for it) made most of the p99."""
        slices = max(1, round(SWEEP_EVERY / SWEEP_SLICE_EVERY))
        while True:
            ids = list(router.snapshot.agents)
            size = -(-len(ids) // slices)
            for first in range(0, len(ids), size):
                await asyncio.sleep(SWEEP_SLICE_EVERY)
                began = time.perf_counter()
                for agent_id in ids[first:first + size]:
                    agent = router.snapshot.agents.get(agent_id)
                    if agent is not None:
                        m.capacity_checks += 1
                        m.capacity_violations += not within_capacity(agent)
                m.audit_seconds += time.perf_counter() - began

    async def ping(client: Redis) -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            began = clock()
            await client.ping()
            m.pings.append(clock() - began)

    cpu: dict[str, float] = {}

    async def cpu_window() -> None:
        """The process's CPU time over the measured window (driver and audits included),
        a figure that other work on the machine disturbs less than latencies."""
        await asyncio.sleep(max(0.0, m.window_from - clock()))
        cpu["from"], cpu["wall_from"] = time.process_time(), clock()
        await asyncio.sleep(max(0.0, end - clock()))
        cpu["to"], cpu["wall_to"] = time.process_time(), clock()

    helpers = [loop.create_task(breaks()), loop.create_task(sweep())]
    cpu_task = loop.create_task(cpu_window())
    pinger: Redis | None = None
    if redis_url:
        pinger = Redis.from_url(redis_url)
        await pinger.ping()
        helpers.append(loop.create_task(ping(pinger)))
    due = start
    arrivals = 0
    while True:
        due += rng.expovariate(rate)
        if due >= end:
            break
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        arrivals += 1
        spawn(arrive(arrivals, due, clock()))
    if wake is not None:
        wake.cancel()
    for helper in helpers:
        helper.cancel()
    await cpu_task
    drained_at = clock()
    while tasks:
        await asyncio.gather(*list(tasks), return_exceptions=True)
    backlog = clock() - drained_at
    gc.callbacks.remove(on_collection)
    gc.unfreeze()
    if pinger is not None:
        await pinger.aclose()
    window = end - m.window_from
    stored = await check_store(store, str(tenant))
    for agent in router.snapshot.agents.values():
        m.capacity_checks += 1
        m.capacity_violations += not within_capacity(agent)
    waiting = [c for c in router.snapshot.contacts.values() if c.status == ContactStatus.QUEUED]
    wall_now = time.time()
    return {
        "agents": agents, "queues": QUEUES, "arrivals_per_s_asked": rate,
        "skills": "sparse" if sparse_skills else "dense",
        "seconds": seconds, "handle_time_s": round(handle, 1),
        "in_service_at_start": len(in_service),
        "arrivals_per_s_achieved": round(m.measured_operations["arrival"] / window, 1),
        "operations_per_s": round(sum(m.measured_operations.values()) / window, 1),
        "operations": dict(m.operations),
        "failed_operations": dict(m.failures),
        "commits": counting.commits,
        # Process CPU per operation over the measured window, driver and audits included.
        "cpu_ms_per_operation": round((cpu["to"] - cpu["from"]) * 1000
                                      / max(1, sum(m.measured_operations.values())), 4),
        "cpu_busy_share": round((cpu["to"] - cpu["from"])
                                / max(1e-9, cpu["wall_to"] - cpu["wall_from"]), 3),
        "operations_per_commit": round(sum(m.operations.values()) / max(1, counting.commits), 2),
        "backlog_after_last_arrival_s": round(backlog, 3),
        "arrival_ms": summary(m.arrival),
        # The same, counted from when each arrival was due: adds the driver's own timer
        # lateness (the event loop sleeps in whole milliseconds) and any backlog.
        "arrival_from_due_ms": summary(m.arrival_from_due),
        "driver_lateness_ms": summary(m.lateness),
        "arrival_offered_at_once_ms": summary(m.arrival_offered),
        "agent_free_ms": summary(m.agent_free),
        "accept_away_and_other_ms": summary(m.other),
        "waiting_at_end": len(waiting),
        "longest_wait_at_end_s": round(max((wall_now - c.created_at for c in waiting),
                                           default=0.0), 1),
        "capacity_violations": m.capacity_violations + stored["violations"],
        "capacity_checks": m.capacity_checks + stored["agents"],
        "stored_load_mismatches": stored["mismatches"],
        "priority_inversions": m.priority_inversions,
        "inversion_checks": m.inversion_checks,
        "other_offer_problems": m.other_problems[:5],
        "audit_seconds_excluded": round(m.audit_seconds, 3),
        "redis_ping_under_load_ms": summary(m.pings) if m.pings else None,
        "collector": "server policy (platform/heap.py)" if server_collector
                     else "CPython defaults",
        "full_gc_pauses_ms": summary(m.collections),
        "young_gc_pauses_ms": {f"generation {g}": summary(pauses)
                               for g, pauses in sorted(m.young_collections.items())},
    }


async def check_store(store: RoutingStore, tenant: str) -> dict[str, int]:
    """What the store holds at the end: every agent within capacity, and its load the
    contacts the store says it holds."""
    image = await store.load(tenant)
    assert image is not None
    agents: dict[str, AgentState] = {}
    held: dict[str, Counter[str]] = {}
    for key, (_version, record) in image.records.items():
        kind, _ = split_key(key)
        if kind == AGENT:
            agent, _since = decode_agent(record)
            agents[agent.id] = agent
        else:
            contact, _until = decode_contact(record)
            if contact.status in HOLDING:
                holders = contact.offered_to if contact.status == ContactStatus.OFFERED \
                    else (contact.agent_id,)
                for agent_id in holders:
                    held.setdefault(agent_id or "", Counter())[contact.channel] += 1
    violations = sum(not within_capacity(a) for a in agents.values())
    mismatches = sum(1 for a in agents.values()
                     if {c: n for c, n in a.load.items() if n} != dict(held.get(a.id, {})))
    return {"agents": len(agents), "violations": violations, "mismatches": mismatches}


async def redis_round_trip(url: str) -> dict[str, float | int]:
    client = Redis.from_url(url)
    samples = []
    for _ in range(2000):
        started = time.perf_counter()
        await client.ping()
        samples.append(time.perf_counter() - started)
    await client.aclose()
    return summary(samples)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default=os.environ.get("PLATEAUX_BENCH_REDIS_URL"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="the small case only")
    parser.add_argument("--case", action="append", default=[], metavar="AGENTS:RATE",
                        help="run these cases instead (e.g. 10000:1000)")
    parser.add_argument("--server-collector", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="the server's garbage-collection policy (platform/heap.py: "
                             "young passes after 50,000 allocations, the loaded snapshot "
                             "frozen); --no-server-collector keeps CPython's defaults")
    parser.add_argument("--sparse-skills", action="store_true",
                        help="the previous run's skill mix (see build)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="event loop (uvloop is what `plateaux serve` runs on: uvicorn "
                             "picks it when installed)")
    return parser.parse_args()


async def drop_keys(redis_url: str, prefix: str) -> None:
    """The case's state (10,000 agents and a long log) must not stay in Redis."""
    client = Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


async def main(args: argparse.Namespace) -> None:
    cases = [(1_000, 100.0)] if args.quick else [(1_000, 100.0), (10_000, 1_000.0)]
    if args.case:
        cases = [(int(a), float(r)) for a, r in (c.split(":") for c in args.case)]
    results = []
    for agents, rate in cases:
        prefix = f"bench:{uuid.uuid4().hex}"
        store: RoutingStore = RedisStore(args.redis, prefix=prefix) \
            if args.redis else MemoryStore()
        bus: EventBus = RedisEventBus(args.redis) if args.redis else InProcessEventBus()
        await bus.start()
        try:
            results.append(await run_case(store, bus, agents=agents, rate=rate,
                                          seconds=args.seconds, seed=agents,
                                          redis_url=args.redis,
                                          sparse_skills=args.sparse_skills,
                                          server_collector=args.server_collector))
        finally:
            await bus.close()
            await store.close()
            if args.redis:
                await drop_keys(args.redis, prefix)
    report: dict[str, Any] = {"benchmark": "routing", "python": sys.version.split()[0],
                              "loop": type(asyncio.get_running_loop()).__module__,
                              "store": "redis" if args.redis else "memory",
                              "bus": "redis" if args.redis else "in-process",
                              "cases": results}
    if args.redis:
        report["redis_ping_idle_ms"] = await redis_round_trip(args.redis)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.loop == "uvloop":
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
