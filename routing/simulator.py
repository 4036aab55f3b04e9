"""Discrete-event simulation of a contact center, driving the real decision core.

Poisson arrivals per queue, exponential handle times, optional exponential patience; every
routing decision is made by ``routing.core`` (``decide_for_contact`` on arrival,
``decide_for_agent`` when an agent has room again), exactly as the live engine makes them.
Agents accept offers at once. Contacts arriving during the warm-up are served but not
counted.

Service level is answered within the threshold over offered contacts (an abandoned
contact counts as missed), the definition ``routing.erlang`` uses, so a run can be read
against Erlang C (no patience) or Erlang A (with patience).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from plateaux.routing import erlang
from plateaux.routing.core import (
    Agent,
    Contact,
    Membership,
    Offer,
    Queue,
    Snapshot,
    apply_offer,
    decide_for_agent,
    decide_for_contact,
    release,
)


@dataclass(frozen=True)
class QueueSpec:
    id: str
    contacts_per_hour: float
    aht: float
    threshold: float = 20.0
    patience: float | None = None
    channel: str = "voice"
    required_skills: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentGroup:
    count: int
    queues: dict[str, int]  # queue id -> membership priority
    skills: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=lambda: {"voice": 1, "chat": 3,
                                                               "email": 5})


@dataclass(frozen=True)
class Scenario:
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentGroup, ...]
    hours: float = 200.0
    warmup_hours: float = 2.0
    seed: int = 1


@dataclass
class QueueStats:
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    total_wait: float = 0.0

    def report(self, threshold: float) -> dict[str, float]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "service_level": self.answered_in_time / self.offered if self.offered else 0.0,
            "asa": self.total_wait / self.answered if self.answered else 0.0,
            "abandonment_rate": self.abandoned / self.offered if self.offered else 0.0,
            "threshold": threshold,
        }


@dataclass
class _Run:
    scenario: Scenario
    rng: random.Random
    snapshot: Snapshot
    specs: dict[str, QueueSpec]
    stats: dict[str, QueueStats]
    events: list[tuple[float, int, str, Any]] = field(default_factory=list)
    sequence: int = 0
    busy_time: float = 0.0
    counted: set[str] = field(default_factory=set)

    def schedule(self, at: float, kind: str, payload: Any) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (at, self.sequence, kind, payload))


def simulate(scenario: Scenario) -> dict[str, Any]:
    run = _build(scenario)
    end = scenario.hours * 3600
    warmup = scenario.warmup_hours * 3600
    for spec in scenario.queues:
        run.schedule(run.rng.expovariate(spec.contacts_per_hour / 3600), "arrival", spec.id)
    number = 0
    while run.events:
        now, _, kind, payload = heapq.heappop(run.events)
        if now > end:
            break
        if kind == "arrival":
            number += 1
            _arrive(run, payload, f"c{number}", now, counted=now >= warmup)
        elif kind == "done":
            agent_id, contact, started = payload
            _finish(run, agent_id, contact, started, now, warmup)
        elif kind == "abandon":
            _abandon(run, payload, now)
    measured = end - warmup
    agents = len(run.snapshot.agents)
    return {
        "queues": {q: run.stats[q].report(run.specs[q].threshold) for q in run.stats},
        "occupancy": run.busy_time / (agents * measured) if agents and measured > 0 else 0.0,
        "agents": agents,
        "hours": scenario.hours,
        "seed": scenario.seed,
    }


def _build(scenario: Scenario) -> _Run:
    agents: dict[str, Agent] = {}
    for g, group in enumerate(scenario.agents):
        for i in range(group.count):
            agent_id = f"a{g}-{i}"
            agents[agent_id] = Agent(
                id=agent_id, capacity=dict(group.capacity), skills=dict(group.skills),
                queues={q: Membership(priority=p) for q, p in group.queues.items()},
            )
    queues = {spec.id: Queue(id=spec.id, threshold=spec.threshold) for spec in scenario.queues}
    snapshot = Snapshot(agents=agents, queues=queues, waiting={})
    snapshot.index_members()
    # Simulation noise, not security: a seeded generator makes runs repeatable.
    rng = random.Random(scenario.seed)  # noqa: S311
    return _Run(scenario=scenario, rng=rng, snapshot=snapshot,
                specs={s.id: s for s in scenario.queues},
                stats={s.id: QueueStats() for s in scenario.queues})


def _arrive(run: _Run, queue_id: str, contact_id: str, now: float, *, counted: bool) -> None:
    spec = run.specs[queue_id]
    run.schedule(now + run.rng.expovariate(spec.contacts_per_hour / 3600), "arrival", queue_id)
    contact = Contact(id=contact_id, channel=spec.channel, queue_id=queue_id, created_at=now,
                      required_skills=dict(spec.required_skills))
    if counted:
        run.counted.add(contact_id)
        run.stats[queue_id].offered += 1
    run.snapshot.waiting[contact.id] = contact
    offer = decide_for_contact(run.snapshot, contact, now)
    if offer is not None:
        _start(run, offer, contact, now)
    elif spec.patience is not None:
        run.schedule(now + run.rng.expovariate(1 / spec.patience), "abandon", contact.id)


def _start(run: _Run, offer: Offer, contact: Contact, now: float) -> None:
    apply_offer(run.snapshot, offer)
    agent_id = offer.agent_ids[0]
    # Offered to several agents at once: the first accepts, the others are released.
    for other in offer.agent_ids[1:]:
        release(run.snapshot, other, contact.channel, contact.queue_id, now)
    if contact.id in run.counted:
        stats = run.stats[contact.queue_id]
        wait = now - contact.created_at
        stats.answered += 1
        stats.total_wait += wait
        stats.answered_in_time += wait <= run.specs[contact.queue_id].threshold
    aht = run.specs[contact.queue_id].aht
    run.schedule(now + run.rng.expovariate(1 / aht), "done", (agent_id, contact, now))


def _finish(run: _Run, agent_id: str, contact: Contact, started: float, now: float,
            warmup: float) -> None:
    run.busy_time += max(0.0, now - max(started, warmup))
    release(run.snapshot, agent_id, contact.channel, contact.queue_id, now)
    agent = run.snapshot.agents[agent_id]
    while True:
        offer = decide_for_agent(run.snapshot, agent, now)
        if offer is None:
            return
        _start(run, offer, run.snapshot.waiting[offer.contact_id], now)


def _abandon(run: _Run, contact_id: str, now: float) -> None:
    contact = run.snapshot.waiting.pop(contact_id, None)
    if contact is not None and contact_id in run.counted:
        run.stats[contact.queue_id].abandoned += 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="plateaux simulate",
        description="Simulate a contact center with the real routing engine.")
    parser.add_argument("--scenario", help="a JSON scenario file (queues, agents)")
    parser.add_argument("--agents", type=int, default=14)
    parser.add_argument("--rate-per-30min", type=float, default=100.0)
    parser.add_argument("--aht", type=float, default=180.0, help="average handle time, s")
    parser.add_argument("--threshold", type=float, default=20.0, help="service level, s")
    parser.add_argument("--patience", type=float, help="mean patience, s (abandonment)")
    parser.add_argument("--hours", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.scenario:
        with open(args.scenario, encoding="utf-8") as handle:
            scenario = load_scenario(json.load(handle), seed=args.seed)
    else:
        scenario = Scenario(
            queues=(QueueSpec(id="main", contacts_per_hour=args.rate_per_30min * 2,
                              aht=args.aht, threshold=args.threshold,
                              patience=args.patience),),
            agents=(AgentGroup(count=args.agents, queues={"main": 1}),),
            hours=args.hours, seed=args.seed)
    result = simulate(scenario)
    result["theory"] = theory(scenario)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print(result)
    return 0


def theory(scenario: Scenario) -> dict[str, Any] | None:
    """Erlang C or A figures for a single-queue, single-group scenario."""
    if len(scenario.queues) != 1 or len(scenario.agents) != 1:
        return None
    spec, group = scenario.queues[0], scenario.agents[0]
    rate = spec.contacts_per_hour / 3600
    if spec.patience is None:
        figures = erlang.erlang_c(rate=rate, aht=spec.aht, agents=group.count,
                                  threshold=spec.threshold)
        model = "erlang_c"
    else:
        figures = erlang.erlang_a(rate=rate, aht=spec.aht, agents=group.count,
                                  patience=spec.patience, threshold=spec.threshold)
        model = "erlang_a"
    return {"model": model, **asdict(figures)}


def load_scenario(data: dict[str, Any], *, seed: int) -> Scenario:
    queues = tuple(QueueSpec(**q) for q in data["queues"])
    agents = tuple(AgentGroup(**a) for a in data["agents"])
    return Scenario(queues=queues, agents=agents, hours=float(data.get("hours", 200)),
                    warmup_hours=float(data.get("warmup_hours", 2)),
                    seed=int(data.get("seed", seed)))


def _print(result: dict[str, Any]) -> None:
    print(f"{result['agents']} agents, {result['hours']:g} h simulated, seed {result['seed']}, "
          f"occupancy {result['occupancy']:.3f}")
    for queue_id, q in result["queues"].items():
        print(f"  {queue_id}: offered {q['offered']}, service level {q['service_level']:.4f} "
              f"within {q['threshold']:g} s, ASA {q['asa']:.2f} s, "
              f"abandoned {q['abandonment_rate']:.4f}")
    if result.get("theory"):
        t = result["theory"]
        print(f"  {t['model']}: service level {t['service_level']:.4f}, ASA {t['asa']:.2f} s, "
              f"abandoned {t['p_abandon']:.4f}, occupancy {t['occupancy']:.3f}")
