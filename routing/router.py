"""One tenant's live router in one server process.

It holds the tenant's snapshot and engine, runs each routing event on them, and commits
what changed to the shared state store under optimistic concurrency: the commit names the
versions it read, so when another process changed the same agent or contact meanwhile,
the commit is refused, the records are refreshed and the event is decided again. Offers
and state changes are published only once committed.

State changes are not instrumented one by one: the commit compares each changed record
with its last committed value and derives the events (a contact offered, assigned,
re-queued; an agent's presence and how long the previous one lasted) from the difference,
so no transition of the core can forget to report itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from plateaux.platform.events import Event, EventBus
from plateaux.routing.engine import Engine, Outcome
from plateaux.routing.estimates import ServiceWindow, estimate_wait, position_in_queue
from plateaux.routing.lifecycle import FollowUp
from plateaux.routing.records import (
    AGENT,
    agent_key,
    contact_key,
    decode_agent,
    decode_contact,
    encode_agent,
    encode_contact,
    split_key,
)
from plateaux.routing.snapshot import Snapshot
from plateaux.routing.state import (
    AgentState,
    ContactState,
    ContactStatus,
    Presence,
    Queue,
)
from plateaux.routing.store import LogEntry, RoutingStore
from plateaux.routing.workflows import Workflow

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
SUPERVISORS = "role:supervisor"


class RoutingConflict(RuntimeError):
    """The records kept changing under this process; the caller may retry later."""


class StateLost(RuntimeError):
    """The store no longer holds this tenant's state (it restarted empty)."""


class TrackedSnapshot(Snapshot):
    """A snapshot that remembers which agents and contacts an event changed."""

    def __init__(self, **kwargs: Any) -> None:
        self.dirty_agents: set[str] = set()
        self.dirty_contacts: set[str] = set()
        super().__init__(**kwargs)

    def put_agent(self, agent: AgentState) -> None:
        self.dirty_agents.add(agent.id)
        super().put_agent(agent)

    def change_agent(self, agent_id: str, **fields: Any) -> AgentState:
        self.dirty_agents.add(agent_id)
        return super().change_agent(agent_id, **fields)

    def remove_agent(self, agent_id: str) -> None:
        self.dirty_agents.add(agent_id)
        super().remove_agent(agent_id)

    def put_contact(self, contact: ContactState) -> None:
        self.dirty_contacts.add(contact.id)
        super().put_contact(contact)

    def change_contact(self, contact_id: str, **fields: Any) -> ContactState:
        self.dirty_contacts.add(contact_id)
        return super().change_contact(contact_id, **fields)

    def remove_contact(self, contact_id: str) -> None:
        self.dirty_contacts.add(contact_id)
        super().remove_contact(contact_id)

    def clean(self) -> None:
        self.dirty_agents.clear()
        self.dirty_contacts.clear()


@dataclass(frozen=True)
class ContactSeen:
    """What the last committed value of a contact said, to tell what an event changed."""

    status: ContactStatus
    queue_id: str | None
    step_index: int | None
    agent_id: str | None
    offered_to: tuple[str, ...]
    rejected_by: frozenset[str]

    @classmethod
    def of(cls, contact: ContactState) -> ContactSeen:
        return cls(contact.status, contact.queue_id, contact.step_index, contact.agent_id,
                   contact.offered_to, contact.rejected_by)


@dataclass
class Notes:
    """What an operation knows that the records do not say: why a contact left."""

    final: dict[str, str] = field(default_factory=dict)  # contact -> completed/abandoned/...
    details: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Result:
    outcome: Outcome
    events: list[dict[str, Any]]


Clock = Callable[[], float]


class TenantRouter:
    def __init__(self, tenant_id: uuid.UUID, *, store: RoutingStore, bus: EventBus,
                 clock: Clock = time.time) -> None:
        self.tenant_id = tenant_id
        self.tenant = str(tenant_id)
        self.store = store
        self.bus = bus
        self.clock = clock
        self.lock = asyncio.Lock()
        self.snapshot = TrackedSnapshot()
        self.engine = Engine(self.snapshot)
        self.versions: dict[str, int] = {}
        self.since: dict[str, float] = {}
        self.presence_seen: dict[str, Presence] = {}
        self.contacts_seen: dict[str, ContactSeen] = {}
        self.wrap_up_until: dict[str, float] = {}
        self.cursor = "0-0"
        self.windows: dict[str, ServiceWindow] = {}
        self.handle_time: dict[str, float] = {}
        self.wrap_up_seconds: dict[str, float] = {}
        # Changes seen in the log from other processes, for the steward to decide on.
        self.pending = FollowUp()
        self.queued_by_others: set[str] = set()

    # --- loading ---------------------------------------------------------------------------

    def configure(self, queues: Iterable[Queue], workflows: dict[str, Workflow], *,
                  wrap_up_seconds: dict[str, float]) -> None:
        for queue in queues:
            self.snapshot.put_queue(queue)
            self.windows.setdefault(queue.id, ServiceWindow())
        self.engine.workflows = workflows
        self.wrap_up_seconds = wrap_up_seconds
        self.engine.context.stats = {}

    def set_queue_open(self, queue_id: str, open_now: bool) -> None:
        queue = self.snapshot.queues.get(queue_id)
        if queue is not None and queue.open != open_now:
            self.snapshot.put_queue(replace(queue, open=open_now))

    async def load(self) -> bool:
        """Read the tenant's records; False when the store holds none (initialise it)."""
        image = await self.store.load(self.tenant)
        if image is None:
            return False
        for key in list(self.versions):
            if key not in image.records:
                self._forget(key)
        for key, (version, record) in image.records.items():
            self._adopt(key, version, record)
        self.cursor = image.cursor
        self.snapshot.clean()
        now = self.clock()
        for contact_id in list(self.snapshot.contacts):
            self.engine.watch(contact_id, now)
        return True

    async def initialise(self, agents: Iterable[AgentState],
                         contacts: Iterable[ContactState]) -> bool:
        """Start the tenant's shared state from the database: agents offline, contacts not
        finished put back in the queues at their original age. False when another process
        did it first (then ``load``)."""
        now = self.clock()
        writes: dict[str, str | None] = {}
        expected: dict[str, int] = {}
        events = []
        for agent in agents:
            writes[agent_key(agent.id)] = encode_agent(agent, since=now)
            expected[agent_key(agent.id)] = 0
        for contact in contacts:
            writes[contact_key(contact.id)] = encode_contact(contact)
            expected[contact_key(contact.id)] = 0
            events.append({"k": "requeued", "c": contact.id, "s": "queued",
                           "q": contact.queue_id, "at": now,
                           "d": {"reason": "routing state restored"}})
        done = await self.store.commit(self.tenant, expected, writes, events, initialise=True)
        return done is not None

    def place_restored(self) -> None:
        """After loading restored contacts: place those whose workflow never ran here."""

    # --- applying the log --------------------------------------------------------------------

    def apply(self, entries: Iterable[LogEntry]) -> None:
        """Bring the snapshot up to date with committed changes (ours come back too; their
        versions are already known and are skipped)."""
        now = self.clock()
        contacts: list[str] = []
        agents: list[str] = []
        for entry in entries:
            self.cursor = entry.id
            for key, version, record in entry.writes:
                if version <= self.versions.get(key, 0) and record is not None:
                    continue
                if record is None and key not in self.versions:
                    continue
                kind, ident = split_key(key)
                if record is None:
                    self._forget(key)
                else:
                    self._adopt(key, version, record)
                if kind == AGENT:
                    agents.append(ident)
                else:
                    contacts.append(ident)
                    self.engine.watch(ident, now)
            for event in entry.events:
                self._observe(event)
        self.snapshot.clean()
        queued = tuple(c for c in contacts if c in self.snapshot.contacts
                       and self.snapshot.contacts[c].status == ContactStatus.QUEUED)
        free = tuple(a for a in agents if a in self.snapshot.agents
                     and self.snapshot.agents[a].presence == Presence.AVAILABLE)
        if queued or free:
            self.pending = self.pending + FollowUp(contacts=queued, agents=free)

    def _observe(self, event: dict[str, Any]) -> None:
        """Keep each queue's observed pace (for wait estimates) from the log's events."""
        if event.get("k") == "completed" and event.get("q") in self.windows:
            self.windows[event["q"]].record_completion(float(event["at"]))

    def _adopt(self, key: str, version: int, record: str) -> None:
        kind, ident = split_key(key)
        self.versions[key] = version
        if kind == AGENT:
            agent, since = decode_agent(record)
            self.since[ident] = since
            self.presence_seen[ident] = agent.presence
            self.snapshot.put_agent(agent)
        else:
            contact, wrap_until = decode_contact(record)
            self.contacts_seen[ident] = ContactSeen.of(contact)
            if wrap_until is None:
                self.wrap_up_until.pop(ident, None)
            else:
                self.wrap_up_until[ident] = wrap_until
            self.snapshot.put_contact(contact)

    def _forget(self, key: str) -> None:
        kind, ident = split_key(key)
        self.versions.pop(key, None)
        if kind == AGENT:
            self.since.pop(ident, None)
            self.presence_seen.pop(ident, None)
            self.snapshot.remove_agent(ident)
        else:
            self.contacts_seen.pop(ident, None)
            self.wrap_up_until.pop(ident, None)
            self.snapshot.remove_contact(ident)

    # --- running an event --------------------------------------------------------------------

    async def run(self, operation: Callable[[float, Notes], Outcome | None]) -> Result:
        """Run ``operation`` on the snapshot and commit it, deciding again on conflict."""
        async with self.lock:
            for _ in range(MAX_ATTEMPTS):
                now = self.clock()
                notes = Notes()
                self.snapshot.clean()
                try:
                    outcome = operation(now, notes) or Outcome()
                except Exception:
                    await self._refresh_dirty()
                    raise
                for contact_id, placement in outcome.overflowed:
                    notes.final.setdefault(contact_id, "overflowed")
                    notes.details.setdefault(contact_id, {}).update(
                        action=placement.overflow, reason=placement.reason,
                        queue=placement.queue_id)
                events = await self._commit(now, notes)
                if events is not None:
                    result = Result(outcome, events)
                    break
                await self._refresh_dirty()
            else:
                raise RoutingConflict("the routing state kept changing; try again")
        await self._deliver(result)
        return result

    async def _refresh_dirty(self) -> None:
        keys = [agent_key(a) for a in self.snapshot.dirty_agents]
        keys += [contact_key(c) for c in self.snapshot.dirty_contacts]
        fresh = await self.store.fetch(self.tenant, keys)
        for key, value in fresh.items():
            if value is None:
                self._forget(key)
            else:
                self._adopt(key, value[0], value[1])
        self.snapshot.clean()
        now = self.clock()
        for contact_id in {split_key(k)[1] for k in keys if not k.startswith(AGENT)}:
            self.engine.watch(contact_id, now)

    async def _commit(self, now: float, notes: Notes) -> list[dict[str, Any]] | None:
        writes: dict[str, str | None] = {}
        expected: dict[str, int] = {}
        events: list[dict[str, Any]] = []
        new_since: dict[str, float] = {}
        for agent_id in self.snapshot.dirty_agents:
            key = agent_key(agent_id)
            expected[key] = self.versions.get(key, 0)
            agent = self.snapshot.agents.get(agent_id)
            if agent is None:
                writes[key] = None
                continue
            since = self.since.get(agent_id, now)
            before = self.presence_seen.get(agent_id)
            if before != agent.presence:
                events.append({"k": "presence", "a": agent_id, "p": agent.presence.value,
                               "r": agent.away_reason, "prev": before,
                               "secs": None if before is None else now - since, "at": now})
                since = now
            new_since[agent_id] = since
            writes[key] = encode_agent(agent, since=since)
        for contact_id in self.snapshot.dirty_contacts:
            key = contact_key(contact_id)
            expected[key] = self.versions.get(key, 0)
            contact = self.snapshot.contacts.get(contact_id)
            seen = self.contacts_seen.get(contact_id)
            if contact is None:
                writes[key] = None
                final = notes.final.get(contact_id, "cancelled")
                events.append({"k": final, "c": contact_id, "at": now,
                               "s": "cancelled" if final == "overflowed" else final,
                               "q": seen.queue_id if seen else None,
                               "a": seen.agent_id if seen else None,
                               "d": notes.details.get(contact_id, {})})
                continue
            wrap_until = self.wrap_up_until.get(contact_id)
            if contact.status == ContactStatus.WRAP_UP and wrap_until is None:
                limit = self.wrap_up_seconds.get(contact.queue_id or "", 0.0)
                wrap_until = now + limit if limit > 0 else math.inf
            elif contact.status != ContactStatus.WRAP_UP:
                wrap_until = None
            writes[key] = encode_contact(
                contact, wrap_up_until=None if wrap_until is None or math.isinf(wrap_until)
                else wrap_until)
            events.extend(self._contact_events(contact, seen, notes, now))
        if not writes:
            return []
        done = await self.store.commit(self.tenant, expected, writes, events)
        if done is None:
            return None
        for key, version in done.versions.items():
            kind, ident = split_key(key)
            if writes[key] is None:
                self._forget_committed(key)
                continue
            self.versions[key] = version
            if kind == AGENT:
                self.since[ident] = new_since[ident]
                self.presence_seen[ident] = self.snapshot.agents[ident].presence
            else:
                contact = self.snapshot.contacts[ident]
                self.contacts_seen[ident] = ContactSeen.of(contact)
                if contact.status == ContactStatus.WRAP_UP:
                    limit = self.wrap_up_seconds.get(contact.queue_id or "", 0.0)
                    self.wrap_up_until.setdefault(ident, now + limit if limit > 0 else math.inf)
                else:
                    self.wrap_up_until.pop(ident, None)
        self.snapshot.clean()
        return events

    def _forget_committed(self, key: str) -> None:
        kind, ident = split_key(key)
        self.versions.pop(key, None)
        if kind == AGENT:
            self.since.pop(ident, None)
            self.presence_seen.pop(ident, None)
        else:
            self.contacts_seen.pop(ident, None)
            self.wrap_up_until.pop(ident, None)

    @staticmethod
    def _contact_events(contact: ContactState, seen: ContactSeen | None, notes: Notes,
                        now: float) -> list[dict[str, Any]]:
        """The events between the last committed value and this one. One commit can hold
        several steps (a new contact offered at once; a transfer offered at once)."""
        base = {"c": contact.id, "s": contact.status.value, "q": contact.queue_id, "at": now}
        details = dict(notes.details.get(contact.id, {}))
        kind = details.pop("kind", None)
        events: list[dict[str, Any]] = []
        if seen is None:
            events.append({**base, "k": "queued", "s": "queued", "a": contact.target_agent,
                           "d": {"channel": contact.channel, "priority": contact.priority,
                                 "step": contact.step_index, **details}})
            seen = ContactSeen(ContactStatus.QUEUED, contact.queue_id, contact.step_index,
                               None, (), frozenset())
        elif kind is not None:
            # Transferred or re-queued by the service: that is what happened first.
            declined = sorted(contact.rejected_by - seen.rejected_by)
            events.append({**base, "k": kind, "s": "queued", "a": seen.agent_id,
                           "d": details})
            seen = ContactSeen(ContactStatus.QUEUED, contact.queue_id, contact.step_index,
                               None, (), contact.rejected_by)
        if seen.status == contact.status:
            if contact.status == ContactStatus.QUEUED and (
                    seen.queue_id != contact.queue_id or seen.step_index != contact.step_index):
                events.append({**base, "k": "step", "a": None,
                               "d": {"step": contact.step_index, "priority": contact.priority}})
            elif contact.status == ContactStatus.OFFERED \
                    and seen.offered_to != contact.offered_to:
                declined = sorted(contact.rejected_by - seen.rejected_by)
                events.append({**base, "k": "declined", "a": declined[0] if declined else None,
                               "d": {"remaining": list(contact.offered_to)}})
            return events
        declined = sorted(contact.rejected_by - seen.rejected_by)
        if declined and contact.status != ContactStatus.QUEUED:
            # Declined and offered to someone else within the same commit.
            events.append({**base, "k": "declined", "s": "queued", "a": declined[0], "d": {}})
        if contact.status == ContactStatus.OFFERED:
            events.append({**base, "k": "offered", "a": contact.offered_to[0],
                           "d": {"agents": list(contact.offered_to),
                                 "expires_at": contact.offer_expires_at}})
        elif contact.status == ContactStatus.ASSIGNED:
            events.append({**base, "k": "assigned", "a": contact.agent_id, "d": {}})
        elif contact.status == ContactStatus.WRAP_UP:
            events.append({**base, "k": "wrap_up", "a": contact.agent_id, "d": {}})
        else:
            # Back in the queue: declined or timed out.
            events.append({**base, "k": "declined" if declined else "requeued",
                           "a": declined[0] if declined else seen.agent_id, "d": {}})
        return events

    async def _deliver(self, result: Result) -> None:
        """Publish what was committed: offers to the agents, changes to supervisors and to
        whoever follows the contact (the visitor's widget)."""
        for offer in result.outcome.offers:
            contact = self.snapshot.contacts.get(offer.contact_id)
            payload = {"contact_id": offer.contact_id, "channel": offer.channel,
                       "queue_id": offer.queue_id, "expires_at": offer.expires_at,
                       "attributes": dict(contact.attributes) if contact else {}}
            for agent_id in offer.agent_ids:
                await self._publish("routing.offer", payload, f"user:{agent_id}")
        for event in result.events:
            payload = public_event(event)
            await self._publish("routing.state", payload, SUPERVISORS)
            if "c" in event:
                await self._publish("routing.contact", payload, f"contact:{event['c']}")
            if event.get("k") == "presence":
                await self._publish("routing.presence", payload, f"user:{event['a']}")

    async def _publish(self, event_type: str, payload: dict[str, Any], audience: str) -> None:
        try:
            await self.bus.publish(Event(tenant_id=self.tenant_id, type=event_type,
                                         audience=audience, payload=payload))
        except Exception:  # the state is committed; a client catches up by asking
            logger.exception("could not publish %s", event_type)

    # --- reads -------------------------------------------------------------------------------

    def refresh_stats(self, now: float) -> None:
        """Each queue's pace and staffing, for wait estimates and workflow limits."""
        stats = {}
        for queue_id, window in self.windows.items():
            serving = sum(1 for agent_id in self.snapshot.members(queue_id)
                          if self.snapshot.agents[agent_id].presence == Presence.AVAILABLE)
            last = window._staffing[-1][1] if window._staffing else None
            if last != serving:
                window.record_agents(now, serving)
            stats[queue_id] = window.stats(now, handle_time=self.handle_time.get(queue_id))
        self.engine.context.stats = stats

    def position(self, contact_id: str) -> tuple[int, float | None] | None:
        contact = self.snapshot.contacts.get(contact_id)
        if contact is None or contact.status != ContactStatus.QUEUED:
            return None
        position = position_in_queue(self.snapshot, contact)
        stats = self.engine.context.stats.get(contact.queue_id or "")
        wait = estimate_wait(stats, position) if stats is not None else None
        return position, wait


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """A log event in the names clients read."""
    payload: dict[str, Any] = {"kind": event["k"], "at": event["at"]}
    if "c" in event:
        payload.update(contact_id=event["c"], status=event.get("s"), queue_id=event.get("q"),
                       agent_id=event.get("a"), details=event.get("d") or {})
    else:
        payload.update(agent_id=event["a"], presence=event["p"], reason=event.get("r"),
                       previous=event.get("prev"), previous_seconds=event.get("secs"))
    return payload
