"""The decision core: eligibility, capacity, ordering, strategies, workflows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from plateaux.routing.core import (
    Agent,
    Contact,
    Membership,
    Ordering,
    Presence,
    Queue,
    SiteLimit,
    Snapshot,
    Strategy,
    apply_offer,
    decide,
    decide_for_agent,
    decide_for_contact,
    release,
    set_presence,
)
from plateaux.routing.workflows import (
    Filter,
    Overflow,
    OverflowAction,
    Overflowed,
    Placement,
    Step,
    Workflow,
    place,
)


def snapshot(agents: list[Agent], queues: list[Queue], waiting: list[Contact]) -> Snapshot:
    snap = Snapshot(agents={a.id: a for a in agents}, queues={q.id: q for q in queues},
                    waiting={c.id: c for c in waiting})
    snap.index_members()
    return snap


def agent(agent_id: str, *, idle: float = 0.0, **kwargs: object) -> Agent:
    return Agent(id=agent_id, idle_since=idle, queues={"q": Membership()}, **kwargs)  # type: ignore[arg-type]


def contact(contact_id: str, *, at: float = 0.0, channel: str = "chat",
            **kwargs: object) -> Contact:
    return Contact(id=contact_id, channel=channel, queue_id="q", created_at=at, **kwargs)  # type: ignore[arg-type]


def test_longest_idle_agent_gets_the_contact() -> None:
    snap = snapshot([agent("a", idle=50), agent("b", idle=10), agent("c", idle=30)],
                    [Queue("q")], [])
    offer = decide_for_contact(snap, contact("c1"), now=100)
    assert offer is not None and offer.agent_ids == ("b",)


def test_highest_skill_strategy_and_required_levels() -> None:
    agents = [agent("a", skills={"fr": 3}), agent("b", skills={"fr": 5}),
              agent("c", skills={"fr": 1})]
    snap = snapshot(agents, [Queue("q", strategy=Strategy.HIGHEST_SKILL)], [])
    offer = decide_for_contact(snap, contact("c1", required_skills={"fr": 2}), now=1)
    assert offer is not None and offer.agent_ids == ("b",)
    none = decide_for_contact(snap, contact("c2", required_skills={"de": 1}), now=1)
    assert none is None


def test_sticky_direct_and_excluded_agents() -> None:
    snap = snapshot([agent("a", idle=0), agent("b", idle=100)], [Queue("q")], [])
    sticky = contact("c1", preferred_agent="b", preferred_until=50)
    assert decide_for_contact(snap, sticky, now=10).agent_ids == ("b",)  # type: ignore[union-attr]
    expired = contact("c2", preferred_agent="b", preferred_until=5)
    assert decide_for_contact(snap, expired, now=10).agent_ids == ("a",)  # type: ignore[union-attr]
    direct = contact("c3", target_agent="b")
    assert decide_for_contact(snap, direct, now=10).agent_ids == ("b",)  # type: ignore[union-attr]
    rejected = contact("c4", excluded={"a"})
    assert decide_for_contact(snap, rejected, now=10).agent_ids == ("b",)  # type: ignore[union-attr]


def test_agent_expression_and_membership_delay() -> None:
    backup = Agent(id="backup", queues={"q": Membership(priority=2, delay=30)})
    senior = Agent(id="senior", attributes={"tier": "senior"}, queues={"q": Membership()})
    senior.presence = Presence.AWAY
    snap = snapshot([backup, senior], [Queue("q")], [])
    young = contact("c1", at=0)
    assert decide_for_contact(snap, young, now=10) is None  # backup only after 30 s
    assert decide_for_contact(snap, young, now=31).agent_ids == ("backup",)  # type: ignore[union-attr]
    set_presence(snap, senior, Presence.AVAILABLE, now=0)
    only_seniors = contact("c2", agent_expression="tier == 'senior'")
    assert decide_for_contact(snap, only_seniors, now=0).agent_ids == ("senior",)  # type: ignore[union-attr]


def test_a_call_blocks_everything_unless_the_policy_allows_chats() -> None:
    busy = agent("a")
    busy.load = {"voice": 1}
    assert not busy.can_take("chat")
    chatting = agent("b")
    chatting.load = {"chat": 1}
    assert chatting.can_take("chat") and not chatting.can_take("voice")
    relaxed = agent("c", concurrent_with_calls=True)
    relaxed.load = {"voice": 1}
    assert relaxed.can_take("chat") and not relaxed.can_take("voice")


def test_site_limits_and_multi_offer() -> None:
    paris = [agent(f"p{i}", site="paris", idle=i) for i in range(3)]
    lyon = [agent("l0", site="lyon", idle=10)]
    queue = Queue("q", site_limits=(SiteLimit("paris", 1),), offer_to=1)
    snap = snapshot(paris + lyon, [queue], [contact("c1"), contact("c2", at=1)])
    offers = decide(snap, now=5)
    sites = sorted(snap.agents[o.agent_ids[0]].site or "" for o in offers)
    assert sites == ["lyon", "paris"]  # the second Paris agent stays free for other work
    wide = snapshot([agent("x", idle=1), agent("y", idle=2), agent("z", idle=3)],
                    [Queue("q", offer_to=2)], [])
    offer = decide_for_contact(wide, contact("c3"), now=5)
    assert offer is not None and offer.agent_ids == ("x", "y")


def test_agent_free_takes_the_most_deserving_contact() -> None:
    free = Agent(id="a", queues={"low": Membership(priority=2), "high": Membership(priority=1)})
    queues = [Queue("low"), Queue("high"), Queue("newest", ordering=Ordering.LIFO)]
    waiting = [
        Contact(id="old-low", channel="chat", queue_id="low", created_at=0),
        Contact(id="young-high", channel="chat", queue_id="high", created_at=50),
        Contact(id="urgent-high", channel="chat", queue_id="high", created_at=60, priority=5),
    ]
    snap = snapshot([free], queues, waiting)
    offer = decide_for_agent(snap, free, now=100)
    assert offer is not None and offer.contact_id == "urgent-high"


@st.composite
def random_snapshots(draw: st.DrawFn) -> Snapshot:
    agents = []
    for i in range(draw(st.integers(1, 8))):
        a = Agent(id=f"a{i}", capacity={"chat": draw(st.integers(0, 3)),
                                         "voice": draw(st.integers(0, 1)),
                                         "email": draw(st.integers(0, 2))},
                  skills={"s": draw(st.integers(0, 5))}, idle_since=draw(st.floats(0, 100)),
                  queues={q: Membership(priority=draw(st.integers(1, 2)))
                          for q in draw(st.sets(st.sampled_from(["q1", "q2"]), min_size=1))},
                  concurrent_with_calls=draw(st.booleans()))
        agents.append(a)
    waiting = [Contact(id=f"c{i}", channel=draw(st.sampled_from(["chat", "voice", "email"])),
                       queue_id=draw(st.sampled_from(["q1", "q2"])),
                       created_at=draw(st.floats(0, 100)), priority=draw(st.integers(0, 3)),
                       required_skills={"s": draw(st.integers(0, 5))})
               for i in range(draw(st.integers(0, 25)))]
    return snapshot(agents, [Queue("q1"), Queue("q2", ordering=Ordering.LIFO)], waiting)


@settings(max_examples=300, deadline=None)
@given(random_snapshots())
def test_never_over_capacity_never_twice_never_inverted(snap: Snapshot) -> None:
    before = dict(snap.waiting)
    offers = decide(snap, now=200)
    offered = [o.contact_id for o in offers]
    assert len(offered) == len(set(offered))
    for a in snap.agents.values():
        for channel, used in a.load.items():
            assert used <= a.capacity.get(channel, 0)
        if not a.concurrent_with_calls and a.load.get("voice", 0):
            assert a.total_load() == 1
    # No contact left waiting outranks one given to an agent who could have taken it.
    for o in offers:
        given_contact = before[o.contact_id]
        for left in snap.waiting.values():
            if left.queue_id == given_contact.queue_id and left.channel == given_contact.channel \
                    and left.required_skills == given_contact.required_skills:
                assert left.priority <= given_contact.priority


def test_release_returns_capacity_and_idle_time() -> None:
    a = agent("a")
    snap = snapshot([a], [Queue("q")], [contact("c1")])
    offer = decide_for_contact(snap, snap.waiting["c1"], now=1)
    assert offer is not None
    apply_offer(snap, offer)
    assert a.load == {"chat": 1} and a.presence == Presence.BUSY
    release(snap, "a", "chat", "q", now=42)
    assert a.load == {"chat": 0} and a.presence == Presence.AVAILABLE and a.idle_since == 42


def test_workflow_steps_relax_with_age_and_overflow() -> None:
    vip_steps = (
        Step("vip", required_skills={"sales": 5}, timeout=30, priority=10),
        Step("vip", required_skills={"sales": 3}, timeout=90, skip_if_no_agents=True),
        Step("general", timeout=300),
    )
    workflow = Workflow(filters=(Filter("vip", "tier == 'gold'", vip_steps),),
                        default_steps=(Step("general"),),
                        overflow=Overflow(OverflowAction.OFFER_CALLBACK))
    workflow.validate()
    gold = {"tier": "gold"}
    first = place(workflow, gold, 10, lambda s: True)
    assert isinstance(first, Placement) and first.index == 0 and first.step.priority == 10
    second = place(workflow, gold, 45, lambda s: True)
    assert isinstance(second, Placement) and second.index == 1
    skipped = place(workflow, gold, 45, lambda s: s.queue_id != "vip")
    assert isinstance(skipped, Placement) and skipped.step.queue_id == "general"
    assert isinstance(place(workflow, gold, 400, lambda s: True), Overflowed)
    other = place(workflow, {"tier": "silver"}, 9999, lambda s: True)
    assert isinstance(other, Placement) and other.filter_name == "default"
