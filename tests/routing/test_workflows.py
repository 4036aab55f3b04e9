"""Workflows: filters, steps by the contact's age, bullseye relaxation, skip_if_no_agents,
priority changes, business hours, estimated wait and overflow."""

from __future__ import annotations

import math

import pytest

from plateaux.routing.core import (
    AgentState,
    ContactState,
    Filter,
    Membership,
    Overflow,
    OverflowAction,
    OverflowReason,
    Presence,
    Queue,
    QueueStats,
    Snapshot,
    SnapshotContext,
    Step,
    Workflow,
    evaluate_workflow,
)
from plateaux.routing.engine import Engine
from plateaux.routing.expressions import ExpressionError

BULLSEYE = (
    Step("sales", required_skills={"sales": 5}, timeout=30, priority=10),
    Step("sales", required_skills={"sales": 3}, timeout=90, skip_if_no_agents=True),
    Step("sales", required_skills={"sales": 1}, timeout=300),
)
WORKFLOW = Workflow(
    id="inbound",
    filters=(Filter("vip", "customer.tier in ['gold', 'platinum'] and not blocked", BULLSEYE),
             Filter("billing", "topic == 'billing'", (Step("billing", timeout=120),))),
    default_steps=(Step("general"),),
    overflow=Overflow(OverflowAction.OFFER_CALLBACK))
WORKFLOWS = {"inbound": WORKFLOW}


def contact(attrs: dict[str, object], *, at: float = 0.0, priority: int = 1) -> ContactState:
    return ContactState(id="c", channel="phone", created_at=at, attributes=attrs,
                        priority=priority, workflow_id="inbound")


GOLD = {"customer": {"tier": "gold"}}


def test_first_matching_filter_then_default() -> None:
    WORKFLOW.validate()
    assert evaluate_workflow(contact(GOLD), WORKFLOWS, 0).filter_name == "vip"
    billing = evaluate_workflow(contact({"topic": "billing"}), WORKFLOWS, 0)
    assert (billing.filter_name, billing.queue_id) == ("billing", "billing")
    other = evaluate_workflow(contact({"customer": {"tier": "gold"}, "blocked": True}),
                              WORKFLOWS, 0)
    assert (other.filter_name, other.queue_id, other.next_change) == ("default", "general", None)


def test_steps_follow_the_contacts_age_and_relax() -> None:
    created = 1000.0
    placements = [evaluate_workflow(contact(GOLD, at=created), WORKFLOWS, created + age)
                  for age in (0, 29.9, 30, 89, 90, 299)]
    assert [p.step_index for p in placements] == [0, 0, 1, 1, 2, 2]
    assert [dict(p.required_skills) for p in placements[::2]] == [
        {"sales": 5}, {"sales": 3}, {"sales": 1}]
    # The next change is the absolute time the current step times out.
    assert [p.next_change for p in placements[::2]] == [created + 30, created + 90,
                                                        created + 300]


def test_step_priority_applies_only_during_its_step() -> None:
    first = evaluate_workflow(contact(GOLD, priority=1), WORKFLOWS, 0)
    assert first.priority == 10
    second = evaluate_workflow(contact(GOLD, priority=1), WORKFLOWS, 40)
    assert second.priority == 1
    # A contact already raised by a step falls back to its own priority, not the raised one.
    raised = ContactState(id="c", channel="phone", created_at=0, attributes=GOLD, priority=10,
                          base_priority=1, workflow_id="inbound")
    assert evaluate_workflow(raised, WORKFLOWS, 40).priority == 1


def test_overflow_when_every_step_is_exhausted() -> None:
    done = evaluate_workflow(contact(GOLD), WORKFLOWS, 300)
    assert done.queue_id is None
    assert (done.overflow, done.reason) == (OverflowAction.OFFER_CALLBACK,
                                            OverflowReason.EXHAUSTED)


@pytest.mark.parametrize(("overflow", "queue", "skills"), [
    (Overflow(OverflowAction.STAY_QUEUED), "sales", {"sales": 1}),  # last, loosest ring
    (Overflow(OverflowAction.TRANSFER_QUEUE, queue_id="backup"), "backup", {}),
    (Overflow(OverflowAction.TAKE_MESSAGE), None, {}),
])
def test_each_overflow_action(overflow: Overflow, queue: str | None,
                              skills: dict[str, int]) -> None:
    workflow = Workflow(id="inbound", filters=WORKFLOW.filters,
                        default_steps=WORKFLOW.default_steps, overflow=overflow)
    placement = evaluate_workflow(contact(GOLD), {"inbound": workflow}, 301)
    assert (placement.queue_id, dict(placement.required_skills)) == (queue, skills)
    assert placement.overflow == overflow.action and placement.next_change is None


def snapshot_with(*agents: AgentState, open_queues: bool = True) -> Snapshot:
    return Snapshot(queues=[Queue(q, open=open_queues)
                            for q in ("sales", "general", "billing", "backup")],
                    agents=list(agents))


def test_skip_if_no_agents_skips_a_ring_nobody_on_duty_can_serve() -> None:
    mid = AgentState("mid", skills={"sales": 3}, queues={"sales": Membership()},
                     presence=Presence.AWAY)
    context = SnapshotContext(snapshot_with(mid))
    # Nobody on duty with sales >= 3: the second ring is skipped for the third.
    assert evaluate_workflow(contact(GOLD), WORKFLOWS, 40, context).step_index == 2
    context.snapshot.put_agent(AgentState("mid", skills={"sales": 3},
                                          queues={"sales": Membership()}))
    assert evaluate_workflow(contact(GOLD), WORKFLOWS, 40, context).step_index == 1
    # The first ring has no skip_if_no_agents: it is kept though nobody has sales 5.
    assert evaluate_workflow(contact(GOLD), WORKFLOWS, 0, context).step_index == 0


def test_closed_queue_or_long_wait_overflows_on_entry_only() -> None:
    closed = SnapshotContext(snapshot_with(open_queues=False))
    entering = evaluate_workflow(contact({}), WORKFLOWS, 0, closed)
    assert (entering.queue_id, entering.reason) == (None, OverflowReason.CLOSED)
    # A contact already waiting is not thrown out when the queue closes.
    placed = ContactState(id="c", channel="phone", created_at=0, queue_id="general",
                          filter_name="default", step_index=0, workflow_id="inbound")
    assert evaluate_workflow(placed, WORKFLOWS, 10, closed).queue_id == "general"

    limited = Workflow(id="inbound", default_steps=(Step("general"),), max_estimated_wait=120,
                       overflow=Overflow(OverflowAction.TAKE_MESSAGE))
    agent = AgentState("a", queues={"general": Membership()})
    slow = SnapshotContext(snapshot_with(agent), {"general": QueueStats(
        completed=10, window=900, average_agents=1, agents_now=1)})  # one answer per 90 s
    # Position 1: 90 s expected, under the limit. Position 2 would be 180 s, over it.
    assert evaluate_workflow(contact({}), {"inbound": limited}, 0, slow).queue_id == "general"
    slow.snapshot.put_contact(ContactState(id="ahead", channel="phone", created_at=-5,
                                           priority=1, queue_id="general"))
    over = evaluate_workflow(contact({}), {"inbound": limited}, 0, slow)
    assert (over.overflow, over.reason) == (OverflowAction.TAKE_MESSAGE,
                                            OverflowReason.WAIT_TOO_LONG)
    nobody = SnapshotContext(snapshot_with(), {"general": QueueStats(0, 900, 0, 0)})
    assert nobody.estimated_wait("general", contact({})) == math.inf
    assert evaluate_workflow(contact({}), {"inbound": limited}, 0, nobody).queue_id is None


def test_validation_refuses_broken_workflows_when_saved() -> None:
    with pytest.raises(ExpressionError):
        Workflow(id="w", filters=(Filter("bad", "tier ==", ()),),
                 default_steps=(Step("q"),)).validate()
    with pytest.raises(ExpressionError):
        Workflow(id="w", default_steps=(Step("q", agent_expression="skills.fr >"),)).validate()
    with pytest.raises(ValueError, match="timeouts must increase"):
        Workflow(id="w", default_steps=(Step("q", timeout=60), Step("q", timeout=30))).validate()
    with pytest.raises(ValueError, match="default step"):
        Workflow(id="w").validate()
    with pytest.raises(ValueError, match="needs that queue"):
        Workflow(id="w", default_steps=(Step("q"),),
                 overflow=Overflow(OverflowAction.TRANSFER_QUEUE)).validate()


def test_engine_relaxes_rings_on_time_and_keeps_the_age() -> None:
    expert = AgentState("expert", skills={"sales": 5}, queues={"sales": Membership()},
                        presence=Presence.AWAY)
    mid = AgentState("mid", skills={"sales": 3}, queues={"sales": Membership()})
    engine = Engine(snapshot_with(expert, mid), WORKFLOWS)
    outcome = engine.arrive(contact(GOLD, at=0), now=0)
    assert outcome.offers == []  # nobody with sales 5 is available
    assert engine.next_timer() == 30
    relaxed = engine.advance(30)
    assert [(o.contact_id, o.agent_ids) for o in relaxed.offers] == [("c", ("mid",))]
    # Declined: back in the queue with its original age, so the third ring is due at 90.
    engine.decline("c", "mid", now=35)
    assert engine.snapshot.contacts["c"].created_at == 0
    assert engine.next_timer() == 90
    exhausted = engine.advance(300)
    assert [c for c, _ in exhausted.overflowed] == ["c"]
    assert "c" not in engine.snapshot.contacts
