"""The in-memory routing engine: a snapshot, the tenant's workflows, and the event protocol.

Each event method applies the event to the snapshot, makes the decisions it calls for (the
``FollowUp`` of the transition), applies the offers, and returns them for delivery. Timers
are the engine's too: after a contact fails to find an agent, its ``next_wakeup`` is kept,
and ``advance(now)`` re-evaluates the workflow of every contact whose time has come (a step
timed out, a membership delay or a sticky reservation ran out) and declines offers nobody
accepted in time. The caller owns the clock: it calls ``advance`` at ``next_timer()``.

The simulator and the benchmark run on this engine; a Redis adapter applies the same
protocol with the state in Redis.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from plateaux.routing.core import (
    SnapshotContext,
    decide,
    decide_for_agent,
    decide_for_contact,
    next_wakeup,
)
from plateaux.routing.estimates import QueueStats
from plateaux.routing.lifecycle import (
    FollowUp,
    abandon_contact,
    accept_offer,
    add_contact,
    apply_offer,
    cancel_contact,
    complete_contact,
    decline_offer,
    place_contact,
    requeue_contact,
    set_presence,
    start_wrap_up,
    update_agent,
)
from plateaux.routing.snapshot import Snapshot
from plateaux.routing.state import AgentState, ContactState, ContactStatus, Offer, Presence
from plateaux.routing.workflows import OverflowAction, Placement, Workflow, evaluate_workflow

# Called before each offer is applied, with the snapshot as the decision saw it.
Auditor = Callable[[Snapshot, Offer, float], None]
# Called with "contact" or "agent" and the seconds one decision took.
Timer = Callable[[str, float], None]


@dataclass
class Outcome:
    """What an event led to: offers to deliver, contacts that overflowed out of the queues
    (to a callback or a message, which the caller creates)."""

    offers: list[Offer] = field(default_factory=list)
    overflowed: list[tuple[str, Placement]] = field(default_factory=list)
    # Overflow that keeps the contact waiting, in another queue (for its history).
    redirected: list[tuple[str, Placement]] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.offers += other.offers
        self.overflowed += other.overflowed
        self.redirected += other.redirected


class Engine:
    def __init__(self, snapshot: Snapshot, workflows: Mapping[str, Workflow] | None = None, *,
                 stats: Mapping[str, QueueStats] | None = None, audit: Auditor | None = None,
                 timer: Timer | None = None) -> None:
        self.snapshot = snapshot
        self.workflows: Mapping[str, Workflow] = workflows or {}
        self.context = SnapshotContext(snapshot, stats or {})
        self.audit = audit
        self.timer = timer
        self._timers: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}

    # --- events ---------------------------------------------------------------------------

    def arrive(self, contact: ContactState, now: float) -> Outcome:
        """A new contact: placed by its workflow (``workflow_id``) or as given (queue or
        target agent already set)."""
        add_contact(self.snapshot, contact)
        if contact.workflow_id is not None:
            return self._place(contact.id, now)
        return self._follow(FollowUp(contacts=(contact.id,)), now)

    def accept(self, contact_id: str, agent_id: str, now: float) -> Outcome:
        return self._follow(accept_offer(self.snapshot, contact_id, agent_id, now), now)

    def decline(self, contact_id: str, agent_id: str, now: float, *,
                timed_out: bool = False) -> Outcome:
        return self._follow(decline_offer(self.snapshot, contact_id, agent_id, now,
                                          timed_out=timed_out), now)

    def wrap_up(self, contact_id: str) -> None:
        start_wrap_up(self.snapshot, contact_id)

    def complete(self, contact_id: str, now: float) -> Outcome:
        return self._follow(complete_contact(self.snapshot, contact_id, now), now)

    def abandon(self, contact_id: str, now: float) -> Outcome:
        return self._follow(abandon_contact(self.snapshot, contact_id, now), now)

    def cancel(self, contact_id: str, now: float) -> Outcome:
        return self._follow(cancel_contact(self.snapshot, contact_id, now), now)

    def set_presence(self, agent_id: str, presence: Presence, now: float, *,
                     reason: str | None = None) -> Outcome:
        return self._follow(set_presence(self.snapshot, agent_id, presence, now,
                                         reason=reason), now)

    def update_agent(self, agent: AgentState, now: float) -> Outcome:
        """Skills, capacity, policy, site or memberships changed."""
        outcome = self._follow(update_agent(self.snapshot, agent), now)
        # New membership delays mean new moments at which waiting contacts widen.
        for contact in list(self.snapshot.contacts.values()):
            if contact.status == ContactStatus.QUEUED and contact.queue_id in agent.queues:
                self._set_timer(contact, now)
        return outcome

    def requeue(self, contact_id: str, now: float, *, placement: Placement | None = None,
                target_agent: str | None = None, not_before: float | None = None) -> Outcome:
        """A transfer, or a contact whose agent was lost: back in the queues, same age
        (held back until ``not_before`` when given)."""
        return self._follow(requeue_contact(self.snapshot, contact_id, now, placement=placement,
                                            target_agent=target_agent, not_before=not_before),
                            now)

    def follow(self, follow_up: FollowUp, now: float) -> Outcome:
        """Decide what changes made elsewhere (another process) may have made decidable."""
        return self._follow(follow_up, now)

    def watch(self, contact_id: str, now: float) -> None:
        """Keep the timers of a contact changed elsewhere."""
        contact = self.snapshot.contacts.get(contact_id)
        if contact is None:
            self._due.pop(contact_id, None)
        else:
            self._set_timer(contact, now)

    def reset_traffic(self, queue_id: str, now: float) -> Outcome:
        """Start a new window for the queue's traffic shares (share limits may lift)."""
        self.snapshot.reset_traffic(queue_id)
        return self._follow(FollowUp(queues=(queue_id,)), now)

    # --- time -----------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        while self._timers:
            at, contact_id = self._timers[0]
            if self._due.get(contact_id) == at:
                return at
            heapq.heappop(self._timers)  # superseded or no longer waiting
        return None

    def advance(self, now: float) -> Outcome:
        """Act on every timer due at or before ``now``, instant by instant."""
        outcome = Outcome()
        while (at := self.next_timer()) is not None and at <= now:
            due: list[str] = []
            while (self.next_timer() or math.inf) == at:
                _, contact_id = heapq.heappop(self._timers)
                del self._due[contact_id]
                due.append(contact_id)
            outcome.extend(self._wake(due, at))
        return outcome

    def _wake(self, due: list[str], now: float) -> Outcome:
        outcome = Outcome()
        waking: list[str] = []
        for contact_id in due:
            contact = self.snapshot.contacts.get(contact_id)
            if contact is not None and contact.status == ContactStatus.OFFERED:
                for agent_id in contact.offered_to:
                    outcome.extend(self.decline(contact_id, agent_id, now, timed_out=True))
        for contact_id in due:
            contact = self.snapshot.contacts.get(contact_id)
            if contact is None or contact.status != ContactStatus.QUEUED:
                continue
            if contact.workflow_id is not None:
                placement = evaluate_workflow(contact, self.workflows, now, self.context)
                _note_overflow(outcome, contact_id, placement)
                place_contact(self.snapshot, contact_id, placement)
            if contact_id in self.snapshot.contacts:
                waking.append(contact_id)
        if len(waking) == 1:
            outcome.extend(self._follow(FollowUp(contacts=(waking[0],)), now))
        elif waking:
            # Several contacts widen at the same instant and may want the same agents: the
            # batch decision settles who is more deserving for each agent.
            audit = None if self.audit is None else self._audit_batch(now)
            for offer in decide(self.snapshot, now, contacts=set(waking), check=audit):
                self._offered(offer, now, outcome, applied=True)
            for contact_id in waking:
                contact = self.snapshot.contacts.get(contact_id)
                if contact is not None and contact.status == ContactStatus.QUEUED:
                    self._set_timer(contact, now)
        return outcome

    # --- decisions ------------------------------------------------------------------------

    def _place(self, contact_id: str, now: float) -> Outcome:
        contact = self.snapshot.contacts[contact_id]
        placement = evaluate_workflow(contact, self.workflows, now, self.context)
        outcome = Outcome()
        _note_overflow(outcome, contact_id, placement)
        outcome.extend(self._follow(place_contact(self.snapshot, contact_id, placement), now))
        return outcome

    def _follow(self, follow_up: FollowUp, now: float) -> Outcome:
        outcome = Outcome()
        for contact_id in follow_up.contacts:
            self._for_contact(contact_id, now, outcome)
        for agent_id in follow_up.agents:
            self._for_agent(agent_id, now, outcome)
        for queue_id in follow_up.queues:
            audit = None if self.audit is None else self._audit_batch(now)
            for offer in decide(self.snapshot, now, queues={queue_id}, check=audit):
                self._offered(offer, now, outcome, applied=True)
        return outcome

    def _for_contact(self, contact_id: str, now: float, outcome: Outcome) -> None:
        contact = self.snapshot.contacts.get(contact_id)
        if contact is None or contact.status != ContactStatus.QUEUED:
            return
        started = time.perf_counter() if self.timer is not None else 0.0
        offer = decide_for_contact(self.snapshot, contact, now)
        if self.timer is not None:
            self.timer("contact", time.perf_counter() - started)
        if offer is None:
            self._set_timer(contact, now)
        else:
            self._offered(offer, now, outcome)

    def _for_agent(self, agent_id: str, now: float, outcome: Outcome) -> None:
        while (agent := self.snapshot.agents.get(agent_id)) is not None:
            started = time.perf_counter() if self.timer is not None else 0.0
            offer = decide_for_agent(self.snapshot, agent, now)
            if self.timer is not None:
                self.timer("agent", time.perf_counter() - started)
            if offer is None:
                return
            self._offered(offer, now, outcome)

    def _offered(self, offer: Offer, now: float, outcome: Outcome, *,
                 applied: bool = False) -> None:
        if not applied:
            if self.audit is not None:
                self.audit(self.snapshot, offer, now)
            apply_offer(self.snapshot, offer, now)
        outcome.offers.append(offer)
        self._set_timer(self.snapshot.contacts[offer.contact_id], now)

    def _set_timer(self, contact: ContactState, now: float) -> None:
        at = next_wakeup(self.snapshot, contact, now)
        if at is None:
            self._due.pop(contact.id, None)
        elif self._due.get(contact.id) != at:
            self._due[contact.id] = at
            heapq.heappush(self._timers, (at, contact.id))

    def _audit_batch(self, now: float) -> Callable[[Snapshot, Offer], None]:
        audit = self.audit
        assert audit is not None
        return lambda snapshot, offer: audit(snapshot, offer, now)


def _note_overflow(outcome: Outcome, contact_id: str, placement: Placement) -> None:
    if placement.queue_id is None:
        outcome.overflowed.append((contact_id, placement))
    elif placement.overflow == OverflowAction.TRANSFER_QUEUE:
        outcome.redirected.append((contact_id, placement))
