"""What the routing core decides from: agents, contacts, queues and the offers it makes.

Configuration values (queues, policies, memberships, thresholds, offers) are frozen. Agent
and contact states belong to a ``Snapshot``: read them freely, but change them only through
the snapshot (``put_*`` / ``change_*``) or the ``lifecycle`` transitions, which keep its
indexes in step. They are not frozen because a routing event changes one or two fields of
a 20-field record, and copying it each time was the largest cost of a decision cycle.
Mappings are typed read-only: a new load or skill set is a new mapping.

Times are seconds on one clock chosen by the caller (epoch seconds live, simulated seconds
in the simulator). Nothing here knows about tenants: a snapshot holds one tenant's routing
state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    CHAT = "chat"
    EMAIL = "email"
    WEBCALL = "webcall"  # a call from the browser (WebRTC)
    CALLBACK = "callback"  # the platform calls the visitor and the agent
    PHONE = "phone"  # an inbound call on a dialed number
    FORM = "form"


VOICE_CHANNELS = frozenset({Channel.WEBCALL, Channel.CALLBACK, Channel.PHONE})


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"  # routable; how much more they can take is capacity minus load
    AWAY = "away"  # with a reason code (break, lunch, training, missed_offer, ...)
    BUSY = "busy"  # not routable: working on something the router did not give them
    WRAP_UP = "wrap_up"  # not routable: after-contact work


class ContactStatus(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"


# Statuses in which a contact occupies a unit of its agent's capacity.
HOLDING = frozenset({ContactStatus.OFFERED, ContactStatus.ASSIGNED, ContactStatus.WRAP_UP})


class Ordering(StrEnum):
    FIFO = "fifo"
    LIFO = "lifo"


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    HIGHEST_SKILL = "highest_skill"


DEFAULT_CAPACITY: Mapping[str, int] = {
    Channel.PHONE: 1, Channel.WEBCALL: 1, Channel.CALLBACK: 1,
    Channel.CHAT: 3, Channel.EMAIL: 5, Channel.FORM: 5,
}


@dataclass(frozen=True, slots=True)
class CapacityPolicy:
    """How channels combine for one agent, beyond the per-channel capacities.

    A contact of a ``blocking`` channel (a call) needs the agent's attention: while one is
    held, the agent takes nothing else except contacts of the ``alongside`` channels, and a
    blocking contact is offered only to an agent who holds nothing but ``alongside`` work.
    The default is the strict policy (a call blocks everything); ``alongside={"chat"}`` lets
    chats continue beside a call.
    """

    blocking: frozenset[str] = VOICE_CHANNELS
    alongside: frozenset[str] = frozenset()


STRICT = CapacityPolicy()
CHATS_BESIDE_CALLS = CapacityPolicy(alongside=frozenset({Channel.CHAT}))


@dataclass(frozen=True, slots=True)
class Membership:
    """An agent's place in a queue (a routing-profile entry)."""

    priority: int = 1  # 1 is served first; the agent's queues of priority 2 wait for 1
    delay: float = 0.0  # the agent sees this queue's contacts once they waited this long


@dataclass(slots=True)
class AgentState:
    id: str
    presence: Presence = Presence.AVAILABLE
    away_reason: str | None = None
    capacity: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    load: Mapping[str, int] = field(default_factory=dict)  # contacts held (offers included)
    skills: Mapping[str, int] = field(default_factory=dict)  # name -> level
    site: str | None = None
    # When the agent last received or finished a contact, or became available: the longest
    # idle agent is the one with the oldest value among the least loaded.
    idle_since: float = 0.0
    queues: Mapping[str, Membership] = field(default_factory=dict)
    policy: CapacityPolicy = STRICT
    attributes: Mapping[str, Any] = field(default_factory=dict)  # for agent expressions

    @property
    def total_load(self) -> int:
        return sum(self.load.values())


@dataclass(slots=True)
class ContactState:
    id: str
    channel: str
    created_at: float  # its age, for ordering and step timeouts, counts from here
    attributes: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 0  # effective priority, higher first (a workflow step may change it)
    base_priority: int | None = None  # priority before any step changed it
    status: ContactStatus = ContactStatus.QUEUED
    # Where it waits and what it needs, as placed by its workflow (or set directly).
    queue_id: str | None = None
    required_skills: Mapping[str, int] = field(default_factory=dict)  # skill -> min level
    agent_expression: str = ""
    workflow_id: str | None = None
    filter_name: str | None = None
    step_index: int | None = None
    next_change: float | None = None  # when its workflow placement changes next
    # Sticky routing: until ``sticky_until`` only this agent is offered the contact (unless
    # logged off); after it, the agent is still preferred when free.
    sticky_agent: str | None = None
    sticky_until: float = 0.0
    target_agent: str | None = None  # direct routing: only this agent, no membership needed
    rejected_by: frozenset[str] = frozenset()  # declined or let the offer time out
    offered_to: tuple[str, ...] = ()
    offer_expires_at: float | None = None
    agent_id: str | None = None  # once assigned
    # Held back until then: waiting, but offered to nobody before (a callback's pause
    # between two attempts to reach the customer).
    not_before: float | None = None

    @property
    def own_priority(self) -> int:
        return self.priority if self.base_priority is None else self.base_priority


@dataclass(frozen=True, slots=True)
class Threshold:
    """A limit on the part of one queue's traffic taken by a group of agents: those of a
    ``site``, or those having ``skill`` at ``min_level`` or more (both: agents matching both).

    Maximums are hard: an agent of the group is not offered the queue's contacts while the
    group is at its maximum. Minimums are preferences: while the group is below its
    minimum, its eligible agents are chosen before the others. Shares are over the
    contacts of the queue accepted since the counters were last reset (see
    ``Snapshot.reset_traffic``).
    """

    site: str | None = None
    skill: str | None = None
    min_level: int = 1
    max_busy: int | None = None  # agents of the group holding a contact of the queue
    min_busy: int | None = None
    max_share: float | None = None
    min_share: float | None = None

    def includes(self, agent: AgentState) -> bool:
        if self.site is not None and agent.site != self.site:
            return False
        return self.skill is None or agent.skills.get(self.skill, 0) >= self.min_level


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    ordering: Ordering = Ordering.FIFO
    strategy: Strategy = Strategy.LONGEST_IDLE
    sla_threshold: float = 20.0  # seconds: the "answered within" of the service level
    sla_target: float = 0.8  # share of contacts to answer within the threshold
    offer_to: int = 1  # offer to this many agents at once; the first to accept wins
    accept_timeout: float | None = 30.0  # an offer not accepted by then is declined
    away_on_timeout: bool = True  # an agent who lets an offer time out is set away
    away_on_reject: bool = False
    sticky_seconds: float = 0.0  # how long the customer's last agent is waited for
    thresholds: tuple[Threshold, ...] = ()
    # Business hours as the caller evaluated them for now: the calendar and its time zone
    # belong to the tenant, the core only needs the answer.
    open: bool = True


@dataclass(frozen=True, slots=True)
class Offer:
    """Offer ``contact_id`` to ``agent_ids`` (several: the first to accept wins)."""

    contact_id: str
    agent_ids: tuple[str, ...]
    queue_id: str | None
    channel: str
    expires_at: float | None = None
