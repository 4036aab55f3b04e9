"""The routing decision core: pure functions over a snapshot, no I/O.

Adapters (in memory, Redis) keep the state and apply the offers this module decides; the
discrete-event simulator drives the very same functions. Times are seconds on one clock.

Model, in short: a contact waits in one queue (chosen by its workflow's current step) with
the skills and agent expression that step requires; an agent serves a set of queues, each
with a priority and a delay (the routing-profile idea: a backup agent sees a queue's contacts
only after they have waited ``delay`` seconds), has a capacity per channel and a
cross-channel policy. Decisions never exceed a capacity, never offer one contact twice, and
never offer a lower-priority contact to an agent who could take a waiting higher-priority
one from a queue of the same membership priority.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from plateaux.routing.expressions import matches


class Channel(StrEnum):
    CHAT = "chat"
    EMAIL = "email"
    VOICE = "voice"
    CALLBACK = "callback"
    FORM = "form"


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    AWAY = "away"
    BUSY = "busy"
    WRAP_UP = "wrap_up"


class Ordering(StrEnum):
    FIFO = "fifo"
    LIFO = "lifo"


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    HIGHEST_SKILL = "highest_skill"


# A call (or a callback being placed) needs the agent's full attention: with the default
# policy it blocks every other channel, and it is only offered to an agent with no other work.
BLOCKING_CHANNELS = frozenset({Channel.VOICE, Channel.CALLBACK})


@dataclass(frozen=True, slots=True)
class Membership:
    priority: int = 1  # 1 is served first
    delay: float = 0.0  # seconds a contact must have waited before this agent sees it


@dataclass(slots=True)
class Agent:
    id: str
    presence: Presence = Presence.AVAILABLE
    capacity: dict[str, int] = field(default_factory=lambda: {"chat": 3, "email": 5,
                                                               "voice": 1, "callback": 1,
                                                               "form": 5})
    load: dict[str, int] = field(default_factory=dict)
    skills: dict[str, int] = field(default_factory=dict)
    site: str | None = None
    idle_since: float = 0.0
    queues: dict[str, Membership] = field(default_factory=dict)
    attributes: dict[str, object] = field(default_factory=dict)
    # True: chats/emails may continue beside a call. False: a call blocks everything.
    concurrent_with_calls: bool = False

    def total_load(self) -> int:
        return sum(self.load.values())

    def can_take(self, channel: str) -> bool:
        if self.presence not in (Presence.AVAILABLE, Presence.BUSY):
            return False
        if self.load.get(channel, 0) >= self.capacity.get(channel, 0):
            return False
        if self.concurrent_with_calls:
            return True
        on_call = any(self.load.get(c, 0) for c in BLOCKING_CHANNELS)
        if on_call:
            return False
        return not (channel in BLOCKING_CHANNELS and self.total_load() > 0)


@dataclass(frozen=True, slots=True)
class SiteLimit:
    """At most ``max_busy`` agents of ``site`` busy with this queue's contacts."""

    site: str
    max_busy: int


@dataclass(slots=True)
class Queue:
    id: str
    ordering: Ordering = Ordering.FIFO
    strategy: Strategy = Strategy.LONGEST_IDLE
    threshold: float = 20.0  # service-level threshold, seconds
    target: float = 0.8  # share answered within the threshold
    offer_to: int = 1  # offer to this many agents at once; the first to accept wins
    sticky_seconds: float = 0.0  # prefer the customer's last agent for this long
    site_limits: tuple[SiteLimit, ...] = ()
    busy_by_site: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Contact:
    id: str
    channel: str
    queue_id: str
    created_at: float
    priority: int = 0  # higher is served first
    attributes: dict[str, object] = field(default_factory=dict)
    required_skills: dict[str, int] = field(default_factory=dict)
    agent_expression: str = ""
    preferred_agent: str | None = None  # sticky: the customer's last agent
    preferred_until: float = 0.0
    target_agent: str | None = None  # direct routing to a named agent
    excluded: set[str] = field(default_factory=set)  # agents who rejected or let it time out


@dataclass(frozen=True, slots=True)
class Offer:
    contact_id: str
    agent_ids: tuple[str, ...]
    queue_id: str


# --- eligibility ---------------------------------------------------------------------

def eligible(agent: Agent, contact: Contact, queue: Queue, now: float) -> bool:
    """Whether ``agent`` may be offered ``contact`` now (capacity included)."""
    membership = agent.queues.get(contact.queue_id)
    if membership is None and contact.target_agent != agent.id:
        return False
    if contact.target_agent is not None and contact.target_agent != agent.id:
        return False
    if agent.id in contact.excluded:
        return False
    if membership is not None and now - contact.created_at < membership.delay:
        return False
    if not agent.can_take(contact.channel):
        return False
    for skill, level in contact.required_skills.items():
        if agent.skills.get(skill, 0) < level:
            return False
    if contact.agent_expression and not matches(contact.agent_expression, agent_view(agent)):
        return False
    return within_site_limits(agent, queue)


def agent_view(agent: Agent) -> dict[str, object]:
    """What an agent expression can see of an agent."""
    return {"id": agent.id, "site": agent.site, "skills": agent.skills, **agent.attributes}


def within_site_limits(agent: Agent, queue: Queue) -> bool:
    for limit in queue.site_limits:
        if agent.site == limit.site and queue.busy_by_site.get(limit.site, 0) >= limit.max_busy:
            return False
    return True


def could_ever_serve(agents: Iterable[Agent], contact: Contact) -> bool:
    """Someone logged in has what the contact needs (capacity aside): for skip_if_no_agents."""
    for agent in agents:
        if agent.presence == Presence.OFFLINE or contact.queue_id not in agent.queues:
            continue
        skilled = all(agent.skills.get(s, 0) >= lvl
                      for s, lvl in contact.required_skills.items())
        if skilled and (not contact.agent_expression
                        or matches(contact.agent_expression, agent_view(agent))):
            return True
    return False


# --- ordering and selection ----------------------------------------------------------

def contact_order(contact: Contact, queue: Queue) -> tuple[float, float]:
    age_key = contact.created_at if queue.ordering == Ordering.FIFO else -contact.created_at
    return (-contact.priority, age_key)


def rank_agents(candidates: Sequence[Agent], contact: Contact, queue: Queue,
                now: float) -> list[Agent]:
    """Best agents first, by the queue's strategy, sticky preference before all."""
    def key(agent: Agent) -> tuple[int, float, float]:
        sticky = 0 if (contact.preferred_agent == agent.id and now <= contact.preferred_until) \
            else 1
        if queue.strategy == Strategy.HIGHEST_SKILL:
            level = sum(agent.skills.get(s, 0) for s in contact.required_skills)
            return (sticky, -float(level), agent.idle_since)
        return (sticky, agent.idle_since, 0.0)

    return sorted(candidates, key=key)


# --- decisions -----------------------------------------------------------------------

@dataclass(slots=True)
class Snapshot:
    agents: dict[str, Agent]
    queues: dict[str, Queue]
    waiting: dict[str, Contact]  # queued contacts not yet offered
    # (queue id) -> agent ids serving it; kept by the adapter, saves scanning all agents.
    members: dict[str, set[str]] = field(default_factory=dict)
    # (queue id, channel) -> agents of that queue who could take one more contact of that
    # channel now. Kept current by apply_offer/release/refresh_agent, so a decision looks
    # only at agents with room instead of every member of a large queue.
    free: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def index_members(self) -> None:
        self.members = {}
        self.free = {}
        for agent in self.agents.values():
            for queue_id in agent.queues:
                self.members.setdefault(queue_id, set()).add(agent.id)
            self.refresh_agent(agent)

    def refresh_agent(self, agent: Agent) -> None:
        """Re-index an agent after its presence, load or capacity changed."""
        for queue_id in agent.queues:
            for channel in agent.capacity:
                bucket = self.free.setdefault((queue_id, channel), set())
                if agent.can_take(channel):
                    bucket.add(agent.id)
                else:
                    bucket.discard(agent.id)


def decide_for_contact(snapshot: Snapshot, contact: Contact, now: float) -> Offer | None:
    """A contact arrived or became routable: offer it to the best eligible agents."""
    queue = snapshot.queues[contact.queue_id]
    ids: Iterable[str]
    if contact.target_agent is not None:
        ids = [contact.target_agent]
    elif snapshot.free:
        ids = snapshot.free.get((contact.queue_id, contact.channel), ())
    else:
        ids = snapshot.members.get(contact.queue_id, ())
    wanted = max(1, queue.offer_to)
    pool = [a for a in (snapshot.agents.get(i) for i in ids) if a is not None]
    if queue.strategy == Strategy.LONGEST_IDLE:
        # Walk the agents from the longest idle and stop at the first eligible ones: in a
        # large queue this checks a handful of agents instead of every free one.
        sticky = contact.preferred_agent if now <= contact.preferred_until else None
        pool.sort(key=lambda a: (a.id != sticky, a.idle_since))
        chosen: list[Agent] = []
        for agent in pool:
            if eligible(agent, contact, queue, now):
                chosen.append(agent)
                if len(chosen) == wanted:
                    break
    else:
        candidates = [a for a in pool if eligible(a, contact, queue, now)]
        chosen = rank_agents(candidates, contact, queue, now)[:wanted]
    if not chosen:
        return None
    return Offer(contact.id, tuple(a.id for a in chosen), queue.id)


def decide_for_agent(snapshot: Snapshot, agent: Agent, now: float) -> Offer | None:
    """An agent has room again: give them the most deserving waiting contact they can take.

    Queues are taken by the agent's membership priority; within the best priority that has
    a contact for them, the contact with the highest priority, then the longest (FIFO) or
    shortest (LIFO) wait, wins.
    """
    best: tuple[int, tuple[float, float]] | None = None
    chosen: Contact | None = None
    for contact in snapshot.waiting.values():
        membership = agent.queues.get(contact.queue_id)
        if membership is None and contact.target_agent != agent.id:
            continue
        queue = snapshot.queues[contact.queue_id]
        rank = (membership.priority if membership else 0, contact_order(contact, queue))
        if best is not None and rank >= best:
            continue
        if eligible(agent, contact, queue, now):
            best, chosen = rank, contact
    if chosen is None:
        return None
    return Offer(chosen.id, (agent.id,), chosen.queue_id)


def decide(snapshot: Snapshot, now: float) -> list[Offer]:
    """Batch form: offers for every waiting contact that can be served now, most deserving
    contacts first, applying each offer to the snapshot so capacities hold across offers."""
    offers: list[Offer] = []
    ordered = sorted(snapshot.waiting.values(),
                     key=lambda c: contact_order(c, snapshot.queues[c.queue_id]))
    for contact in ordered:
        offer = decide_for_contact(snapshot, contact, now)
        if offer is not None:
            apply_offer(snapshot, offer)
            offers.append(offer)
    return offers


def apply_offer(snapshot: Snapshot, offer: Offer) -> None:
    """Reserve capacity for an offer (a pending offer counts as load, so nobody is offered
    beyond capacity while deciding), and take the contact out of the waiting set."""
    contact = snapshot.waiting.pop(offer.contact_id)
    queue = snapshot.queues[offer.queue_id]
    for agent_id in offer.agent_ids:
        agent = snapshot.agents[agent_id]
        agent.load[contact.channel] = agent.load.get(contact.channel, 0) + 1
        agent.presence = Presence.BUSY
        if agent.site is not None:
            queue.busy_by_site[agent.site] = queue.busy_by_site.get(agent.site, 0) + 1
        if snapshot.free:
            snapshot.refresh_agent(agent)


def release(snapshot: Snapshot, agent_id: str, channel: str, queue_id: str, now: float) -> None:
    """An offer was declined or a contact finished: give the capacity back."""
    agent = snapshot.agents[agent_id]
    agent.load[channel] = max(0, agent.load.get(channel, 0) - 1)
    queue = snapshot.queues.get(queue_id)
    if queue is not None and agent.site is not None:
        queue.busy_by_site[agent.site] = max(0, queue.busy_by_site.get(agent.site, 0) - 1)
    if agent.total_load() == 0 and agent.presence == Presence.BUSY:
        agent.presence = Presence.AVAILABLE
        agent.idle_since = now
    if snapshot.free:
        snapshot.refresh_agent(agent)


def set_presence(snapshot: Snapshot, agent: Agent, presence: Presence, now: float) -> None:
    """Change an agent's presence (becoming available starts their idle time)."""
    if presence == Presence.AVAILABLE and agent.presence != Presence.AVAILABLE:
        agent.idle_since = now
    agent.presence = presence
    snapshot.refresh_agent(agent)


def position_in_queue(snapshot: Snapshot, contact: Contact) -> int:
    """1 for the contact that will be answered next in its queue, by the queue's order."""
    queue = snapshot.queues[contact.queue_id]
    mine = contact_order(contact, queue)
    ahead = sum(1 for other in snapshot.waiting.values()
                if other.queue_id == contact.queue_id and other.id != contact.id
                and contact_order(other, queue) < mine)
    return ahead + 1


def decline_offer(snapshot: Snapshot, offer: Offer, contact: Contact, agent_id: str,
                  now: float, *, set_away: bool = False) -> None:
    """An agent rejected the offer or let it time out.

    The contact goes back to waiting with its original creation time (it keeps its place
    by age) and is not offered to that agent again; with ``set_away`` the agent is made
    away (redirect on no answer), so the next contacts do not ring a desk nobody is at.
    """
    release(snapshot, agent_id, contact.channel, offer.queue_id, now)
    contact.excluded.add(agent_id)
    snapshot.waiting[contact.id] = contact
    if set_away:
        set_presence(snapshot, snapshot.agents[agent_id], Presence.AWAY, now)
