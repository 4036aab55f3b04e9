"""Properties over random states and random event sequences, checked by brute force
(``routing.audit``): no agent over capacity or against the cross-channel policy, no
contact offered twice, no priority inversion, and, between events, no contact left waiting
that an agent with room could take."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plateaux.routing.audit import capacity_problems, offer_problems, stranded
from plateaux.routing.capacity import within_capacity
from plateaux.routing.core import (
    CHATS_BESIDE_CALLS,
    STRICT,
    AgentState,
    ContactState,
    ContactStatus,
    Membership,
    Offer,
    Ordering,
    Overflow,
    OverflowAction,
    Presence,
    Queue,
    Snapshot,
    Step,
    Strategy,
    Threshold,
    Workflow,
    decide,
)
from plateaux.routing.engine import Engine

QUEUES = ["q1", "q2", "q3"]
CHANNELS = ["phone", "chat", "email"]
SITES = ["paris", "lyon"]


@st.composite
def agents(draw: st.DrawFn, index: int) -> AgentState:
    capacity = {"phone": draw(st.integers(0, 1)), "chat": draw(st.integers(0, 3)),
                "email": draw(st.integers(0, 2))}
    policy = draw(st.sampled_from([STRICT, CHATS_BESIDE_CALLS]))
    load = {c: n for c in CHANNELS if (n := draw(st.integers(0, capacity[c])))}
    subject = AgentState(
        id=f"a{index}", capacity=capacity, load=load, policy=policy,
        presence=draw(st.sampled_from([Presence.AVAILABLE] * 3 + [Presence.AWAY,
                                                                  Presence.OFFLINE])),
        skills={"s": draw(st.integers(0, 5))}, site=draw(st.sampled_from(SITES)),
        idle_since=draw(st.floats(0, 100)),
        queues=draw(st.dictionaries(
            st.sampled_from(QUEUES),
            st.builds(Membership, priority=st.integers(1, 2),
                      delay=st.sampled_from([0.0, 0.0, 30.0])), min_size=1)))
    return subject if within_capacity(subject) else AgentState(
        id=subject.id, capacity=capacity, policy=policy, presence=subject.presence,
        skills=subject.skills, site=subject.site, idle_since=subject.idle_since,
        queues=subject.queues)


@st.composite
def queues(draw: st.DrawFn) -> list[Queue]:
    result = []
    for queue_id in QUEUES:
        thresholds = draw(st.sampled_from([
            (), (), (Threshold(site="paris", max_busy=1),),
            (Threshold(skill="s", min_level=4, max_busy=2),),
            (Threshold(site="lyon", min_busy=1),)]))
        result.append(Queue(queue_id, ordering=draw(st.sampled_from(list(Ordering))),
                            strategy=draw(st.sampled_from(list(Strategy))),
                            offer_to=draw(st.integers(1, 2)), thresholds=thresholds,
                            accept_timeout=draw(st.sampled_from([None, 10.0]))))
    return result


@st.composite
def contacts(draw: st.DrawFn, index: int, at: float, agent_ids: list[str]) -> ContactState:
    target = draw(st.sampled_from([None] * 8 + agent_ids[:2]))
    sticky = draw(st.sampled_from([None] * 6 + agent_ids[:3]))
    return ContactState(
        id=f"c{index}", channel=draw(st.sampled_from(CHANNELS)), created_at=at,
        queue_id=draw(st.sampled_from(QUEUES)), priority=draw(st.integers(0, 3)),
        required_skills=draw(st.sampled_from([{}, {"s": 2}, {"s": 4}])),
        target_agent=target, sticky_agent=sticky,
        sticky_until=at + draw(st.sampled_from([0.0, 20.0])) if sticky else 0.0,
        rejected_by=frozenset(draw(st.lists(st.sampled_from(agent_ids), max_size=2))))


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    roster = [draw(agents(i)) for i in range(draw(st.integers(1, 8)))]
    ids = [a.id for a in roster]
    waiting = [draw(contacts(i, draw(st.floats(0, 100)), ids))
               for i in range(draw(st.integers(0, 25)))]
    return Snapshot(queues=draw(queues()), agents=roster, contacts=waiting)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_batch_decisions_never_exceed_capacity_duplicate_or_invert(snapshot: Snapshot) -> None:
    now = 200.0
    problems: list[str] = []
    offers = decide(snapshot, now,
                    check=lambda snap, offer: problems.extend(offer_problems(snap, offer, now)))
    assert problems == []
    assert capacity_problems(snapshot) == []
    offered = [o.contact_id for o in offers]
    assert len(offered) == len(set(offered))
    # Nothing left that could have been served.
    assert stranded(snapshot, now) == []


WORKFLOW = Workflow(
    id="bullseye",
    default_steps=(Step("q1", required_skills={"s": 4}, timeout=30),
                   Step("q1", required_skills={"s": 2}, timeout=60, skip_if_no_agents=True),
                   Step("q2", timeout=120, priority=3)),
    overflow=Overflow(OverflowAction.STAY_QUEUED))

EVENTS = ["arrive", "arrive", "arrive", "accept", "accept", "decline", "complete",
          "complete", "abandon", "presence", "presence"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_event_sequences_keep_every_invariant(data: st.DataObject) -> None:
    roster = [data.draw(agents(i)) for i in range(data.draw(st.integers(1, 6)))]
    ids = [a.id for a in roster]
    problems: list[str] = []

    def audit(snapshot: Snapshot, offer: Offer, at: float) -> None:
        problems.extend(offer_problems(snapshot, offer, at))

    engine = Engine(Snapshot(queues=data.draw(queues()), agents=roster),
                    {"bullseye": WORKFLOW}, audit=audit)
    snapshot = engine.snapshot
    now = 0.0
    for number in range(data.draw(st.integers(1, 50))):
        until = now + data.draw(st.sampled_from([0.0, 1.0, 5.0, 20.0, 45.0]))
        while (timer := engine.next_timer()) is not None and timer <= until:
            engine.advance(timer)
        now = until
        event = data.draw(st.sampled_from(EVENTS))
        offered = sorted(c.id for c in snapshot.contacts.values()
                         if c.status == ContactStatus.OFFERED)
        assigned = sorted(c.id for c in snapshot.contacts.values()
                          if c.status == ContactStatus.ASSIGNED)
        if event == "arrive":
            contact = data.draw(contacts(number, now, ids))
            if data.draw(st.booleans()):
                contact.queue_id, contact.workflow_id = None, "bullseye"
            engine.arrive(contact, now)
        elif event in ("accept", "decline") and offered:
            contact_id = data.draw(st.sampled_from(offered))
            agent_id = data.draw(st.sampled_from(snapshot.contacts[contact_id].offered_to))
            if event == "accept":
                engine.accept(contact_id, agent_id, now)
            else:
                engine.decline(contact_id, agent_id, now, timed_out=data.draw(st.booleans()))
        elif event == "complete" and assigned:
            engine.complete(data.draw(st.sampled_from(assigned)), now)
        elif event == "abandon" and (offered or any(
                c.status == ContactStatus.QUEUED for c in snapshot.contacts.values())):
            candidates = sorted(c.id for c in snapshot.contacts.values()
                                if c.status in (ContactStatus.QUEUED, ContactStatus.OFFERED))
            engine.abandon(data.draw(st.sampled_from(candidates)), now)
        elif event == "presence":
            engine.set_presence(data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(
                [Presence.AVAILABLE, Presence.AVAILABLE, Presence.AWAY, Presence.OFFLINE,
                 Presence.BUSY])), now)
        assert problems == []
        assert capacity_problems(snapshot) == []
        assert stranded(snapshot, now) == []
