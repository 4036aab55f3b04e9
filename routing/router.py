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

Operations are committed in groups: those that come while a commit is in flight wait for
it, are then decided one after the other and committed together in one round trip, and
their messages published in one more, or in the same one where the store can publish
(``publish_in_commit``: the Redis store with the event bus on the same Redis). Latency
stays one or two round trips under load instead of growing with the queue of operations
behind the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from plateaux.platform.events import Event, EventBus, channel_prefix, encode_event
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
from plateaux.routing.store import LogEntry, Publication, RoutingStore, Versioned
from plateaux.routing.workflows import Workflow, skills_by_queue

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
# Operations decided together and committed in one round trip, at most: a bound on how long
# one script holds the store and one batch holds the snapshot.
MAX_BATCH = 256
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
Operation = Callable[[float, Notes], Outcome | None]


@dataclass
class _Waiting:
    """An operation waiting for its batch, and where its answer goes."""

    operation: Operation
    result: asyncio.Future[Result]


@dataclass
class _Batch:
    """Operations decided together, and the values their changes lead to on top of the
    committed state: each operation's events are derived against what the earlier ones left,
    so a contact offered and accepted within one batch still reads as two steps."""

    results: list[tuple[int, Result]] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)
    contacts: set[str] = field(default_factory=set)
    presence: dict[str, Presence] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)
    seen: dict[str, ContactSeen | None] = field(default_factory=dict)
    wrap_up_until: dict[str, float | None] = field(default_factory=dict)

    def keys(self) -> list[str]:
        return [agent_key(a) for a in self.agents] + [contact_key(c) for c in self.contacts]


class TenantRouter:
    def __init__(self, tenant_id: uuid.UUID, *, store: RoutingStore, bus: EventBus,
                 clock: Clock = time.time, publish_in_commit: bool = False) -> None:
        """``publish_in_commit``: the store publishes each commit's messages itself, as
        part of the commit (only when the bus listens where the store publishes)."""
        if publish_in_commit and not store.publishes:
            raise ValueError("this store cannot publish; publish through the event bus")
        self.tenant_id = tenant_id
        self.tenant = str(tenant_id)
        self.store = store
        self.bus = bus
        self.publish_in_commit = publish_in_commit
        self.channels = channel_prefix(tenant_id)
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
        self._waiting: list[_Waiting] = []
        self._leader: asyncio.Task[None] | None = None

    # --- loading ---------------------------------------------------------------------------

    def configure(self, queues: Iterable[Queue], workflows: dict[str, Workflow], *,
                  wrap_up_seconds: dict[str, float]) -> None:
        for queue in queues:
            self.snapshot.put_queue(queue)
            self.windows.setdefault(queue.id, ServiceWindow())
        for queue_id, skills in skills_by_queue(workflows.values()).items():
            if queue_id in self.snapshot.queues:
                self.snapshot.split_by_skills(queue_id, skills)
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

    async def run(self, operation: Operation) -> Result:
        """Run ``operation`` on the snapshot and commit it, deciding again on conflict.

        Operations that come while a commit is in flight are decided together once it
        returns, and committed in one round trip (group commit): under load a process
        commits a few dozen operations for the price of one. Each caller still gets its
        own result (its own offers and events) or its own exception."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(operation, loop.create_future())
        self._waiting.append(waiting)
        if self._leader is None:
            self._leader = loop.create_task(self._lead(), name=f"routing-{self.tenant}")
        return await waiting.result

    async def _lead(self) -> None:
        """Commit batch after batch until nobody waits."""
        try:
            while self._waiting:
                batch = [w for w in self._waiting[:MAX_BATCH] if not w.result.done()]
                del self._waiting[:MAX_BATCH]
                if not batch:
                    continue
                try:
                    async with self.lock:
                        settled = await self._settle(batch)
                except Exception as error:  # the store failed: nobody's change is known to hold
                    for waiting in batch:
                        if not waiting.result.done():
                            waiting.result.set_exception(error)
                    continue
                except BaseException:
                    for waiting in batch:
                        waiting.result.cancel()
                    raise
                if not self.publish_in_commit:
                    await self._publish(self._events(self._messages(
                        [r for _, r in settled if isinstance(r, Result)])))
                for waiting, answer in settled:
                    if waiting.result.done():
                        continue  # the caller gave up; the change stands regardless
                    if isinstance(answer, Result):
                        waiting.result.set_result(answer)
                    else:
                        waiting.result.set_exception(answer)
        finally:
            self._leader = None
            for waiting in self._waiting:  # only left when the loop itself was cancelled
                waiting.result.cancel()
            self._waiting.clear()

    async def _settle(self, batch: list[_Waiting]) -> list[tuple[_Waiting, Result | Exception]]:
        failed: dict[int, Exception] = {}
        for _ in range(MAX_ATTEMPTS):
            decided = await self._decide(batch, failed)
            try:
                committed = await self._commit(decided)
            except Exception:
                # Maybe applied, maybe not: the store says which.
                with contextlib.suppress(Exception):
                    await self._refresh(decided.keys())
                raise
            if committed:
                results = dict(decided.results)
                return [(w, failed[i] if i in failed else results[i])
                        for i, w in enumerate(batch)]
            await self._refresh(decided.keys())
            if len(batch) - len(failed) > 1:
                # Refused: another process changed a record one of these operations wrote.
                # Each is decided again on its own, so one contested record neither holds
                # up nor fails the others.
                settled: list[tuple[_Waiting, Result | Exception]] = []
                for index, waiting in enumerate(batch):
                    if index in failed:
                        settled.append((waiting, failed[index]))
                    else:
                        settled += await self._settle([waiting])
                return settled
        conflict = RoutingConflict("the routing state kept changing; try again")
        return [(w, failed.get(i, conflict)) for i, w in enumerate(batch)]

    async def _decide(self, batch: list[_Waiting], failed: dict[int, Exception]) -> _Batch:
        """Run the batch's operations one after the other on the snapshot."""
        while True:
            decided = _Batch()
            spoiled: list[str] | None = None
            for index, waiting in enumerate(batch):
                if index in failed:
                    continue
                now = self.clock()
                notes = Notes()
                self.snapshot.clean()
                try:
                    outcome = waiting.operation(now, notes) or Outcome()
                except Exception as error:
                    failed[index] = error
                    if self.snapshot.dirty_agents or self.snapshot.dirty_contacts:
                        # Half done, on top of the earlier operations' changes (committed
                        # by nobody yet): put every record back and decide those again.
                        spoiled = decided.keys() + self._dirty_keys()
                        break
                    continue
                for contact_id, placement in outcome.overflowed:
                    notes.final.setdefault(contact_id, "overflowed")
                    notes.details.setdefault(contact_id, {}).update(
                        action=placement.overflow, reason=placement.reason,
                        queue=placement.queue_id)
                for contact_id, placement in outcome.redirected:
                    notes.details.setdefault(contact_id, {}).update(
                        kind="overflowed", action=placement.overflow,
                        reason=placement.reason, queue=placement.queue_id)
                decided.results.append((index, Result(outcome, self._derive(now, notes,
                                                                              decided))))
            self.snapshot.clean()
            if spoiled is None:
                return decided
            await self._refresh(spoiled)

    async def resync(self, keys: list[str]) -> bool:
        """Compare these records with the store and take the store's where they differ;
        True when any did. The log keeps snapshots current; this is the check a refused
        operation makes before its refusal stands, so a snapshot that went wrong for
        any reason heals on the records people act on (and says so in the log)."""
        async with self.lock:
            fresh = await self.store.fetch(self.tenant, keys)
            stored = {key: value[0] if value is not None else 0 for key, value in fresh.items()}
            stale = [key for key, version in stored.items()
                     if version != self.versions.get(key, 0)
                     or (version > 0) != self._holds(key)]
            if not stale:
                return False
            logger.warning("routing snapshot differed from the store on %s; repaired",
                           ", ".join(f"{key} (here {self.versions.get(key, 0)}, store "
                                     f"{stored[key]})" for key in stale))
            self._take({key: fresh[key] for key in stale})
        return True

    def _holds(self, key: str) -> bool:
        kind, ident = split_key(key)
        return ident in (self.snapshot.agents if kind == AGENT else self.snapshot.contacts)

    def _dirty_keys(self) -> list[str]:
        return [agent_key(a) for a in self.snapshot.dirty_agents] \
            + [contact_key(c) for c in self.snapshot.dirty_contacts]

    async def _refresh(self, keys: list[str]) -> None:
        """Put these records back to what the store holds (undoing uncommitted changes)."""
        self._take(await self.store.fetch(self.tenant, keys))

    def _take(self, fresh: Mapping[str, Versioned | None]) -> None:
        """Adopt these records as the store gave them."""
        for key, value in fresh.items():
            if value is None:
                self._forget(key)
            else:
                self._adopt(key, value[0], value[1])
        self.snapshot.clean()
        now = self.clock()
        for contact_id in {split_key(k)[1] for k in fresh if not k.startswith(AGENT)}:
            self.engine.watch(contact_id, now)

    def _derive(self, now: float, notes: Notes, batch: _Batch) -> list[dict[str, Any]]:
        """The events of one operation: its changed records against the values the batch
        holds so far (the committed ones, or what an earlier operation of it left)."""
        events: list[dict[str, Any]] = []
        for agent_id in self.snapshot.dirty_agents:
            batch.agents.add(agent_id)
            agent = self.snapshot.agents.get(agent_id)
            if agent is None:
                continue
            since = batch.since.get(agent_id, self.since.get(agent_id, now))
            before = batch.presence[agent_id] if agent_id in batch.presence \
                else self.presence_seen.get(agent_id)
            if before != agent.presence:
                events.append({"k": "presence", "a": agent_id, "p": agent.presence.value,
                               "r": agent.away_reason, "prev": before,
                               "secs": None if before is None else now - since, "at": now})
                since = now
            batch.since[agent_id] = since
            batch.presence[agent_id] = agent.presence
        for contact_id in self.snapshot.dirty_contacts:
            batch.contacts.add(contact_id)
            contact = self.snapshot.contacts.get(contact_id)
            seen = batch.seen[contact_id] if contact_id in batch.seen \
                else self.contacts_seen.get(contact_id)
            if contact is None:
                final = notes.final.get(contact_id, "cancelled")
                if seen is None:
                    # Arrived and left within one event (overflow on entry): the history
                    # still shows the arrival first.
                    events.append({"k": "queued", "c": contact_id, "at": now, "s": "queued",
                                   "q": None, "a": None, "d": {}})
                ended: dict[str, Any] = {
                    "k": final, "c": contact_id, "at": now,
                    "s": "cancelled" if final == "overflowed" else final,
                    "q": seen.queue_id if seen else None, "a": seen.agent_id if seen else None,
                    "d": notes.details.get(contact_id, {})}
                if seen is not None and seen.offered_to:
                    ended[WITHDRAWN] = list(seen.offered_to)
                events.append(ended)
                batch.seen[contact_id] = None
                batch.wrap_up_until[contact_id] = None
                continue
            wrap_until = batch.wrap_up_until[contact_id] if contact_id in batch.wrap_up_until \
                else self.wrap_up_until.get(contact_id)
            if contact.status == ContactStatus.WRAP_UP and wrap_until is None:
                limit = self.wrap_up_seconds.get(contact.queue_id or "", 0.0)
                wrap_until = now + limit if limit > 0 else math.inf
            elif contact.status != ContactStatus.WRAP_UP:
                wrap_until = None
            batch.wrap_up_until[contact_id] = wrap_until
            changes = self._contact_events(contact, seen, notes, now)
            withdrawn = _withdrawn_offers(seen, contact)
            if withdrawn and changes:
                changes[-1][WITHDRAWN] = withdrawn
            events.extend(changes)
            batch.seen[contact_id] = ContactSeen.of(contact)
        return events

    async def _commit(self, batch: _Batch) -> bool:
        """One compare-and-set of every record the batch changed, at its final value."""
        writes: dict[str, str | None] = {}
        expected: dict[str, int] = {}
        for agent_id in batch.agents:
            key = agent_key(agent_id)
            expected[key] = self.versions.get(key, 0)
            agent = self.snapshot.agents.get(agent_id)
            writes[key] = None if agent is None else encode_agent(
                agent, since=batch.since.get(agent_id, self.since.get(agent_id, 0.0)))
        for contact_id in batch.contacts:
            key = contact_key(contact_id)
            expected[key] = self.versions.get(key, 0)
            contact = self.snapshot.contacts.get(contact_id)
            wrap_until = batch.wrap_up_until.get(contact_id)
            writes[key] = None if contact is None else encode_contact(
                contact, wrap_up_until=None if wrap_until is None or math.isinf(wrap_until)
                else wrap_until)
        if not writes:
            return True
        events = [event for _, result in batch.results for event in result.events]
        publish: list[Publication] = []
        if self.publish_in_commit:
            publish = self._wire(self._messages([result for _, result in batch.results]))
        done = await self.store.commit(self.tenant, expected, writes, events, publish=publish)
        if done is None:
            return False
        for key, version in done.versions.items():
            kind, ident = split_key(key)
            if writes[key] is None:
                self._forget_committed(key)
                continue
            self.versions[key] = version
            if kind == AGENT:
                self.since[ident] = batch.since[ident]
                self.presence_seen[ident] = batch.presence[ident]
            else:
                seen = batch.seen[ident]
                assert seen is not None
                self.contacts_seen[ident] = seen
                until = batch.wrap_up_until.get(ident)
                if until is None:
                    self.wrap_up_until.pop(ident, None)
                else:
                    self.wrap_up_until[ident] = until
        return True

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
                                 "step": contact.step_index, **({} if kind else details)}})
            seen = ContactSeen(ContactStatus.QUEUED, contact.queue_id, contact.step_index,
                               None, (), frozenset())
        if kind is not None:
            # Transferred, re-queued or overflowed to another queue: that happened first.
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
                if not set(contact.offered_to) <= set(seen.offered_to):
                    # Declined and offered to someone else within the same commit: a new
                    # offer, not what is left of the old one.
                    events.append({**base, "k": "declined", "s": "queued",
                                   "a": declined[0] if declined else None, "d": {}})
                    events.append({**base, "k": "offered", "a": contact.offered_to[0],
                                   "d": {"agents": list(contact.offered_to),
                                         "expires_at": contact.offer_expires_at}})
                    return events
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

    def _messages(self, results: Iterable[Result]) -> list[Message]:
        """What a commit tells: offers to the agents, changes to whoever follows the
        contact (the visitor's widget) and to supervisors, in the order its operations were
        decided. They go out in one round trip after the commit, or with it.

        Supervisors get one ``routing.state`` message per batch carrying its events in
        order (``{"events": [...]}``): their consoles refresh on it whatever it holds, and
        one message per event was a third of what a busy router published."""
        messages: list[Message] = []
        changes: list[dict[str, Any]] = []

        def add(event_type: str, payload: dict[str, Any], audience: str) -> None:
            messages.append((event_type, audience, payload))

        for result in results:
            for offer in result.outcome.offers:
                contact = self.snapshot.contacts.get(offer.contact_id)
                payload = offer_payload(offer.contact_id, offer.channel, offer.queue_id,
                                        offer.expires_at, contact)
                for agent_id in offer.agent_ids:
                    add("routing.offer", payload, f"user:{agent_id}")
            for event in result.events:
                payload = public_event(event)
                changes.append(payload)
                if "c" in event:
                    add("routing.contact", payload, f"contact:{event['c']}")
                if event.get("k") == "presence":
                    add("routing.presence", payload, f"user:{event['a']}")
                for agent_id in event.get(WITHDRAWN) or ():
                    # Taken by another agent, withdrawn or abandoned: off that console.
                    add("routing.offer.withdrawn",
                        {"contact_id": event["c"], "kind": event["k"], "at": event["at"]},
                        f"user:{agent_id}")
        if changes:
            add("routing.state", {"events": changes}, SUPERVISORS)
        return messages

    # One clock reading per batch, and ids from a counter: a random id and a clock reading
    # per message were a tenth of publishing.

    def _events(self, messages: list[Message]) -> list[Event]:
        """The messages as events for the bus."""
        occurred = datetime.now(UTC)
        return [Event(tenant_id=self.tenant_id, type=event_type, audience=audience,
                      payload=payload, id=_next_id(), occurred_at=occurred)
                for event_type, audience, payload in messages]

    def _wire(self, messages: list[Message]) -> list[Publication]:
        """The messages as the store publishes them: the bus's channels and wire form. One
        that cannot be encoded is left out (and logged): it must neither stop the commit
        nor silence the others."""
        occurred = datetime.now(UTC).isoformat()
        wired = []
        for event_type, audience, payload in messages:
            try:
                data = encode_event(tenant=self.tenant, type=event_type, audience=audience,
                                    payload=payload, id=_next_id(), occurred_at=occurred)
            except (TypeError, ValueError):
                logger.exception("could not encode %s", event_type)
                continue
            wired.append((self.channels + audience, data))
        return wired

    async def _publish(self, messages: list[Event]) -> None:
        if not messages:
            return
        try:
            await self.bus.publish_many(messages)
        except (TypeError, ValueError):
            # A payload that cannot be encoded fails the batch before anything is sent;
            # it must not silence the others.
            for message in messages:
                try:
                    await self.bus.publish(message)
                except Exception:  # the state is committed; a client catches up by asking
                    logger.exception("could not publish %s", message.type)
        except Exception:
            logger.exception("could not publish %d routing messages", len(messages))

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


# A message for the bus: its type, audience and payload.
Message = tuple[str, str, dict[str, Any]]

# Message ids: unique per process (random prefix) and across them, shaped like a uuid's hex.
_ID_PREFIX = uuid.uuid4().hex[:16]
_ids = itertools.count()


def _next_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):016x}"

# The agents whose pending offer of a contact a commit took away (delivery only: the
# history records the contact's own events).
WITHDRAWN = "w"


def _withdrawn_offers(seen: ContactSeen | None, contact: ContactState) -> list[str]:
    """Agents offered the contact before and not now, other than the one who took it or
    those who declined (their consoles already know)."""
    if seen is None or not seen.offered_to:
        return []
    still = set(contact.offered_to) if contact.status == ContactStatus.OFFERED else set()
    return [a for a in seen.offered_to if a not in still and a != contact.agent_id
            and a not in contact.rejected_by]


def offer_payload(contact_id: str, channel: str, queue_id: str | None,
                  expires_at: float | None, contact: ContactState | None) -> dict[str, Any]:
    """What an agent's console is told of an offer (``routing.offer``)."""
    return {"contact_id": contact_id, "channel": channel, "queue_id": queue_id,
            "expires_at": expires_at,
            "attributes": dict(contact.attributes) if contact is not None else {}}


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
