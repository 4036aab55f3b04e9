"""Declined offers, positions and wait estimates."""

from __future__ import annotations

import pytest

from plateaux.routing.core import (
    Agent,
    Contact,
    Membership,
    Presence,
    Queue,
    Snapshot,
    apply_offer,
    decide_for_contact,
    decline_offer,
    position_in_queue,
)
from plateaux.routing.estimates import AnswerRate, estimate_wait


def make() -> Snapshot:
    agents = {a: Agent(id=a, idle_since=i, queues={"q": Membership()})
              for i, a in enumerate(["first", "second"])}
    snap = Snapshot(agents=agents, queues={"q": Queue("q")}, waiting={})
    snap.index_members()
    return snap


def test_a_declined_offer_keeps_its_age_and_skips_that_agent() -> None:
    snap = make()
    contact = Contact(id="c", channel="voice", queue_id="q", created_at=5.0)
    snap.waiting["c"] = contact
    offer = decide_for_contact(snap, contact, now=10)
    assert offer is not None and offer.agent_ids == ("first",)
    apply_offer(snap, offer)
    decline_offer(snap, offer, contact, "first", now=25, set_away=True)
    assert snap.waiting["c"].created_at == 5.0
    assert snap.agents["first"].presence == Presence.AWAY
    again = decide_for_contact(snap, contact, now=26)
    assert again is not None and again.agent_ids == ("second",)


def test_position_follows_priority_then_age() -> None:
    snap = make()
    for cid, at, prio in [("old", 1.0, 0), ("new", 9.0, 0), ("vip", 10.0, 5)]:
        snap.waiting[cid] = Contact(id=cid, channel="chat", queue_id="q", created_at=at,
                                    priority=prio)
    assert [position_in_queue(snap, snap.waiting[c]) for c in ("vip", "old", "new")] == [1, 2, 3]


def test_wait_estimate_uses_the_observed_answer_rate() -> None:
    rate = AnswerRate(window=600)
    for t in range(0, 600, 20):  # one answer every 20 s
        rate.record(float(t))
    measured = estimate_wait(position=3, rate=rate, now=600, serving_agents=5, aht=300)
    assert measured.measured and measured.seconds == pytest.approx(60, rel=0.05)
    empty = estimate_wait(position=3, rate=AnswerRate(), now=0, serving_agents=5, aht=300)
    assert not empty.measured and empty.seconds == 180
    nobody = estimate_wait(position=1, rate=AnswerRate(), now=0, serving_agents=0, aht=300)
    assert nobody.seconds is None
