"""Position in queue and estimated wait from the observed service rate."""

from __future__ import annotations

import pytest

from plateaux.routing.core import (
    ContactState,
    Ordering,
    Queue,
    QueueStats,
    ServiceWindow,
    Snapshot,
    estimate_wait,
    position_in_queue,
)


def test_position_follows_priority_then_age_across_channels() -> None:
    snapshot = Snapshot(queues=[Queue("q"), Queue("newest", ordering=Ordering.LIFO)])
    for contact_id, at, priority, channel in [("old", 1.0, 0, "chat"), ("new", 9.0, 0, "email"),
                                              ("vip", 10.0, 5, "chat"), ("mid", 5.0, 0, "chat")]:
        snapshot.put_contact(ContactState(id=contact_id, channel=channel, created_at=at,
                                          priority=priority, queue_id="q"))
    order = sorted(snapshot.contacts, key=lambda c: position_in_queue(
        snapshot, snapshot.contacts[c]))
    assert order == ["vip", "old", "mid", "new"]
    assert [position_in_queue(snapshot, snapshot.contacts[c]) for c in order] == [1, 2, 3, 4]
    # Where a newcomer would stand, here or in another queue.
    newcomer = ContactState(id="z", channel="chat", created_at=20.0)
    assert position_in_queue(snapshot, newcomer, "q") == 5
    assert position_in_queue(snapshot, newcomer, "newest") == 1


def test_estimate_from_the_observed_rate_scaled_to_staffing_now() -> None:
    # 60 completions in 15 minutes with 4 agents on average: 1 per 15 s per 4 agents.
    stats = QueueStats(completed=60, window=900, average_agents=4, agents_now=4)
    assert estimate_wait(stats, 1) == pytest.approx(15)
    assert estimate_wait(stats, 4) == pytest.approx(60)
    # Half the agents left: half the pace.
    halved = QueueStats(completed=60, window=900, average_agents=4, agents_now=2)
    assert estimate_wait(halved, 4) == pytest.approx(120)
    # Nothing completed yet: the configured handle time stands in; nobody serving: unknown.
    assert estimate_wait(QueueStats(0, 0, 0, agents_now=5, handle_time=300), 3) == 180
    assert estimate_wait(QueueStats(0, 0, 0, agents_now=5), 3) is None
    assert estimate_wait(QueueStats(60, 900, 4, agents_now=0), 1) is None


def test_service_window_slides_and_averages_staffing() -> None:
    window = ServiceWindow(window=600)
    window.record_agents(0, 2)
    for t in range(0, 1200, 20):  # one completion every 20 s
        window.record_completion(float(t))
    window.record_agents(900, 4)  # two more agents for the last 300 s
    stats = window.stats(1200.0, handle_time=180)
    assert stats.completed == 30 and stats.window == 600
    assert stats.average_agents == pytest.approx(3.0)
    assert stats.agents_now == 4
    # 30 per 600 s with 3 agents on average, 4 now: 1/15 per second.
    assert estimate_wait(stats, 2) == pytest.approx(30)
    young = ServiceWindow(window=600)
    young.record_agents(100, 3)
    young.record_completion(130)
    assert young.stats(160).window == 60  # only what was observed
