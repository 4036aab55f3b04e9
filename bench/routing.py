"""Routing decision latency at contact-center scale.

1,000 and 10,000 agents across 20 queues with 3-step workflows and mixed capacities;
contacts arriving at 100/s and 1,000/s (simulated time) of mixed channels while agents
go away and come back continuously. For every event the wall time of the decision is
measured: on arrival, the workflow placement and the choice of agent; when an agent has room
again, the choice of contact. Every decision is applied; capacity is checked after each,
and a sample of decisions is re-checked by brute force for priority inversions.

Prints JSON. The Redis round trip (PING) is measured in the same run for reference: the
live engine keeps its state in Redis, and that round trip bounds what it adds.
"""

from __future__ import annotations

import heapq
import json
import random
import statistics
import sys
import time
from typing import Any

from plateaux.routing.core import (
    Agent,
    Contact,
    Membership,
    Presence,
    Queue,
    Snapshot,
    apply_offer,
    decide_for_agent,
    decide_for_contact,
    eligible,
    release,
    set_presence,
)
from plateaux.routing.workflows import Placement, Step, Workflow, place

QUEUES = 20
SKILLS = [f"skill{i}" for i in range(5)]
CHANNELS = ["chat", "chat", "email", "voice"]  # arrival mix: half chats
DECISIONS_PER_RUN = 20_000
OCCUPANCY = 0.9
# Concurrent contacts an agent holds on average with this channel mix and call policy.
SLOTS_PER_AGENT = 2.5


def build(agents: int, rng: random.Random) -> tuple[Snapshot, dict[str, Workflow]]:
    queue_ids = [f"q{i}" for i in range(QUEUES)]
    roster: dict[str, Agent] = {}
    for i in range(agents):
        roster[f"a{i}"] = Agent(
            id=f"a{i}",
            capacity={"voice": 1, "chat": rng.randint(1, 4), "email": rng.randint(2, 6)},
            skills={s: rng.randint(1, 5) for s in SKILLS},
            site=rng.choice(["paris", "lyon", "home"]),
            idle_since=-rng.random() * 600,
            queues={q: Membership(priority=rng.randint(1, 2))
                    for q in rng.sample(queue_ids, 3)},
            concurrent_with_calls=rng.random() < 0.3,
        )
    snapshot = Snapshot(agents=roster, queues={q: Queue(q) for q in queue_ids}, waiting={})
    snapshot.index_members()
    workflows = {}
    for i, q in enumerate(queue_ids):
        skill = SKILLS[i % len(SKILLS)]
        workflows[q] = Workflow(filters=(), default_steps=(
            Step(q, required_skills={skill: 4}, timeout=20),
            Step(q, required_skills={skill: 2}, timeout=60),
            Step(q),
        ))
    return snapshot, workflows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def inverted(snapshot: Snapshot, agent: Agent, chosen: Contact, now: float) -> bool:
    """Brute force: was a strictly more deserving waiting contact eligible for this agent?"""
    mine = agent.queues.get(chosen.queue_id)
    for other in snapshot.waiting.values():
        membership = agent.queues.get(other.queue_id)
        if membership is None or mine is None or membership.priority != mine.priority:
            continue
        if other.priority > chosen.priority and eligible(
                agent, other, snapshot.queues[other.queue_id], now):
            return True
    return False


def run(agents: int, rate: float, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    snapshot, workflows = build(agents, rng)
    # Handle time chosen so the offered load is close to what the floor can take.
    slots = agents * SLOTS_PER_AGENT
    aht = OCCUPANCY * slots / rate
    events: list[tuple[float, int, str, Any]] = []
    seq = 0

    def push(at: float, kind: str, payload: Any) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, payload))

    push(rng.expovariate(rate), "arrival", None)
    push(1.0, "presence", None)
    # Start from a busy floor (about the steady state), not an empty one: what is measured
    # is routing under load, with contacts waiting for the right skills.
    preload = 0
    for agent in snapshot.agents.values():
        for channel in ("voice", "chat", "email"):
            while agent.can_take(channel) and rng.random() < OCCUPANCY:
                preload += 1
                home = next(iter(agent.queues))
                busy = Contact(id=f"pre{preload}", channel=channel, queue_id=home, created_at=0.0)
                agent.load[channel] = agent.load.get(channel, 0) + 1
                agent.presence = Presence.BUSY
                push(rng.expovariate(1 / aht), "done", (agent.id, busy))
        snapshot.refresh_agent(agent)
    latencies: list[float] = []
    now = 0.0
    violations = inversions = checked = offers = 0
    number = 0
    made = 0
    # Measure after one handle time (the preloaded work has turned over), for at least
    # one more handle time and DECISIONS_PER_RUN decisions.
    measure_from = aht
    measure_until = 2 * aht
    while events and (len(latencies) < DECISIONS_PER_RUN or now < measure_until):
        now, _, kind, payload = heapq.heappop(events)
        if kind == "arrival":
            number += 1
            push(now + rng.expovariate(rate), "arrival", None)
            queue_id = f"q{rng.randrange(QUEUES)}"
            contact = Contact(id=f"c{number}", channel=rng.choice(CHANNELS), queue_id=queue_id,
                              created_at=now, priority=rng.choice([0, 0, 0, 1, 5]))
            started = time.perf_counter()
            placement = place(workflows[queue_id], contact.attributes, 0.0, lambda s: True)
            if isinstance(placement, Placement):
                contact.required_skills = dict(placement.step.required_skills)
            snapshot.waiting[contact.id] = contact
            offer = decide_for_contact(snapshot, contact, now)
            if offer is not None:
                apply_offer(snapshot, offer)
            made += 1
            if now >= measure_from:
                latencies.append(time.perf_counter() - started)
            if offer is not None:
                offers += 1
                push(now + rng.expovariate(1 / aht), "done", (offer.agent_ids[0], contact))
            else:
                push(now + 20, "relax", contact.id)
        elif kind == "relax":
            contact = snapshot.waiting.get(payload)
            if contact is not None:
                # The workflow's later step: requirements relaxed to the last ring.
                contact.required_skills = {}
        elif kind == "done":
            agent_id, contact = payload
            release(snapshot, agent_id, contact.channel, contact.queue_id, now)
            agent = snapshot.agents[agent_id]
            while True:
                started = time.perf_counter()
                offer = decide_for_agent(snapshot, agent, now)
                chosen = snapshot.waiting.get(offer.contact_id) if offer else None
                if offer is not None:
                    apply_offer(snapshot, offer)
                made += 1
                if now >= measure_from:
                    latencies.append(time.perf_counter() - started)
                if offer is None or chosen is None:
                    break
                offers += 1
                if made % 25 == 0:
                    checked += 1
                    inversions += inverted(snapshot, agent, chosen, now)
                push(now + rng.expovariate(1 / aht), "done", (agent_id, chosen))
            if any(used > agent.capacity.get(ch, 0) for ch, used in agent.load.items()):
                violations += 1
        elif kind == "presence":
            # Agents keep changing state: a few go on break, a few come back, every second.
            push(now + 1.0, "presence", None)
            for _ in range(max(1, agents // 500)):
                agent = snapshot.agents[f"a{rng.randrange(agents)}"]
                if agent.presence == Presence.AWAY:
                    set_presence(snapshot, agent, Presence.AVAILABLE, now)
                elif agent.total_load() == 0:
                    set_presence(snapshot, agent, Presence.AWAY, now)
    ms = [x * 1000 for x in latencies]
    return {
        "agents": agents, "queues": QUEUES, "arrivals_per_second": rate,
        "simulated_seconds": round(now, 1), "handle_time_s": round(aht, 1),
        "decisions": len(ms), "offers": offers, "waiting_at_end": len(snapshot.waiting),
        "p50_ms": round(percentile(ms, 0.50), 4), "p99_ms": round(percentile(ms, 0.99), 4),
        "p999_ms": round(percentile(ms, 0.999), 4), "mean_ms": round(statistics.fmean(ms), 4),
        "capacity_violations": violations, "priority_inversions": inversions,
        "inversion_checks": checked,
    }


def redis_round_trip(samples: int = 2000) -> dict[str, Any]:
    try:
        import redis
    except ImportError:
        return {"available": False}
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        return {"available": False}
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        client.ping()
        times.append((time.perf_counter() - started) * 1000)
    return {"available": True, "p50_ms": round(percentile(times, 0.5), 4),
            "p99_ms": round(percentile(times, 0.99), 4)}


def main() -> None:
    results = [run(agents, rate) for agents in (1_000, 10_000) for rate in (100.0, 1_000.0)]
    json.dump({"benchmark": "routing", "python": sys.version.split()[0], "runs": results,
               "redis_ping": redis_round_trip()}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
