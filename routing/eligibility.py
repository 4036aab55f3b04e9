"""Who may be offered what: membership and delay, skills, agent expression, direct and
sticky routing, rejections, and the per-site / per-skill thresholds of a queue."""

from __future__ import annotations

from dataclasses import dataclass

from plateaux.routing.capacity import has_room, routable
from plateaux.routing.expressions import compile_expression
from plateaux.routing.snapshot import Snapshot, agent_view
from plateaux.routing.state import AgentState, ContactState, Presence, Queue


def qualifies(snapshot: Snapshot, agent: AgentState, contact: ContactState,
              now: float) -> bool:
    """Everything about the pair except presence, room and thresholds (which the callers
    check once per agent or per queue rather than per pair)."""
    if contact.not_before is not None and now < contact.not_before:
        return False
    if contact.target_agent is not None:
        if contact.target_agent != agent.id:
            return False
    else:
        membership = agent.queues.get(contact.queue_id or "")
        if membership is None or now - contact.created_at < membership.delay:
            return False
    if agent.id in contact.rejected_by:
        return False
    sticky = contact.sticky_agent
    if sticky is not None and sticky != agent.id and now < contact.sticky_until:
        # Reserved for the customer's last agent, unless that agent is logged off.
        holder = snapshot.agents.get(sticky)
        if holder is not None and holder.presence != Presence.OFFLINE:
            return False
    skills = agent.skills
    for skill, level in contact.required_skills.items():
        if skills.get(skill, 0) < level:
            return False
    expression = contact.agent_expression
    return not expression or compile_expression(expression).matches(agent_view(agent, contact))


@dataclass(frozen=True, slots=True)
class ThresholdState:
    """Indices of a queue's thresholds whose group is at a hard maximum or below a minimum,
    by busy agents and by share, computed once per decision."""

    full_busy: tuple[int, ...] = ()
    full_share: tuple[int, ...] = ()
    short_busy: tuple[int, ...] = ()
    short_share: tuple[int, ...] = ()

    @property
    def limits(self) -> bool:
        return bool(self.full_busy or self.full_share)

    @property
    def preferences(self) -> bool:
        return bool(self.short_busy or self.short_share)


NO_THRESHOLDS = ThresholdState()


def threshold_state(snapshot: Snapshot, queue: Queue) -> ThresholdState:
    if not queue.thresholds:
        return NO_THRESHOLDS
    busy = snapshot.busy(queue.id)
    traffic = snapshot.traffic(queue.id)
    full_busy: list[int] = []
    full_share: list[int] = []
    short_busy: list[int] = []
    short_share: list[int] = []
    for i, t in enumerate(queue.thresholds):
        # Before any traffic every share counts as zero, so the first contact can go anywhere.
        share = traffic.by_threshold[i] / traffic.total if traffic.total else 0.0
        if t.max_busy is not None and busy[i] >= t.max_busy:
            full_busy.append(i)
        if t.max_share is not None and (t.max_share <= 0 or
                                        (traffic.total and share >= t.max_share)):
            full_share.append(i)
        if t.min_busy is not None and busy[i] < t.min_busy:
            short_busy.append(i)
        if t.min_share is not None and share < t.min_share:
            short_share.append(i)
    return ThresholdState(tuple(full_busy), tuple(full_share), tuple(short_busy),
                          tuple(short_share))


def blocked(snapshot: Snapshot, queue: Queue, state: ThresholdState,
            agent: AgentState) -> bool:
    """A group of the agent is at a maximum. An agent already holding one of the queue's
    contacts is not stopped by a busy-agents maximum: one more contact adds no busy agent."""
    thresholds = queue.thresholds
    if any(thresholds[i].includes(agent) for i in state.full_share):
        return True
    return any(thresholds[i].includes(agent) for i in state.full_busy) \
        and snapshot.held(agent.id, queue.id) == 0


def preferred(snapshot: Snapshot, queue: Queue, state: ThresholdState,
              agent: AgentState) -> bool:
    """Offering to this agent moves a group that is below its minimum towards it."""
    thresholds = queue.thresholds
    if any(thresholds[i].includes(agent) for i in state.short_share):
        return True
    return any(thresholds[i].includes(agent) for i in state.short_busy) \
        and snapshot.held(agent.id, queue.id) == 0


def eligible(snapshot: Snapshot, agent: AgentState, contact: ContactState, now: float) -> bool:
    """The full test: may ``agent`` be offered ``contact`` now? Used by checks and tests;
    the decision functions apply the same rules in a cheaper order."""
    if not routable(agent) or not has_room(agent, contact.channel):
        return False
    if not qualifies(snapshot, agent, contact, now):
        return False
    if contact.target_agent is not None:
        return True  # thresholds share a queue's traffic; a named agent is not a share
    queue = snapshot.queues.get(contact.queue_id or "")
    return queue is not None and not blocked(snapshot, queue, threshold_state(snapshot, queue),
                                             agent)
