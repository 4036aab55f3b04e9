"""The routing decision core: pure decisions over a ``Snapshot``, no I/O.

Adapters keep the state (in memory, Redis) and apply the offers decided here; the
discrete-event simulator drives these very functions. This module is also the one import
adapters need: it re-exports the snapshot types, the transitions and the workflow and
estimate functions.

Decisions are event-driven:

- a contact arrives, is re-placed by its workflow, or reaches its ``next_wakeup``:
  ``decide_for_contact`` offers it to the best eligible agents with room;
- an agent has room again (a contact ended, an offer was declined, they became available,
  their skills or capacity changed): ``decide_for_agent`` gives them the most deserving
  contact they can take, and is called again until it returns nothing;
- ``decide`` is the batch form (start-up, recovery, a threshold lifted).

The transitions in ``lifecycle`` say which of these to call after each change. Followed,
they keep *no waiting contact eligible for an agent with room* between events, which is why
each incremental decision only looks at one contact or one agent, through the snapshot's
indexes, and still never makes a priority inversion: a contact is never given to an agent
who could take a more deserving one (higher priority, at equal membership priority of the
agent's queues; or any contact of a queue of better membership priority).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from plateaux.routing.capacity import has_room, routable, within_capacity
from plateaux.routing.eligibility import (
    blocked,
    eligible,
    preferred,
    qualifies,
    threshold_state,
)
from plateaux.routing.estimates import (
    QueueStats,
    ServiceWindow,
    estimate_wait,
    position_in_queue,
)
from plateaux.routing.lifecycle import (
    FollowUp,
    TransitionError,
    abandon_contact,
    accept_offer,
    add_contact,
    apply_offer,
    cancel_contact,
    complete_contact,
    decline_offer,
    place_contact,
    set_presence,
    start_wrap_up,
    update_agent,
)
from plateaux.routing.snapshot import ContactKey, Snapshot
from plateaux.routing.state import (
    CHATS_BESIDE_CALLS,
    DEFAULT_CAPACITY,
    STRICT,
    AgentState,
    CapacityPolicy,
    Channel,
    ContactState,
    ContactStatus,
    Membership,
    Offer,
    Ordering,
    Presence,
    Queue,
    Strategy,
    Threshold,
)
from plateaux.routing.workflows import (
    Filter,
    Overflow,
    OverflowAction,
    OverflowReason,
    Placement,
    Step,
    Workflow,
    evaluate_workflow,
)

__all__ = [
    "CHATS_BESIDE_CALLS", "DEFAULT_CAPACITY", "STRICT", "AgentState", "CapacityPolicy", "Channel",
    "ContactState",
    "ContactStatus", "Filter", "FollowUp", "Membership", "Offer", "Ordering", "Overflow",
    "OverflowAction", "OverflowReason", "Placement", "Presence", "Queue", "QueueStats",
    "ServiceWindow", "Snapshot", "SnapshotContext", "Step", "Strategy", "Threshold",
    "TransitionError", "Workflow", "abandon_contact", "accept_offer", "add_contact",
    "apply_offer", "cancel_contact", "complete_contact", "decide", "decide_for_agent",
    "decide_for_contact", "decline_offer", "eligible", "estimate_wait", "evaluate_workflow",
    "next_wakeup", "place_contact", "position_in_queue", "rank_for", "set_presence",
    "start_wrap_up", "update_agent", "within_capacity",
]

# The membership priority a contact routed to a named agent has for that agent: before all
# of their queues (a customer who asked for them, or whom a workflow sent to them).
DIRECT_TIER = 0

# (membership priority, -contact priority, created at, contact id): smaller is served first.
Rank = tuple[int, int, float, str]


def rank_for(agent: AgentState, contact: ContactState) -> Rank | None:
    """How deserving ``contact`` is for ``agent``; None when the agent does not serve it."""
    if contact.target_agent is not None:
        tier = DIRECT_TIER if contact.target_agent == agent.id else None
    else:
        membership = agent.queues.get(contact.queue_id or "")
        tier = membership.priority if membership is not None else None
    if tier is None:
        return None
    return (tier, -contact.priority, contact.created_at, contact.id)


# --- a contact looks for agents ------------------------------------------------------------

def decide_for_contact(snapshot: Snapshot, contact: ContactState, now: float) -> Offer | None:
    """Offer a waiting contact to the best eligible agents with room, or None.

    Sticky first (the customer's last agent; until ``sticky_until`` nobody else unless that
    agent is logged off), then the queue's strategy over the available members: longest
    idle (least loaded, then longest without a new contact) or highest level in the
    required skills. Agents of a threshold group at its maximum are passed over; groups
    below a minimum come first. ``offer_to`` > 1 offers to that many agents at once.
    """
    current = snapshot.contacts.get(contact.id)
    if current is None or current.status != ContactStatus.QUEUED:
        return None
    chosen = _choose_agents(snapshot, current, now)
    return _offer(snapshot, current, chosen, now) if chosen else None


def _choose_agents(snapshot: Snapshot, contact: ContactState, now: float,
                   skip: Callable[[AgentState], bool] | None = None) -> list[str]:
    channel = contact.channel
    if contact.target_agent is not None:
        agent = snapshot.agents.get(contact.target_agent)
        if agent is None or not routable(agent) or not has_room(agent, channel) \
                or not qualifies(snapshot, agent, contact, now) or (skip and skip(agent)):
            return []
        return [agent.id]
    queue = snapshot.queues.get(contact.queue_id or "")
    if queue is None:
        return []
    wanted = max(1, queue.offer_to)
    state = threshold_state(snapshot, queue)

    def acceptable(agent: AgentState) -> bool:
        return qualifies(snapshot, agent, contact, now) \
            and not (state.limits and blocked(snapshot, queue, state, agent)) \
            and not (skip is not None and skip(agent))

    chosen: list[str] = []
    sticky_id = contact.sticky_agent
    if sticky_id is not None:
        sticky = snapshot.agents.get(sticky_id)
        if sticky is not None and routable(sticky) and has_room(sticky, channel) \
                and acceptable(sticky):
            chosen.append(sticky_id)
        if now < contact.sticky_until and sticky is not None \
                and sticky.presence != Presence.OFFLINE:
            return chosen  # reserved for them: nobody else qualifies yet
        if len(chosen) >= wanted:
            return chosen
    # Agents below a required skill level are left out of the walk by the snapshot's
    # per-level lists; ``acceptable`` still tests every rule.
    candidates = snapshot.free_agents(queue.id, channel, now - contact.created_at,
                                      contact.required_skills)
    agents = snapshot.agents
    if queue.strategy == Strategy.LONGEST_IDLE and not state.preferences:
        # The walk is in longest-idle order already: stop at the first eligible agents.
        for _load, _idle, agent_id in candidates:
            if agent_id not in chosen and acceptable(agents[agent_id]):
                chosen.append(agent_id)
                if len(chosen) >= wanted:
                    break
        return chosen
    by_skill = queue.strategy == Strategy.HIGHEST_SKILL
    required = contact.required_skills
    ranked: list[tuple[bool, int, int, str]] = []
    for order, (_load, _idle, agent_id) in enumerate(candidates):
        agent = agents[agent_id]
        if agent_id in chosen or not acceptable(agent):
            continue
        level = sum(agent.skills.get(s, 0) for s in required) if by_skill else 0
        first = state.preferences and preferred(snapshot, queue, state, agent)
        ranked.append((not first, -level, order, agent_id))
    chosen += [entry[3] for entry in heapq.nsmallest(wanted - len(chosen), ranked)]
    return chosen


def _offer(snapshot: Snapshot, contact: ContactState, agent_ids: list[str],
           now: float) -> Offer:
    queue = snapshot.queues.get(contact.queue_id or "")
    timeout = queue.accept_timeout if queue is not None else None
    return Offer(contact_id=contact.id, agent_ids=tuple(agent_ids), queue_id=contact.queue_id,
                 channel=contact.channel, expires_at=None if timeout is None else now + timeout)


# --- an agent looks for a contact -------------------------------------------------------------

def decide_for_agent(snapshot: Snapshot, agent: AgentState, now: float) -> Offer | None:
    """Offer the agent with room the most deserving waiting contact they can take.

    Contacts routed to them by name come first, then their queues by membership priority;
    among queues of equal membership priority, the contact of highest priority, then the
    longest waiting. Within a queue its own order (FIFO or LIFO) picks the candidate.
    """
    current = snapshot.agents.get(agent.id)
    if current is None:
        return None
    best = _best_for_agent(snapshot, current, now)
    if best is None:
        return None
    return _offer(snapshot, best, [current.id], now)


def _best_for_agent(snapshot: Snapshot, agent: AgentState, now: float) -> ContactState | None:
    if not routable(agent):
        return None
    channels = {c for c, cap in agent.capacity.items() if cap > 0 and has_room(agent, c)}
    if not channels:
        return None
    contacts = snapshot.contacts
    skills = agent.skills
    best: ContactState | None = None
    best_rank: Rank | None = None
    for _p, _age, contact_id in snapshot.waiting_for_agent(agent.id):
        contact = contacts[contact_id]
        if contact.channel in channels and qualifies(snapshot, agent, contact, now):
            best = contact
            best_rank = (DIRECT_TIER, -contact.priority, contact.created_at, contact.id)
            break
    for queue_id, membership in sorted(agent.queues.items(), key=lambda m: m[1].priority):
        tier = membership.priority
        if best_rank is not None and tier > best_rank[0]:
            break  # every remaining queue ranks after what was found
        queue = snapshot.queues.get(queue_id)
        if queue is None:
            continue
        if queue.thresholds:
            state = threshold_state(snapshot, queue)
            if state.limits and blocked(snapshot, queue, state, agent):
                continue
        oldest_allowed = now - membership.delay
        # The queue's own order (FIFO or LIFO) picks among its channels and need groups.
        queue_best: tuple[ContactKey, ContactState] | None = None
        for channel in channels:
            # Contacts needing a level the agent lacks are passed over a group at a time.
            for need, entries in snapshot.waiting_by_need(queue_id, channel):
                if any(skills.get(skill, 0) < level for skill, level in need):
                    continue
                for entry in entries:
                    if best_rank is not None and (tier, entry[0]) > best_rank[:2]:
                        break  # the rest of this group ranks lower still
                    if queue_best is not None and entry >= queue_best[0]:
                        break  # nothing further in this group comes before what was found
                    contact = contacts[entry[2]]
                    if contact.created_at > oldest_allowed:
                        continue  # too young for this agent's delay on this queue
                    if qualifies(snapshot, agent, contact, now):
                        queue_best = (entry, contact)
                        break  # the first eligible is this group's best for this agent
        if queue_best is not None:
            contact = queue_best[1]
            rank = (tier, -contact.priority, contact.created_at, contact.id)
            if best_rank is None or rank < best_rank:
                best, best_rank = contact, rank
    return best


# --- batch -------------------------------------------------------------------------------------

def decide(snapshot: Snapshot, now: float, *, queues: Collection[str] | None = None,
           contacts: Collection[str] | None = None,
           check: Callable[[Snapshot, Offer], None] | None = None) -> list[Offer]:
    """Offers for every waiting contact (of ``queues``, or among ``contacts``, or all) that
    can be served now.

    Each offer is applied to the snapshot before the next decision, so capacities hold
    across the batch (``check``, if given, sees each offer just before it is applied).
    Contacts are taken most deserving first; an agent is passed over for a contact when a
    contact they rank higher is also waiting for them, and passes repeat until nothing
    changes, so the result respects both the contacts' order and the agents' membership
    priorities.
    """
    offers: list[Offer] = []
    while True:
        pending = sorted(
            (snapshot.contact_key(c), c.id) for c in snapshot.contacts.values()
            if c.status == ContactStatus.QUEUED and (queues is None or c.queue_id in queues)
            and (contacts is None or c.id in contacts))
        made = 0
        for _key, contact_id in pending:
            contact = snapshot.contacts.get(contact_id)
            if contact is None or contact.status != ContactStatus.QUEUED:
                continue
            chosen = _choose_agents(snapshot, contact, now, _ranks_higher_elsewhere(
                snapshot, contact, now))
            if chosen:
                offer = _offer(snapshot, contact, chosen, now)
                if check is not None:
                    check(snapshot, offer)
                apply_offer(snapshot, offer, now)
                offers.append(offer)
                made += 1
        if not made:
            return offers


def _ranks_higher_elsewhere(snapshot: Snapshot, contact: ContactState,
                            now: float) -> Callable[[AgentState], bool]:
    def skip(agent: AgentState) -> bool:
        mine = rank_for(agent, contact)
        best = _best_for_agent(snapshot, agent, now)
        if best is None or best.id == contact.id or mine is None:
            return False
        theirs = rank_for(agent, best)
        return theirs is not None and theirs[:2] < mine[:2]

    return skip


# --- timers --------------------------------------------------------------------------------------

def next_wakeup(snapshot: Snapshot, contact: ContactState, now: float) -> float | None:
    """When something about this contact changes with time alone: its workflow step
    times out, it is no longer held back, its sticky reservation ends, a further
    membership delay of its queue is waited out (backup agents start seeing it), or its
    offer expires. The caller then
    re-evaluates its workflow and calls ``decide_for_contact`` (or declines the expired
    offer)."""
    times: list[float] = []
    if contact.status == ContactStatus.QUEUED:
        if contact.next_change is not None and contact.next_change > now:
            times.append(contact.next_change)
        if contact.not_before is not None and contact.not_before > now:
            times.append(contact.not_before)
        if contact.sticky_agent is not None and contact.sticky_until > now:
            times.append(contact.sticky_until)
        if contact.queue_id is not None and contact.target_agent is None:
            for delay in snapshot.delays(contact.queue_id):
                if contact.created_at + delay > now:
                    times.append(contact.created_at + delay)
                    break
    elif contact.status == ContactStatus.OFFERED and contact.offer_expires_at is not None:
        times.append(contact.offer_expires_at)
    return min(times, default=None)


# --- what workflows ask of the live state ---------------------------------------------------------

@dataclass
class SnapshotContext:
    """Answers a workflow's questions from a snapshot and the queues' observed pace."""

    snapshot: Snapshot
    stats: Mapping[str, QueueStats] = field(default_factory=dict)

    def has_agents(self, step: Step, contact: ContactState) -> bool:
        if step.target_agent is not None:
            agent = self.snapshot.agents.get(step.target_agent)
            return agent is not None and agent.presence not in (Presence.OFFLINE,
                                                                Presence.AWAY)
        return self.snapshot.has_agents_for(step.queue_id, step.required_skills,
                                            step.agent_expression, contact)

    def is_open(self, queue_id: str) -> bool:
        queue = self.snapshot.queues.get(queue_id)
        return queue is None or queue.open

    def estimated_wait(self, queue_id: str, contact: ContactState) -> float | None:
        stats = self.stats.get(queue_id)
        if stats is None:
            return None
        wait = estimate_wait(stats, position_in_queue(self.snapshot, contact, queue_id))
        if wait is None and stats.agents_now <= 0:
            return math.inf
        return wait

