"""Simulation scenarios: arrival streams, agent groups, and how they map onto the core.

A scenario is a plain mapping (read from JSON or TOML)::

    {
      "hours": 200, "warmup_hours": 1, "seed": 1, "accept_delay": 0,
      "queues": [
        {"id": "sales", "channel": "phone", "arrivals_per_hour": 200, "aht": 180,
         "threshold": 20, "patience": 120, "priority": 0,
         "ordering": "fifo", "strategy": "longest_idle", "offer_to": 1,
         "steps": [{"skills": {"sales": 4}, "timeout": 20},
                   {"skills": {"sales": 2}, "timeout": 60},
                   {}]}
      ],
      "agents": [
        {"count": 14, "queues": {"sales": 1, "support": {"priority": 2, "delay": 30}},
         "skills": {"sales": 3}, "capacity": {"phone": 1, "chat": 3}, "site": "lyon",
         "chats_beside_calls": false}
      ]
    }

Each queue entry is one arrival stream (Poisson, exponential handle times, optional
exponential patience) and one queue; its ``steps`` become the stream's workflow (bullseye
rings on the same queue unless a step names another ``queue``), and without steps its
contacts wait in their queue with ``required_skills``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plateaux.routing.state import (
    CHATS_BESIDE_CALLS,
    DEFAULT_CAPACITY,
    STRICT,
    AgentState,
    Channel,
    Membership,
    Ordering,
    Queue,
    Strategy,
)
from plateaux.routing.workflows import Step, Workflow


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class StepSpec:
    skills: Mapping[str, int] = field(default_factory=dict)
    timeout: float | None = None
    priority: int | None = None
    queue: str | None = None  # another queue than the stream's own


@dataclass(frozen=True)
class QueueSpec:
    id: str
    arrivals_per_hour: float
    aht: float
    channel: str = Channel.PHONE
    threshold: float = 20.0
    patience: float | None = None
    priority: int = 0
    ordering: Ordering = Ordering.FIFO
    strategy: Strategy = Strategy.LONGEST_IDLE
    offer_to: int = 1
    required_skills: Mapping[str, int] = field(default_factory=dict)
    steps: tuple[StepSpec, ...] = ()


@dataclass(frozen=True)
class AgentGroup:
    count: int
    queues: Mapping[str, Membership]
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] | None = None  # default: 1 of each voice channel, 3 chats...
    site: str | None = None
    chats_beside_calls: bool = False


@dataclass(frozen=True)
class Scenario:
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentGroup, ...]
    hours: float = 200.0
    warmup_hours: float = 1.0
    seed: int = 1
    accept_delay: float = 0.0  # seconds between an offer and its acceptance


def single_queue(*, agents: int, arrivals_per_hour: float, aht: float, threshold: float,
                 patience: float | None = None, hours: float = 200.0, seed: int = 1,
                 warmup_hours: float = 1.0, accept_delay: float = 0.0) -> Scenario:
    """The textbook case: one queue, one group of interchangeable agents."""
    return Scenario(
        queues=(QueueSpec(id="main", arrivals_per_hour=arrivals_per_hour, aht=aht,
                          threshold=threshold, patience=patience),),
        agents=(AgentGroup(count=agents, queues={"main": Membership()},
                           capacity={Channel.PHONE: 1}),),
        hours=hours, seed=seed, warmup_hours=warmup_hours, accept_delay=accept_delay)


def load_scenario(data: Mapping[str, Any]) -> Scenario:
    try:
        queues = tuple(_queue_spec(q) for q in data["queues"])
        agents = tuple(_agent_group(a) for a in data["agents"])
        scenario = Scenario(
            queues=queues, agents=agents, hours=float(data.get("hours", 200.0)),
            warmup_hours=float(data.get("warmup_hours", 1.0)), seed=int(data.get("seed", 1)),
            accept_delay=float(data.get("accept_delay", 0.0)))
    except (KeyError, TypeError, ValueError) as error:
        raise ScenarioError(f"invalid scenario: {error}") from error
    _check(scenario)
    return scenario


def _queue_spec(raw: Mapping[str, Any]) -> QueueSpec:
    steps = tuple(StepSpec(skills=dict(s.get("skills", {})), timeout=s.get("timeout"),
                           priority=s.get("priority"), queue=s.get("queue"))
                  for s in raw.get("steps", ()))
    patience = raw.get("patience")
    return QueueSpec(
        id=str(raw["id"]), arrivals_per_hour=float(raw["arrivals_per_hour"]),
        aht=float(raw["aht"]), channel=str(raw.get("channel", Channel.PHONE)),
        threshold=float(raw.get("threshold", 20.0)),
        patience=None if patience is None else float(patience),
        priority=int(raw.get("priority", 0)), ordering=Ordering(raw.get("ordering", "fifo")),
        strategy=Strategy(raw.get("strategy", "longest_idle")),
        offer_to=int(raw.get("offer_to", 1)),
        required_skills=dict(raw.get("required_skills", {})), steps=steps)


def _agent_group(raw: Mapping[str, Any]) -> AgentGroup:
    memberships: dict[str, Membership] = {}
    for queue_id, entry in dict(raw["queues"]).items():
        if isinstance(entry, Mapping):
            memberships[queue_id] = Membership(priority=int(entry.get("priority", 1)),
                                               delay=float(entry.get("delay", 0.0)))
        else:
            memberships[queue_id] = Membership(priority=int(entry))
    capacity = raw.get("capacity")
    return AgentGroup(count=int(raw["count"]), queues=memberships,
                      skills=dict(raw.get("skills", {})),
                      capacity=None if capacity is None else dict(capacity),
                      site=raw.get("site"),
                      chats_beside_calls=bool(raw.get("chats_beside_calls", False)))


def _check(scenario: Scenario) -> None:
    ids = {q.id for q in scenario.queues}
    if len(ids) != len(scenario.queues):
        raise ScenarioError("queue ids must be unique")
    for spec in scenario.queues:
        if spec.arrivals_per_hour <= 0 or spec.aht <= 0:
            raise ScenarioError(f"queue {spec.id}: arrivals and handle time must be positive")
        for step in spec.steps:
            if step.queue is not None and step.queue not in ids:
                raise ScenarioError(f"queue {spec.id}: a step sends to unknown {step.queue}")
    for group in scenario.agents:
        unknown = set(group.queues) - ids
        if unknown:
            raise ScenarioError(f"agents serve unknown queues: {sorted(unknown)}")
    if scenario.hours <= 0 or scenario.warmup_hours < 0:
        raise ScenarioError("hours must be positive and the warm-up not negative")


# --- onto the core ---------------------------------------------------------------------------

def build_queues(scenario: Scenario) -> list[Queue]:
    return [Queue(id=s.id, ordering=s.ordering, strategy=s.strategy,
                  sla_threshold=s.threshold, offer_to=s.offer_to,
                  accept_timeout=None) for s in scenario.queues]


def build_agents(scenario: Scenario) -> list[AgentState]:
    agents: list[AgentState] = []
    for g, group in enumerate(scenario.agents):
        for i in range(group.count):
            agents.append(AgentState(
                id=f"g{g}-a{i}", skills=dict(group.skills), site=group.site,
                queues=dict(group.queues),
                capacity=dict(DEFAULT_CAPACITY if group.capacity is None else group.capacity),
                policy=CHATS_BESIDE_CALLS if group.chats_beside_calls else STRICT))
    return agents


def build_workflows(scenario: Scenario) -> dict[str, Workflow]:
    """One workflow per stream, named after it."""
    workflows: dict[str, Workflow] = {}
    for spec in scenario.queues:
        if spec.steps:
            steps = tuple(Step(queue_id=s.queue or spec.id, required_skills=dict(s.skills),
                               timeout=s.timeout, priority=s.priority) for s in spec.steps)
        else:
            steps = (Step(queue_id=spec.id, required_skills=dict(spec.required_skills)),)
        workflow = Workflow(id=spec.id, default_steps=steps)
        workflow.validate()
        workflows[spec.id] = workflow
    return workflows
