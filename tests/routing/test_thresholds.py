"""Per-site and per-skill thresholds: maximum and minimum busy agents and traffic shares."""

from __future__ import annotations

from plateaux.routing.core import (
    AgentState,
    ContactState,
    Membership,
    Presence,
    Queue,
    Snapshot,
    Threshold,
    add_contact,
    decide,
)
from plateaux.routing.engine import Engine


def floor(queue: Queue, *agents: tuple[str, str | None, dict[str, int]]) -> Engine:
    roster = [AgentState(agent_id, site=site, skills=skills, idle_since=i,
                         queues={queue.id: Membership()})
              for i, (agent_id, site, skills) in enumerate(agents)]
    return Engine(Snapshot(queues=[queue], agents=roster))


def call(contact_id: str, at: float = 0.0) -> ContactState:
    return ContactState(id=contact_id, channel="phone", created_at=at, queue_id="q")


def answered(engine: Engine, contact_id: str, now: float) -> str | None:
    """Arrive, and accept the offer if there is one; the agent who got it."""
    outcome = engine.arrive(call(contact_id, now), now)
    if not outcome.offers:
        return None
    agent_id = outcome.offers[0].agent_ids[0]
    engine.accept(contact_id, agent_id, now)
    return agent_id


def test_max_busy_agents_per_site() -> None:
    queue = Queue("q", thresholds=(Threshold(site="paris", max_busy=1),))
    engine = floor(queue, ("p1", "paris", {}), ("p2", "paris", {}), ("l1", "lyon", {}))
    assert answered(engine, "c1", 1) == "p1"
    assert answered(engine, "c2", 2) == "l1"  # p2 is free but Paris is at its maximum
    assert answered(engine, "c3", 3) is None
    assert engine.snapshot.busy("q") == [1]
    # When the Paris call ends, the limit lifts and the waiting contact goes to Paris.
    outcome = engine.complete("c1", 10)
    assert [(o.contact_id, o.agent_ids[0][0]) for o in outcome.offers] == [("c3", "p")]


def test_lifted_limit_reaches_other_agents_of_the_group() -> None:
    # The agent who frees is not eligible for the waiting contact; another of their site
    # is. The transition names the queue, and the batch decision finds that agent.
    queue = Queue("q", thresholds=(Threshold(site="paris", max_busy=1),))
    engine = floor(queue, ("p1", "paris", {}), ("p2", "paris", {"fr": 2}))
    assert answered(engine, "c1", 1) == "p1"
    outcome = engine.arrive(ContactState(id="fr", channel="phone", created_at=2, queue_id="q",
                                         required_skills={"fr": 1}), 2)
    assert outcome.offers == []
    follow = engine.complete("c1", 5)
    assert [(o.contact_id, o.agent_ids) for o in follow.offers] == [("fr", ("p2",))]


def test_max_busy_agents_per_skill() -> None:
    queue = Queue("q", thresholds=(Threshold(skill="expert", min_level=4, max_busy=1),))
    engine = floor(queue, ("e1", None, {"expert": 5}), ("e2", None, {"expert": 4}),
                   ("n1", None, {"expert": 2}))
    assert [answered(engine, f"c{i}", i) for i in range(3)] == ["e1", "n1", None]


def test_an_agent_already_busy_with_the_queue_does_not_count_twice() -> None:
    queue = Queue("q", thresholds=(Threshold(site="paris", max_busy=1),))
    engine = floor(queue, ("p1", "paris", {}), ("p2", "paris", {}))
    first = engine.arrive(ContactState(id="c1", channel="chat", created_at=0, queue_id="q"), 0)
    second = engine.arrive(ContactState(id="c2", channel="chat", created_at=1, queue_id="q"), 1)
    # p1 chats with both: one busy Paris agent, within the maximum.
    assert [o.agent_ids for o in first.offers + second.offers] == [("p1",), ("p1",)]


def test_max_share_of_traffic() -> None:
    queue = Queue("q", thresholds=(Threshold(site="paris", max_share=0.5),))
    engine = floor(queue, ("p1", "paris", {}), ("p2", "paris", {}), ("l1", "lyon", {}),
                   ("l2", "lyon", {}))
    sites = []
    for i in range(4):
        agent_id = answered(engine, f"c{i}", float(i))
        assert agent_id is not None
        sites.append(agent_id[0])
        engine.complete(f"c{i}", float(i) + 0.5)
    # The first goes to the longest idle (Paris); after that Paris takes a contact only
    # while its share is below one half: 1/1 and 1/2 are not, 1/3 is.
    assert sites == ["p", "l", "l", "p"]
    traffic = engine.snapshot.traffic("q")
    assert (traffic.total, traffic.by_threshold) == (4, (2,))
    engine.snapshot.reset_traffic("q")
    assert engine.snapshot.traffic("q").total == 0


def test_minimum_busy_agents_are_preferred_not_forced() -> None:
    queue = Queue("q", thresholds=(Threshold(site="lyon", min_busy=1),))
    engine = floor(queue, ("p1", "paris", {}), ("p2", "paris", {}), ("l1", "lyon", {}))
    # Lyon is below its minimum: its agent goes first though Paris agents waited longer.
    assert answered(engine, "c1", 1) == "l1"
    assert answered(engine, "c2", 2) == "p1"


def test_minimum_share_is_preferred() -> None:
    queue = Queue("q", thresholds=(Threshold(site="home", min_share=0.5),))
    engine = floor(queue, ("office1", "office", {}), ("office2", "office", {}),
                   ("home1", "home", {}))
    picks = []
    for i in range(4):
        agent_id = answered(engine, f"c{i}", float(i))
        assert agent_id is not None
        picks.append(agent_id)
        engine.complete(f"c{i}", float(i) + 0.5)
    assert picks == ["home1", "office1", "home1", "office2"]


def test_batch_decisions_respect_the_maximum() -> None:
    queue = Queue("q", thresholds=(Threshold(site="paris", max_busy=2),))
    snapshot = Snapshot(queues=[queue], agents=[
        AgentState(f"p{i}", site="paris", queues={"q": Membership()},
                   presence=Presence.AWAY) for i in range(5)])
    for i in range(5):
        add_contact(snapshot, call(f"c{i}", float(i)))
    for agent_id in list(snapshot.agents):
        snapshot.change_agent(agent_id, presence=Presence.AVAILABLE)
    offers = decide(snapshot, now=10)
    assert [o.contact_id for o in offers] == ["c0", "c1"]
