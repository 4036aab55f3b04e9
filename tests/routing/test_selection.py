"""Who gets a contact: capacity and the cross-channel policy, eligibility, and each
selection strategy (longest idle, highest skill, sticky, direct), membership priority and
delay, multi-offer."""

from __future__ import annotations

from typing import Any

import pytest

from plateaux.routing.capacity import has_room, within_capacity
from plateaux.routing.core import (
    CHATS_BESIDE_CALLS,
    AgentState,
    ContactState,
    Membership,
    Offer,
    Ordering,
    Presence,
    Queue,
    Snapshot,
    Strategy,
    add_contact,
    apply_offer,
    decide,
    decide_for_agent,
    decide_for_contact,
    set_presence,
)


def agent(agent_id: str, *, idle: float = 0.0, queues: dict[str, Membership] | None = None,
          **fields: Any) -> AgentState:
    return AgentState(id=agent_id, idle_since=idle,
                      queues=queues if queues is not None else {"q": Membership()}, **fields)


def waiting(contact_id: str, *, at: float = 0.0, channel: str = "chat", queue: str = "q",
            **fields: Any) -> ContactState:
    return ContactState(id=contact_id, channel=channel, created_at=at, queue_id=queue, **fields)


def offer_for(snapshot: Snapshot, contact: ContactState, now: float) -> Offer | None:
    if contact.id not in snapshot.contacts:
        add_contact(snapshot, contact)
    return decide_for_contact(snapshot, contact, now)


def chosen(snapshot: Snapshot, contact: ContactState, now: float = 100.0) -> tuple[str, ...]:
    offer = offer_for(snapshot, contact, now)
    return offer.agent_ids if offer is not None else ()


# --- capacity and the cross-channel policy ---------------------------------------------------

@pytest.mark.parametrize(("load", "policy_allows_chats", "channel", "room"), [
    ({}, False, "phone", True),
    ({"chat": 2}, False, "chat", True),
    ({"chat": 3}, False, "chat", False),  # 3 chats is the capacity
    ({"chat": 1}, False, "phone", False),  # a call needs an agent with nothing else
    ({"chat": 1}, True, "phone", True),  # ... unless chats may continue beside it
    ({"email": 1}, True, "phone", False),  # emails may not
    ({"phone": 1}, False, "chat", False),  # a call blocks everything
    ({"phone": 1}, True, "chat", True),
    ({"phone": 1}, True, "email", False),
    ({"phone": 1}, True, "webcall", False),  # never two calls
    ({"webcall": 1}, False, "callback", False),
    ({"email": 4}, False, "email", True),
    ({"email": 5}, False, "email", False),
    ({}, False, "sms", False),  # no capacity for a channel means none
])
def test_capacity_and_cross_channel_policy(load: dict[str, int], policy_allows_chats: bool,
                                            channel: str, room: bool) -> None:
    subject = agent("a", load=load, **({"policy": CHATS_BESIDE_CALLS}
                                        if policy_allows_chats else {}))
    assert has_room(subject, channel) is room
    assert within_capacity(subject)


def test_within_capacity_flags_every_breach() -> None:
    assert not within_capacity(agent("a", load={"chat": 4}))
    assert not within_capacity(agent("a", load={"phone": 1, "chat": 1}))
    assert within_capacity(agent("a", load={"phone": 1, "chat": 1}, policy=CHATS_BESIDE_CALLS))
    assert not within_capacity(agent("a", load={"phone": 1, "webcall": 1},
                                     policy=CHATS_BESIDE_CALLS))


def test_only_available_agents_with_room_are_offered() -> None:
    snapshot = Snapshot(queues=[Queue("q")], agents=[
        agent("away", idle=0, presence=Presence.AWAY),
        agent("wrapping", idle=1, presence=Presence.WRAP_UP),
        agent("offline", idle=2, presence=Presence.OFFLINE),
        agent("busy", idle=3, presence=Presence.BUSY),
        agent("full", idle=4, load={"chat": 3}),
        agent("free", idle=5)])
    assert chosen(snapshot, waiting("c")) == ("free",)


# --- strategies ---------------------------------------------------------------------------

def test_longest_idle_agent_first_and_least_loaded_before_that() -> None:
    snapshot = Snapshot(queues=[Queue("q")], agents=[
        agent("a", idle=50), agent("b", idle=10), agent("c", idle=30),
        agent("chatting", idle=0, load={"chat": 1})])
    assert chosen(snapshot, waiting("c1")) == ("b",)
    # An agent already chatting comes after every idle one, whatever their idle time.
    for other in ("a", "b", "c"):
        set_presence(snapshot, other, Presence.AWAY, now=60)
    assert chosen(snapshot, waiting("c2")) == ("chatting",)


def test_highest_skill_level_then_longest_idle() -> None:
    snapshot = Snapshot(queues=[Queue("q", strategy=Strategy.HIGHEST_SKILL)], agents=[
        agent("a", idle=1, skills={"fr": 3, "billing": 1}),
        agent("b", idle=9, skills={"fr": 5, "billing": 1}),
        agent("c", idle=2, skills={"fr": 5, "billing": 1}),
        agent("d", idle=0, skills={"fr": 1})])
    assert chosen(snapshot, waiting("c1", required_skills={"fr": 2})) == ("c",)
    assert chosen(snapshot, waiting("c2", required_skills={"de": 1})) == ()
    # Several required skills: the sum of the levels decides.
    assert chosen(snapshot, waiting("c3", required_skills={"fr": 1, "billing": 1})) == ("c",)


def test_required_levels_and_agent_expressions() -> None:
    snapshot = Snapshot(queues=[Queue("q")], agents=[
        agent("junior", idle=0, skills={"fr": 2}, attributes={"tier": "junior"}),
        agent("senior", idle=5, skills={"fr": 4}, attributes={"tier": "senior",
                                                              "languages": ["fr", "de"]})])
    assert chosen(snapshot, waiting("c1", required_skills={"fr": 3})) == ("senior",)
    assert chosen(snapshot, waiting("c2", agent_expression="tier == 'senior'")) == ("senior",)
    # Agent expressions see the contact under `contact`.
    german = waiting("c3", attributes={"language": "de"},
                     agent_expression="languages contains contact.language")
    assert chosen(snapshot, german) == ("senior",)
    assert chosen(snapshot, waiting("c4", agent_expression="skills.fr >= 5")) == ()


def test_sticky_agent_is_waited_for_until_the_deadline_then_only_preferred() -> None:
    snapshot = Snapshot(queues=[Queue("q")], agents=[agent("a", idle=0), agent("b", idle=100)])
    # Free: the sticky agent is chosen even though "a" has waited longer.
    assert chosen(snapshot, waiting("c1", sticky_agent="b", sticky_until=50), now=10) == ("b",)
    # Busy (away) before the deadline: nobody else gets the contact...
    set_presence(snapshot, "b", Presence.AWAY, now=10)
    reserved = waiting("c2", sticky_agent="b", sticky_until=50)
    assert chosen(snapshot, reserved, now=20) == ()
    assert decide_for_agent(snapshot, snapshot.agents["a"], now=20) is None
    # ... after the deadline, anyone.
    assert chosen(snapshot, reserved, now=51) == ("a",)
    # A sticky agent who logged off is not waited for.
    set_presence(snapshot, "b", Presence.OFFLINE, now=60)
    assert chosen(snapshot, waiting("c3", sticky_agent="b", sticky_until=500), now=61) == ("a",)


def test_direct_routing_to_a_named_agent() -> None:
    outsider = agent("named", idle=100, queues={})  # not a member of the queue
    snapshot = Snapshot(queues=[Queue("q")], agents=[agent("a", idle=0), outsider])
    first = offer_for(snapshot, waiting("c1", target_agent="named"), 0)
    assert first is not None and first.agent_ids == ("named",)
    apply_offer(snapshot, first, 0)
    set_presence(snapshot, "named", Presence.AWAY, now=1)
    direct = waiting("c2", target_agent="named")
    assert chosen(snapshot, direct) == ()  # waits for them, nobody else
    set_presence(snapshot, "named", Presence.AVAILABLE, now=2)
    offer = decide_for_agent(snapshot, snapshot.agents["named"], now=3)
    assert offer is not None and offer.contact_id == "c2"


def test_agents_who_declined_are_skipped() -> None:
    snapshot = Snapshot(queues=[Queue("q")], agents=[agent("a", idle=0), agent("b", idle=9)])
    assert chosen(snapshot, waiting("c1", rejected_by=frozenset({"a"}))) == ("b",)


def test_multi_offer_reserves_several_agents() -> None:
    snapshot = Snapshot(queues=[Queue("q", offer_to=2)],
                        agents=[agent("x", idle=1), agent("y", idle=2), agent("z", idle=3)])
    offer = offer_for(snapshot, waiting("c1"), 5)
    assert offer is not None and offer.agent_ids == ("x", "y")
    apply_offer(snapshot, offer, 5)
    assert snapshot.agents["x"].load == {"chat": 1} and snapshot.agents["y"].load == {"chat": 1}


# --- the agent's side: membership priority and delay -------------------------------------------

def test_membership_delay_keeps_backup_agents_for_older_contacts() -> None:
    backup = agent("backup", queues={"q": Membership(priority=2, delay=30)})
    snapshot = Snapshot(queues=[Queue("q")], agents=[backup])
    young = waiting("c1", at=0)
    assert chosen(snapshot, young, now=10) == ()
    assert chosen(snapshot, young, now=30) == ("backup",)
    assert decide_for_agent(snapshot, snapshot.agents["backup"], now=29) is None


def test_agent_takes_their_best_queue_then_priority_then_age() -> None:
    free = agent("a", queues={"primary": Membership(priority=1),
                              "secondary": Membership(priority=2),
                              "also": Membership(priority=1)})
    snapshot = Snapshot(queues=[Queue("primary"), Queue("secondary"), Queue("also")],
                        agents=[free])
    # Set the agent away so nothing is decided while the contacts arrive.
    set_presence(snapshot, "a", Presence.AWAY, now=0)
    for contact in [waiting("urgent-secondary", queue="secondary", at=0, priority=9),
                    waiting("old-primary", queue="primary", at=1),
                    waiting("new-also", queue="also", at=5, priority=2),
                    waiting("old-also", queue="also", at=2, priority=2)]:
        add_contact(snapshot, contact)
    set_presence(snapshot, "a", Presence.AVAILABLE, now=10)
    served = []
    while (offer := decide_for_agent(snapshot, snapshot.agents["a"], now=10)) is not None:
        served.append(offer.contact_id)
        apply_offer(snapshot, offer, 10)
    # Membership priority 1 first (priority 2 before 0, then oldest), then the secondary queue.
    assert served == ["old-also", "new-also", "old-primary"]  # 3 chats: capacity reached
    assert snapshot.agents["a"].load == {"chat": 3}


def test_lifo_queue_serves_the_newest_first() -> None:
    snapshot = Snapshot(queues=[Queue("q", ordering=Ordering.LIFO)],
                        agents=[agent("a", presence=Presence.AWAY)])
    for i, at in enumerate([1.0, 5.0, 3.0]):
        add_contact(snapshot, waiting(f"c{i}", at=at, channel="email"))
    set_presence(snapshot, "a", Presence.AVAILABLE, now=10)
    offer = decide_for_agent(snapshot, snapshot.agents["a"], now=10)
    assert offer is not None and offer.contact_id == "c1"


def test_lifo_holds_across_channels_and_required_levels() -> None:
    # The newest contact the agent can take wins, whichever channel it came by and whatever
    # level its step asks for (the snapshot keeps those apart to spare the walk).
    snapshot = Snapshot(queues=[Queue("q", ordering=Ordering.LIFO)],
                        agents=[agent("a", presence=Presence.AWAY, skills={"fr": 3})])
    add_contact(snapshot, waiting("old-chat", at=1.0))
    add_contact(snapshot, waiting("new-email", at=6.0, channel="email",
                                  required_skills={"fr": 2}))
    add_contact(snapshot, waiting("newer-expert", at=7.0, required_skills={"fr": 4}))
    add_contact(snapshot, waiting("mid-chat", at=4.0, required_skills={"fr": 0}))
    set_presence(snapshot, "a", Presence.AVAILABLE, now=10)
    offer = decide_for_agent(snapshot, snapshot.agents["a"], now=10)
    assert offer is not None and offer.contact_id == "new-email"


def test_a_free_agent_passes_over_contacts_asking_a_level_they_lack() -> None:
    snapshot = Snapshot(queues=[Queue("q")],
                        agents=[agent("a", presence=Presence.AWAY, skills={"de": 2})])
    for i in range(5):
        add_contact(snapshot, waiting(f"expert-{i}", at=float(i), required_skills={"de": 4}))
    add_contact(snapshot, waiting("plain", at=9.0, required_skills={"de": 1}))
    set_presence(snapshot, "a", Presence.AVAILABLE, now=10)
    offer = decide_for_agent(snapshot, snapshot.agents["a"], now=10)
    assert offer is not None and offer.contact_id == "plain"
    apply_offer(snapshot, offer, 10)
    assert decide_for_agent(snapshot, snapshot.agents["a"], now=10) is None
    # Its workflow relaxes the oldest one's step: the agent can take it now.
    snapshot.change_contact("expert-0", required_skills={"de": 2})
    offer = decide_for_agent(snapshot, snapshot.agents["a"], now=11)
    assert offer is not None and offer.contact_id == "expert-0"
    # Nothing is left behind in the groups once the contacts are gone.
    for contact_id in [c for c in snapshot.contacts]:
        snapshot.remove_contact(contact_id)
    assert list(snapshot.waiting_by_need("q", "chat")) == []
    assert snapshot.waiting_count("q") == 0


def test_batch_respects_contact_order_and_agent_tiers() -> None:
    # One agent, two queues: the batch must give them their priority-1 queue's contact even
    # though the other queue's contact has the higher contact priority.
    snapshot = Snapshot(queues=[Queue("mine"), Queue("backup")], agents=[
        agent("a", presence=Presence.AWAY, queues={"mine": Membership(priority=1),
                                                   "backup": Membership(priority=2)}),
        agent("b", presence=Presence.AWAY, queues={"backup": Membership()})])
    add_contact(snapshot, waiting("vip", queue="backup", priority=5, channel="phone"))
    add_contact(snapshot, waiting("plain", queue="mine", channel="phone"))
    for agent_id in ("a", "b"):
        set_presence(snapshot, agent_id, Presence.AVAILABLE, now=1)
    offers = {o.contact_id: o.agent_ids for o in decide(snapshot, now=2)}
    assert offers == {"plain": ("a",), "vip": ("b",)}
