"""Discrete-event simulation of a contact center, driving the real routing core.

Every routing decision is made by ``routing.core`` exactly as the live engine makes it:
workflows place each contact (``evaluate_workflow``), ``decide_for_contact`` runs when a
contact arrives, is re-placed or reaches its ``next_wakeup``, ``decide_for_agent`` when an
agent has room again, and the ``lifecycle`` transitions apply offers, answers, completions
and abandonments to the snapshot. The simulator adds only time and chance: Poisson
arrivals per stream, exponential handle times, optional exponential patience, and a fixed
accept delay (0 by default: agents answer at once).

Measured per queue over ``hours`` after a warm-up (contacts arriving during the warm-up are
served but not counted; contacts arriving in the window are followed until they are
answered or abandon, even past its end):

- offered: contacts that arrived in the window;
- service level: answered within the threshold / offered, abandoned and overflowed contacts
  counting as missed. Without abandonment this is Erlang C's P(W <= t); with it, it is the
  Erlang A figure of ``routing.erlang`` (answered within t over all arrivals);
- ASA: mean wait of answered contacts (from arrival to acceptance);
- abandonment rate: abandoned / offered;
- occupancy: the queue's handling time over the agent capacity serving it (each agent's
  slots for the queue's channel, shared equally among their queues of that channel); for
  one queue of voice agents that is busy time over staffed time, Erlang's A/n.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from plateaux.routing import erlang
from plateaux.routing.core import (
    DEFAULT_CAPACITY,
    ContactState,
    ContactStatus,
    Offer,
    Snapshot,
)
from plateaux.routing.engine import Engine, Outcome
from plateaux.routing.scenario import (
    AgentGroup,
    Scenario,
    ScenarioError,
    build_agents,
    build_queues,
    build_workflows,
    load_scenario,
    single_queue,
)


@dataclass
class QueueTally:
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    overflowed: int = 0
    total_wait: float = 0.0
    handling: float = 0.0  # contact-seconds of handling inside the window


class _Draws:
    """Exponential draws for one arrival stream.

    Each stream has its own generator, and a contact's handle time and patience are drawn
    when it arrives: the n-th contact of a stream gets the same numbers whatever happens
    elsewhere. With ``antithetic`` every uniform u becomes 1 - u, which gives the mirrored
    run of an antithetic pair (see ``simulate_pair``).
    """

    def __init__(self, seed: int, stream: str, *, antithetic: bool) -> None:
        # Simulation noise, not security: seeded generators make runs repeatable.
        self.rng = random.Random(f"{seed}/{stream}")  # noqa: S311
        self.antithetic = antithetic

    def exponential(self, mean: float) -> float:
        u = self.rng.random()
        if self.antithetic:
            u = 1.0 - u
        return -mean * math.log(max(1.0 - u, 1e-300))


class _Simulation:
    def __init__(self, scenario: Scenario, *, antithetic: bool = False) -> None:
        self.scenario = scenario
        snapshot = Snapshot(queues=build_queues(scenario), agents=build_agents(scenario))
        self.engine = Engine(snapshot, build_workflows(scenario))
        self.specs = {spec.id: spec for spec in scenario.queues}
        self.draws = {spec.id: _Draws(scenario.seed, spec.id, antithetic=antithetic)
                      for spec in scenario.queues}
        self.tallies = {spec.id: QueueTally() for spec in scenario.queues}
        self.start = scenario.warmup_hours * 3600
        self.end = self.start + scenario.hours * 3600
        self.events: list[tuple[float, int, str, str]] = []
        self.sequence = 0
        self.numbered = 0
        self.stream: dict[str, str] = {}  # contact -> the stream (queue) it arrived for
        self.handle_time: dict[str, float] = {}
        self.counted: set[str] = set()
        self.outstanding = 0  # counted contacts not yet answered, abandoned or overflowed
        self.serving: dict[str, tuple[str, float]] = {}  # contact -> (agent, answered at)
        self.holding: dict[str, int] = {}
        self.busy_since: dict[str, float] = {}
        self.busy_time = 0.0

    # --- the event loop ---------------------------------------------------------------------

    def schedule(self, at: float, kind: str, subject: str) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (at, self.sequence, kind, subject))

    def run(self) -> dict[str, Any]:
        for spec in self.scenario.queues:
            gap = self.draws[spec.id].exponential(3600 / spec.arrivals_per_hour)
            self.schedule(gap, "arrival", spec.id)
        while self.events:
            timer = self.engine.next_timer()
            if timer is not None and timer <= self.events[0][0]:
                self.handle(self.engine.advance(timer), timer)
                continue
            now, _, kind, subject = heapq.heappop(self.events)
            if now >= self.end and self.outstanding == 0:
                break
            getattr(self, f"on_{kind}")(subject, now)
        return self.report()

    def on_arrival(self, stream: str, now: float) -> None:
        spec = self.specs[stream]
        draws = self.draws[stream]
        self.schedule(now + draws.exponential(3600 / spec.arrivals_per_hour), "arrival", stream)
        self.numbered += 1
        contact = ContactState(id=f"c{self.numbered}", channel=spec.channel, created_at=now,
                               priority=spec.priority, workflow_id=stream)
        self.stream[contact.id] = stream
        self.handle_time[contact.id] = draws.exponential(spec.aht)
        patience = None if spec.patience is None else draws.exponential(spec.patience)
        if self.start <= now < self.end:
            self.counted.add(contact.id)
            self.outstanding += 1
            self.tallies[stream].offered += 1
        if patience is not None:
            self.schedule(now + patience, "abandon", contact.id)
        self.handle(self.engine.arrive(contact, now), now)

    def on_accept(self, contact_and_agent: str, now: float) -> None:
        contact_id, agent_id = contact_and_agent.split(" ", 1)
        contact = self.engine.snapshot.contacts.get(contact_id)
        if contact is not None and contact.status == ContactStatus.OFFERED:
            self.accept(contact, agent_id, now)

    def on_done(self, contact_id: str, now: float) -> None:
        agent_id, answered_at = self.serving.pop(contact_id)
        tally = self.tallies[self.stream.pop(contact_id)]
        tally.handling += max(0.0, min(now, self.end) - max(answered_at, self.start))
        self.holding[agent_id] -= 1
        if not self.holding[agent_id]:
            since = self.busy_since.pop(agent_id)
            self.busy_time += max(0.0, min(now, self.end) - max(since, self.start))
        self.handle(self.engine.complete(contact_id, now), now)

    def on_abandon(self, contact_id: str, now: float) -> None:
        contact = self.engine.snapshot.contacts.get(contact_id)
        if contact is None or contact.status not in (ContactStatus.QUEUED,
                                                      ContactStatus.OFFERED):
            return
        if contact_id in self.counted:
            self.tallies[self.stream[contact_id]].abandoned += 1
            self.resolve(contact_id)
        self.forget(contact_id)
        self.handle(self.engine.abandon(contact_id, now), now)

    # --- what the engine decided --------------------------------------------------------------

    def handle(self, outcome: Outcome, now: float) -> None:
        for contact_id, _placement in outcome.overflowed:
            if contact_id in self.counted:
                self.tallies[self.stream[contact_id]].overflowed += 1
                self.resolve(contact_id)
            self.forget(contact_id)
        for offer in outcome.offers:
            self.offered(offer, now)

    def offered(self, offer: Offer, now: float) -> None:
        """Agents accept; with several offered at once, the first (best-ranked) answers."""
        delay = self.scenario.accept_delay
        if delay > 0:
            self.schedule(now + delay, "accept", f"{offer.contact_id} {offer.agent_ids[0]}")
        else:
            contact = self.engine.snapshot.contacts[offer.contact_id]
            if contact.status == ContactStatus.OFFERED:
                self.accept(contact, offer.agent_ids[0], now)

    def accept(self, contact: ContactState, agent_id: str, now: float) -> None:
        stream = self.stream[contact.id]
        outcome = self.engine.accept(contact.id, agent_id, now)
        if contact.id in self.counted:
            tally = self.tallies[stream]
            wait = now - contact.created_at
            tally.answered += 1
            tally.total_wait += wait
            tally.answered_in_time += wait <= self.specs[stream].threshold
            self.resolve(contact.id)
        self.serving[contact.id] = (agent_id, now)
        self.holding[agent_id] = self.holding.get(agent_id, 0) + 1
        self.busy_since.setdefault(agent_id, now)
        self.schedule(now + self.handle_time.pop(contact.id), "done", contact.id)
        self.handle(outcome, now)

    def resolve(self, contact_id: str) -> None:
        self.counted.discard(contact_id)
        self.outstanding -= 1

    def forget(self, contact_id: str) -> None:
        self.stream.pop(contact_id, None)
        self.handle_time.pop(contact_id, None)

    # --- results ----------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        window = self.end - self.start
        queues: dict[str, Any] = {}
        for queue_id, tally in self.tallies.items():
            spec = self.specs[queue_id]
            slots = _slots(self.scenario, queue_id)
            queues[queue_id] = {
                "offered": tally.offered,
                "answered": tally.answered,
                "abandoned": tally.abandoned,
                "overflowed": tally.overflowed,
                "threshold": spec.threshold,
                "service_level": _ratio(tally.answered_in_time, tally.offered),
                "asa": _ratio(tally.total_wait, tally.answered),
                "abandonment_rate": _ratio(tally.abandoned, tally.offered),
                "occupancy": _ratio(tally.handling, slots * window),
            }
        agents = len(self.engine.snapshot.agents)
        return {
            "hours": self.scenario.hours,
            "warmup_hours": self.scenario.warmup_hours,
            "seed": self.scenario.seed,
            "agents": agents,
            "queues": queues,
            "occupancy": _ratio(self.busy_time, agents * window),
        }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _slots(scenario: Scenario, queue_id: str) -> float:
    channel_of = {spec.id: spec.channel for spec in scenario.queues}
    channel = channel_of[queue_id]
    total = 0.0
    for group in scenario.agents:
        if queue_id not in group.queues:
            continue
        sharing = sum(1 for q in group.queues if channel_of.get(q) == channel)
        total += group.count * _capacity(group, channel) / sharing
    return total


def _capacity(group: AgentGroup, channel: str) -> int:
    return (DEFAULT_CAPACITY if group.capacity is None else group.capacity).get(channel, 0)


def simulate(scenario: Scenario, *, antithetic: bool = False) -> dict[str, Any]:
    """Run ``scenario`` and return the per-queue figures (and Erlang's, when they apply).
    ``antithetic`` mirrors every random draw (u -> 1 - u)."""
    result = _Simulation(scenario, antithetic=antithetic).run()
    result["theory"] = theory(scenario)
    return result


def theory(scenario: Scenario) -> dict[str, Any] | None:
    """Erlang C (no patience) or Erlang A figures for a one-queue, one-group scenario with
    no workflow steps, where the textbook model is exactly what is simulated."""
    if len(scenario.queues) != 1 or len(scenario.agents) != 1:
        return None
    spec, group = scenario.queues[0], scenario.agents[0]
    if spec.steps or spec.required_skills or spec.offer_to != 1 or scenario.accept_delay:
        return None
    servers = group.count * _capacity(group, spec.channel)
    rate = spec.arrivals_per_hour / 3600
    if spec.patience is None:
        figures = erlang.erlang_c(rate=rate, aht=spec.aht, agents=servers,
                                  threshold=spec.threshold)
        model = "erlang_c"
    else:
        figures = erlang.erlang_a(rate=rate, aht=spec.aht, agents=servers,
                                  patience=spec.patience, threshold=spec.threshold)
        model = "erlang_a"
    return {"model": model, **asdict(figures)}


# --- command line ---------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``plateaux simulate``: run a scenario file, or the one-queue case from options."""
    parser = argparse.ArgumentParser(
        prog="plateaux simulate",
        description="Simulate a contact center driven by the real routing engine and compare "
                    "it with Erlang C (or Erlang A with --patience).")
    parser.add_argument("--scenario", type=Path, help="a scenario file (.json or .toml)")
    parser.add_argument("--agents", type=int, default=14)
    parser.add_argument("--rate-per-30min", type=float, default=100.0,
                        help="contacts arriving per 30 minutes")
    parser.add_argument("--aht", type=float, default=180.0, help="average handle time, s")
    parser.add_argument("--threshold", type=float, default=20.0,
                        help="service-level threshold, s")
    parser.add_argument("--patience", type=float, help="mean patience, s (abandonment)")
    parser.add_argument("--hours", type=float, help="simulated hours measured (default 200)")
    parser.add_argument("--warmup-hours", type=float, help="hours simulated before (default 1)")
    parser.add_argument("--accept-delay", type=float, help="seconds to accept an offer")
    parser.add_argument("--seed", type=int, help="random seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        scenario = _scenario(args)
    except (OSError, ScenarioError, json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        parser.error(str(error))
    result = simulate(scenario)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_report(result))
    return 0


def _scenario(args: argparse.Namespace) -> Scenario:
    if args.scenario is not None:
        text = args.scenario.read_text(encoding="utf-8")
        data = tomllib.loads(text) if args.scenario.suffix == ".toml" else json.loads(text)
        scenario = load_scenario(data)
    else:
        if args.agents <= 0 or args.rate_per_30min <= 0 or args.aht <= 0:
            raise ScenarioError("agents, rate and handle time must be positive")
        scenario = single_queue(agents=args.agents, arrivals_per_hour=args.rate_per_30min * 2,
                                aht=args.aht, threshold=args.threshold,
                                patience=args.patience)
    overrides = {name: value for name, value in [
        ("hours", args.hours), ("warmup_hours", args.warmup_hours),
        ("accept_delay", args.accept_delay), ("seed", args.seed)] if value is not None}
    return replace(scenario, **overrides)


def format_report(result: dict[str, Any]) -> str:
    lines = [f"{result['agents']} agents, {result['hours']:g} h measured after "
             f"{result['warmup_hours']:g} h warm-up, seed {result['seed']}, "
             f"agent occupancy {result['occupancy']:.3f}",
             f"{'queue':<12} {'offered':>8} {'answered':>9} {'abandoned':>9} "
             f"{'SL':>7} {'within':>6} {'ASA s':>7} {'aband.':>7} {'occup.':>7}"]
    for queue_id, q in result["queues"].items():
        lines.append(f"{queue_id:<12} {q['offered']:>8} {q['answered']:>9} {q['abandoned']:>9} "
                     f"{q['service_level']:>7.4f} {q['threshold']:>5g}s {q['asa']:>7.2f} "
                     f"{q['abandonment_rate']:>7.4f} {q['occupancy']:>7.3f}")
    t = result.get("theory")
    if t:
        name = "Erlang C" if t["model"] == "erlang_c" else "Erlang A"
        lines.append(f"{name:<12} {'':>8} {'':>9} {'':>9} {t['service_level']:>7.4f} "
                     f"{'':>6} {t['asa']:>7.2f} {t['p_abandon']:>7.4f} {t['occupancy']:>7.3f}")
    return "\n".join(lines) + "\n"
