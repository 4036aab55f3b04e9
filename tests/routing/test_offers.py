"""Offers and the life of a contact: accept, reject, timeout, multi-offer, wrap-up, the end."""

from __future__ import annotations

from typing import Any

import pytest

from plateaux.routing.core import (
    AgentState,
    ContactState,
    ContactStatus,
    Membership,
    Presence,
    Queue,
    Snapshot,
    TransitionError,
    next_wakeup,
)
from plateaux.routing.engine import Engine
from plateaux.routing.lifecycle import MISSED_OFFER


def engine(queue: Queue, agents: int = 2) -> Engine:
    roster = [AgentState(f"a{i}", idle_since=float(i), queues={queue.id: Membership()})
              for i in range(agents)]
    return Engine(Snapshot(queues=[queue], agents=roster))


def call(contact_id: str, at: float = 0.0, **fields: Any) -> ContactState:
    return ContactState(id=contact_id, channel="phone", created_at=at, queue_id="q", **fields)


def test_offer_reserves_capacity_until_answered() -> None:
    routing = engine(Queue("q", accept_timeout=20))
    offer = routing.arrive(call("c", 0), 1).offers[0]
    assert (offer.agent_ids, offer.expires_at) == (("a0",), 21)
    contact = routing.snapshot.contacts["c"]
    assert contact.status == ContactStatus.OFFERED
    assert routing.snapshot.agents["a0"].load == {"phone": 1}
    routing.accept("c", "a0", 3)
    assert (contact.status, contact.agent_id) == (ContactStatus.ASSIGNED, "a0")
    routing.wrap_up("c")
    assert contact.status == ContactStatus.WRAP_UP
    assert routing.snapshot.agents["a0"].load == {"phone": 1}  # wrap-up still holds it
    routing.complete("c", 200)
    assert "c" not in routing.snapshot.contacts
    assert routing.snapshot.agents["a0"].load == {}
    assert routing.snapshot.agents["a0"].idle_since == 200


def test_reject_requeues_at_original_age_and_skips_the_agent() -> None:
    routing = engine(Queue("q", away_on_reject=False), agents=2)
    routing.snapshot.change_agent("a1", presence=Presence.AWAY)
    assert routing.arrive(call("old", 5), 10).offers[0].agent_ids == ("a0",)
    outcome = routing.decline("old", "a0", 12)
    assert outcome.offers == []  # nobody else available; a0 declined it
    contact = routing.snapshot.contacts["old"]
    assert (contact.status, contact.created_at, contact.rejected_by) == (
        ContactStatus.QUEUED, 5, frozenset({"a0"}))
    assert routing.snapshot.agents["a0"].presence == Presence.AVAILABLE
    # A newer contact arrives: a0 may take it; the older one waits for someone else.
    assert routing.arrive(call("new", 13), 13).offers[0].agent_ids == ("a0",)
    returned = routing.set_presence("a1", Presence.AVAILABLE, 14)
    assert [(o.contact_id, o.agent_ids) for o in returned.offers] == [("old", ("a1",))]


def test_timeout_requeues_and_sets_the_agent_away() -> None:
    routing = engine(Queue("q", accept_timeout=15, away_on_timeout=True), agents=2)
    routing.snapshot.change_agent("a1", presence=Presence.AWAY)
    routing.arrive(call("c", 0), 0)
    assert routing.next_timer() == 15
    outcome = routing.advance(15)
    agent = routing.snapshot.agents["a0"]
    assert (agent.presence, agent.away_reason, agent.load) == (Presence.AWAY, MISSED_OFFER, {})
    assert outcome.offers == []
    assert routing.snapshot.contacts["c"].status == ContactStatus.QUEUED
    assert routing.set_presence("a1", Presence.AVAILABLE, 16).offers[0].contact_id == "c"


def test_multi_offer_first_accept_wins() -> None:
    routing = engine(Queue("q", offer_to=3), agents=4)
    offer = routing.arrive(call("c"), 1).offers[0]
    assert offer.agent_ids == ("a0", "a1", "a2")
    assert all(routing.snapshot.agents[a].load == {"phone": 1} for a in offer.agent_ids)
    routing.arrive(call("d", 2), 2)  # only a3 left
    outcome = routing.accept("c", "a1", 3)
    assert routing.snapshot.contacts["c"].agent_id == "a1"
    assert routing.snapshot.agents["a0"].load == {} and routing.snapshot.agents["a2"].load == {}
    assert outcome.offers == []  # a0 and a2 are free again, nothing is waiting
    with pytest.raises(TransitionError):
        routing.accept("c", "a2", 4)


def test_multi_offer_declined_by_some_stays_offered_to_the_rest() -> None:
    routing = engine(Queue("q", offer_to=2, away_on_reject=False), agents=2)
    routing.arrive(call("c"), 1)
    routing.decline("c", "a0", 2)
    contact = routing.snapshot.contacts["c"]
    assert (contact.status, contact.offered_to) == (ContactStatus.OFFERED, ("a1",))
    routing.accept("c", "a1", 3)
    assert contact.status == ContactStatus.ASSIGNED


def test_abandon_while_waiting_or_ringing() -> None:
    routing = engine(Queue("q"), agents=1)
    routing.arrive(call("ringing"), 0)
    routing.arrive(call("waiting", 1), 1)
    outcome = routing.abandon("ringing", 2)
    # The agent is free again and takes the contact that was waiting.
    assert [(o.contact_id, o.agent_ids) for o in outcome.offers] == [("waiting", ("a0",))]
    routing.accept("waiting", "a0", 3)
    with pytest.raises(TransitionError):
        routing.abandon("waiting", 4)


def test_transitions_refuse_what_does_not_fit() -> None:
    routing = engine(Queue("q"), agents=1)
    routing.arrive(call("c"), 0)
    with pytest.raises(TransitionError):
        routing.complete("c", 1)  # offered, not answered
    with pytest.raises(TransitionError):
        routing.decline("c", "someone-else", 1)
    with pytest.raises(TransitionError):
        routing.arrive(call("c"), 2)  # already routed


def test_next_wakeup_covers_every_timed_change() -> None:
    snapshot = Snapshot(queues=[Queue("q")], agents=[
        AgentState("backup", queues={"q": Membership(priority=2, delay=45)}),
        AgentState("later", queues={"q": Membership(priority=3, delay=120)})])
    base = call("c", 100, next_change=160.0, sticky_agent="x", sticky_until=130.0)
    snapshot.put_contact(base)
    assert next_wakeup(snapshot, base, 100) == 130  # sticky reservation ends
    assert next_wakeup(snapshot, base, 131) == 145  # the backup's delay is waited out
    assert next_wakeup(snapshot, base, 146) == 160  # the workflow step times out
    assert next_wakeup(snapshot, base, 161) == 220  # the last delay
    assert next_wakeup(snapshot, base, 221) is None


def test_a_contact_held_back_is_offered_to_nobody_before_its_time() -> None:
    """A callback that failed to reach the customer waits out the pause before its next
    attempt: back in the queue at its age, but not offered until then, even to a free
    agent or one who frees up meanwhile; then offered on the timer."""
    routing = engine(Queue("q", accept_timeout=None), agents=2)
    routing.snapshot.change_agent("a1", presence=Presence.AWAY)
    assert routing.arrive(call("cb", 0), 1).offers[0].agent_ids == ("a0",)
    routing.accept("cb", "a0", 2)
    requeued = routing.requeue("cb", 10, not_before=70)
    assert requeued.offers == []
    contact = routing.snapshot.contacts["cb"]
    assert (contact.status, contact.created_at, contact.not_before) == (
        ContactStatus.QUEUED, 0, 70)
    assert routing.set_presence("a1", Presence.AVAILABLE, 20).offers == []
    assert next_wakeup(routing.snapshot, contact, 20) == 70
    assert routing.advance(69).offers == []
    offered = routing.advance(70).offers
    assert [(o.contact_id, o.agent_ids) for o in offered] == [("cb", ("a0",))]
