"""Applying decisions and events to a snapshot: offers, answers, completions, presence.

Each change returns a ``FollowUp`` naming what may have become decidable because of it.
Calling the decision functions for exactly those (and at each contact's ``next_wakeup``)
keeps the invariant the incremental decisions rely on: *between events, no waiting contact
is eligible for an agent with room*. That invariant is what makes a single
``decide_for_contact`` on arrival, or ``decide_for_agent`` when an agent frees, as good as a
full re-evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from plateaux.routing.capacity import routable
from plateaux.routing.eligibility import ThresholdState, threshold_state
from plateaux.routing.snapshot import Snapshot
from plateaux.routing.state import (
    AgentState,
    ContactState,
    ContactStatus,
    Offer,
    Presence,
)
from plateaux.routing.workflows import Placement

MISSED_OFFER = "missed_offer"
DECLINED_OFFER = "declined_offer"


class TransitionError(ValueError):
    """The event does not fit the contact's or agent's current state."""


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What to decide next: ``decide_for_contact`` for each contact, ``decide_for_agent``
    for each agent (until it returns nothing), ``decide(queues=...)`` for each queue whose
    threshold limits were just lifted."""

    contacts: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()

    def __add__(self, other: FollowUp) -> FollowUp:
        return FollowUp(self.contacts + other.contacts, self.agents + other.agents,
                        self.queues + other.queues)


NOTHING = FollowUp()


# --- contacts entering and moving ---------------------------------------------------------

def add_contact(snapshot: Snapshot, contact: ContactState) -> FollowUp:
    """A new queued contact, already placed (queue or target agent set)."""
    if contact.id in snapshot.contacts:
        raise TransitionError(f"contact {contact.id} is already routed")
    snapshot.put_contact(contact)
    return FollowUp(contacts=(contact.id,))


def place_contact(snapshot: Snapshot, contact_id: str, placement: Placement) -> FollowUp:
    """Apply a workflow placement to a waiting contact (its queue, requirements and
    priority change; its age does not). Overflow to a callback or a message takes the
    contact out of the queues: the caller creates what replaces it."""
    contact = _contact(snapshot, contact_id)
    if placement.queue_id is None:
        return cancel_contact(snapshot, contact_id, None)
    placed = snapshot.change_contact(
        contact_id, queue_id=placement.queue_id, required_skills=placement.required_skills,
        agent_expression=placement.agent_expression, priority=placement.priority,
        base_priority=contact.own_priority, filter_name=placement.filter_name,
        step_index=placement.step_index, next_change=placement.next_change,
        target_agent=placement.target_agent or contact.target_agent)
    return FollowUp(contacts=(contact_id,)) if placed.status == ContactStatus.QUEUED \
        else NOTHING


# --- offers --------------------------------------------------------------------------------

def apply_offer(snapshot: Snapshot, offer: Offer, now: float) -> None:
    """Reserve the capacity of every agent offered the contact: a pending offer counts as
    load, so no later decision can offer beyond capacity."""
    contact = _contact(snapshot, offer.contact_id)
    if contact.status != ContactStatus.QUEUED:
        raise TransitionError(f"contact {contact.id} is {contact.status}, not queued")
    snapshot.change_contact(contact.id, status=ContactStatus.OFFERED, offered_to=offer.agent_ids,
                            offer_expires_at=offer.expires_at)
    for agent_id in offer.agent_ids:
        _take(snapshot, agent_id, offer.channel, now)


def accept_offer(snapshot: Snapshot, contact_id: str, agent_id: str, now: float) -> FollowUp:
    """The first agent to accept gets the contact; the others' reservations are released."""
    contact = _contact(snapshot, contact_id)
    if contact.status != ContactStatus.OFFERED or agent_id not in contact.offered_to:
        raise TransitionError(f"contact {contact_id} is not offered to {agent_id}")
    others = tuple(a for a in contact.offered_to if a != agent_id)
    queue = snapshot.queues.get(contact.queue_id or "")
    before = threshold_state(snapshot, queue) if queue is not None else None
    snapshot.change_contact(contact_id, status=ContactStatus.ASSIGNED, agent_id=agent_id,
                            offered_to=(), offer_expires_at=None)
    for other in others:
        _give_back(snapshot, other, contact.channel, now)
    reopened: tuple[str, ...] = ()
    if queue is not None and contact.target_agent is None:
        snapshot.record_accepted(queue.id, snapshot.agents[agent_id])
        reopened = _reopened(snapshot, queue.id, before)
    return FollowUp(agents=others, queues=reopened)


def decline_offer(snapshot: Snapshot, contact_id: str, agent_id: str, now: float, *,
                  timed_out: bool = False) -> FollowUp:
    """The agent rejected the offer, or let it time out.

    The contact keeps its creation time, so it goes back to its place by age, and is never
    offered to that agent again. Depending on the queue, the agent is set away (a desk
    that does not answer should not keep ringing).
    """
    contact = _contact(snapshot, contact_id)
    if contact.status != ContactStatus.OFFERED or agent_id not in contact.offered_to:
        raise TransitionError(f"contact {contact_id} is not offered to {agent_id}")
    remaining = tuple(a for a in contact.offered_to if a != agent_id)
    requeued = not remaining
    snapshot.change_contact(
        contact_id, rejected_by=contact.rejected_by | {agent_id}, offered_to=remaining,
        status=ContactStatus.QUEUED if requeued else ContactStatus.OFFERED,
        offer_expires_at=None if requeued else contact.offer_expires_at)
    _give_back(snapshot, agent_id, contact.channel, now)
    queue = snapshot.queues.get(contact.queue_id or "")
    if queue is not None and (queue.away_on_timeout if timed_out else queue.away_on_reject):
        set_presence(snapshot, agent_id, Presence.AWAY, now,
                     reason=MISSED_OFFER if timed_out else DECLINED_OFFER)
    agent = snapshot.agents[agent_id]
    return FollowUp(contacts=(contact_id,) if requeued else (),
                    agents=(agent_id,) if routable(agent) else ())


# --- the end of a contact --------------------------------------------------------------------

def start_wrap_up(snapshot: Snapshot, contact_id: str) -> None:
    """After-contact work: the contact keeps its unit of capacity until completed."""
    contact = _contact(snapshot, contact_id)
    if contact.status != ContactStatus.ASSIGNED:
        raise TransitionError(f"contact {contact_id} is {contact.status}, not assigned")
    snapshot.change_contact(contact_id, status=ContactStatus.WRAP_UP)


def complete_contact(snapshot: Snapshot, contact_id: str, now: float) -> FollowUp:
    contact = _contact(snapshot, contact_id)
    if contact.status not in (ContactStatus.ASSIGNED, ContactStatus.WRAP_UP):
        raise TransitionError(f"contact {contact_id} is {contact.status}, not being handled")
    return _finish(snapshot, contact, now)


def abandon_contact(snapshot: Snapshot, contact_id: str, now: float) -> FollowUp:
    """The customer left before being answered (waiting, or while the offer rang)."""
    contact = _contact(snapshot, contact_id)
    if contact.status not in (ContactStatus.QUEUED, ContactStatus.OFFERED):
        raise TransitionError(f"contact {contact_id} is {contact.status}, already answered")
    return _finish(snapshot, contact, now)


def cancel_contact(snapshot: Snapshot, contact_id: str, now: float | None) -> FollowUp:
    """The contact leaves routing for another reason (overflow to a callback or a
    message, the customer withdrew, an administrator closed it)."""
    return _finish(snapshot, _contact(snapshot, contact_id), now)


def _finish(snapshot: Snapshot, contact: ContactState, now: float | None) -> FollowUp:
    """Take a contact out of the snapshot (its final status is the caller's to record) and
    give back the capacity it held."""
    holders = contact.offered_to if contact.status == ContactStatus.OFFERED else (
        (contact.agent_id,) if contact.agent_id is not None
        and contact.status in (ContactStatus.ASSIGNED, ContactStatus.WRAP_UP) else ())
    queue = snapshot.queues.get(contact.queue_id or "")
    before = threshold_state(snapshot, queue) if queue is not None and holders else None
    snapshot.remove_contact(contact.id)
    for agent_id in holders:
        _give_back(snapshot, agent_id, contact.channel, now)
    reopened = _reopened(snapshot, queue.id, before) if queue is not None else ()
    free = tuple(a for a in holders if a in snapshot.agents and routable(snapshot.agents[a]))
    return FollowUp(agents=free, queues=reopened)


def requeue_contact(snapshot: Snapshot, contact_id: str, now: float, *,
                    placement: Placement | None = None,
                    target_agent: str | None = None,
                    not_before: float | None = None) -> FollowUp:
    """Put a contact being handled back in the queues, at its original age: a transfer
    (to another queue, skills or a named agent: ``placement`` / ``target_agent``), or its
    agent was lost. Its agent's capacity is given back; it stays the same contact.
    ``not_before``: offered to nobody before then (a callback's pause between attempts)."""
    contact = _contact(snapshot, contact_id)
    if contact.status not in (ContactStatus.ASSIGNED, ContactStatus.WRAP_UP):
        raise TransitionError(f"contact {contact_id} is {contact.status}, not being handled")
    agent_id = contact.agent_id
    queue = snapshot.queues.get(contact.queue_id or "")
    before = threshold_state(snapshot, queue) if queue is not None else None
    fields: dict[str, object] = {
        "status": ContactStatus.QUEUED, "agent_id": None, "offered_to": (),
        "offer_expires_at": None, "sticky_agent": None, "sticky_until": 0.0,
        "target_agent": target_agent, "not_before": not_before,
    }
    if placement is not None:
        # A transfer leaves the workflow: the new target is where it waits from now on.
        fields.update(queue_id=placement.queue_id, required_skills=placement.required_skills,
                      agent_expression=placement.agent_expression,
                      priority=placement.priority, workflow_id=None,
                      filter_name=placement.filter_name, step_index=None, next_change=None,
                      rejected_by=frozenset())
    elif target_agent is not None:
        fields.update(workflow_id=None, next_change=None, rejected_by=frozenset())
    snapshot.change_contact(contact_id, **fields)
    if agent_id is not None:
        _give_back(snapshot, agent_id, contact.channel, now)
    reopened = _reopened(snapshot, queue.id, before) if queue is not None else ()
    free = (agent_id,) if agent_id is not None and agent_id in snapshot.agents \
        and routable(snapshot.agents[agent_id]) else ()
    return FollowUp(contacts=(contact_id,), agents=free, queues=reopened)


# --- agents ----------------------------------------------------------------------------------

def set_presence(snapshot: Snapshot, agent_id: str, presence: Presence, now: float, *,
                 reason: str | None = None) -> FollowUp:
    """Change presence; becoming available starts the agent's idle time."""
    agent = snapshot.agents[agent_id]
    becomes_available = presence == Presence.AVAILABLE and agent.presence != Presence.AVAILABLE
    logs_off = presence == Presence.OFFLINE and agent.presence != Presence.OFFLINE
    idle_since = now if becomes_available else agent.idle_since
    snapshot.change_agent(agent_id, presence=presence, idle_since=idle_since,
                          away_reason=reason if presence == Presence.AWAY else None)
    released: tuple[str, ...] = ()
    if logs_off:
        # Contacts kept for this agent (sticky routing) are not waited for any longer.
        released = tuple(c.id for c in snapshot.contacts.values()
                         if c.status == ContactStatus.QUEUED and c.sticky_agent == agent_id
                         and c.sticky_until > now)
    return FollowUp(contacts=released,
                    agents=(agent_id,) if presence == Presence.AVAILABLE else ())


def update_agent(snapshot: Snapshot, agent: AgentState) -> FollowUp:
    """Skills, capacity, policy, site or memberships changed (load is the core's to keep:
    the stored load is kept whatever ``agent.load`` says)."""
    current = snapshot.agents.get(agent.id)
    before: dict[str, ThresholdState] = {}
    if current is not None:
        agent = replace(agent, load=current.load)
        # A move to another site or new skills can take the agent out of a threshold group
        # at its maximum, which lets the group's other agents take the queue's contacts.
        before = {queue_id: threshold_state(snapshot, snapshot.queues[queue_id])
                  for queue_id in snapshot.queues
                  if snapshot.queues[queue_id].thresholds and snapshot.held(agent.id, queue_id)}
    snapshot.put_agent(agent)
    reopened = tuple(q for queue_id, state in before.items()
                     for q in _reopened(snapshot, queue_id, state))
    return FollowUp(agents=(agent.id,) if routable(agent) else (), queues=reopened)


def _take(snapshot: Snapshot, agent_id: str, channel: str, now: float) -> None:
    agent = snapshot.agents[agent_id]
    load = dict(agent.load)
    load[channel] = load.get(channel, 0) + 1
    snapshot.change_agent(agent_id, load=load, idle_since=now)


def _give_back(snapshot: Snapshot, agent_id: str, channel: str, now: float | None) -> None:
    agent = snapshot.agents.get(agent_id)
    if agent is None:
        return
    load = dict(agent.load)
    left = load.get(channel, 0) - 1
    if left > 0:
        load[channel] = left
    else:
        load.pop(channel, None)
    snapshot.change_agent(agent_id, load=load,
                          idle_since=agent.idle_since if now is None else now)


def _reopened(snapshot: Snapshot, queue_id: str,
              before: ThresholdState | None) -> tuple[str, ...]:
    """The queue's threshold maximums that held agents back before the change and no
    longer do: its waiting contacts must be looked at again."""
    queue = snapshot.queues[queue_id]
    if before is None or not queue.thresholds:
        return ()
    after = threshold_state(snapshot, queue)
    was = set(before.full_busy) | set(before.full_share)
    now_full = set(after.full_busy) | set(after.full_share)
    return (queue_id,) if was - now_full else ()


def _contact(snapshot: Snapshot, contact_id: str) -> ContactState:
    contact = snapshot.contacts.get(contact_id)
    if contact is None:
        raise TransitionError(f"unknown contact {contact_id}")
    return contact
