"""The routing service of one server process: the tenants' live routers, the log reader
that keeps them current, and the steward duties of the tenants this process leads.

Every process routes the events it receives (a contact created here, an agent answering
here) and commits them to the shared state store. One process per tenant, holding the
tenant's steward lease, also does what must happen exactly once: timers (a workflow step
that times out, an offer nobody accepted), decisions on changes made elsewhere, agents
whose consoles are gone, wrap-up that ends, recording the log in the database, and
re-routing stored contacts the store does not know (a process that stopped between
storing a contact and routing it). When the steward's process dies, its lease runs out
and another process takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform import heap
from plateaux.platform.database import Database
from plateaux.platform.events import EventBus
from plateaux.platform.services import Services, attach
from plateaux.routing import live_repository as repo
from plateaux.routing.engine import Outcome
from plateaux.routing.lifecycle import FollowUp, TransitionError
from plateaux.routing.records import agent_key, contact_key
from plateaux.routing.router import (
    Notes,
    Result,
    RoutingConflict,
    TenantRouter,
    offer_payload,
)
from plateaux.routing.state import ContactState, ContactStatus, Presence
from plateaux.routing.store import RoutingStore
from plateaux.routing.workflows import Placement
from plateaux.tenants.hours import is_open, zone_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    tick: float = 0.2  # how often stewards look at timers and connections
    lease: float = 5.0  # a steward that stops renewing is replaced after this
    heartbeat: float = 2.0
    grace: float = 30.0  # an agent with no console this long goes offline
    sweep: float = 10.0  # how often stored contacts unknown to the store are looked for


# Changes after which the tenant's queues, workflows or opening hours are read again.
CONFIG_EVENTS = frozenset({"routing.config.changed", "hours.changed"})
PERSON_EVENTS = frozenset({"user.created", "user.updated", "user.skills_changed"})


def _changed_person(event_type: str, payload: dict[str, Any]) -> uuid.UUID | None:
    """The user whose routing (profile, skills, site, languages) an event changed."""
    if event_type == "routing.config.changed" and payload.get("what") == "profile":
        raw = payload.get("id")
    elif event_type in PERSON_EVENTS:
        raw = payload.get("user_id") or payload.get("id")
    else:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


class RoutingError(ValueError):
    """An event that does not fit the contact's or agent's state (a 409 for clients)."""


class RoutingService:
    def __init__(self, services: Services, store: RoutingStore, *,
                 timing: Timing | None = None, clock: Callable[[], float] = time.time,
                 db: Database | None = None, publish_in_commit: bool = False) -> None:
        """``publish_in_commit``: the store and the event bus are on the same Redis, so
        the store publishes each commit's messages as part of it."""
        self.services = services
        self.publish_in_commit = publish_in_commit
        self.db = db
        self.store = store
        self.bus: EventBus = services.bus
        self.timing = timing or Timing()
        self.clock = clock
        self.process = uuid.uuid4().hex
        self.routers: dict[uuid.UUID, TenantRouter] = {}
        self._loading: dict[uuid.UUID, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._config_tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._leading: dict[uuid.UUID, float] = {}
        self._gone_since: dict[uuid.UUID, dict[str, float]] = {}
        self._last: dict[tuple[uuid.UUID, str], float] = {}
        self._config: dict[uuid.UUID, repo.TenantRouting] = {}

    # --- life cycle ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _unit_of_work(self, *, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """The routing service's own database work, on its own pool when it has one."""
        if self.db is None:
            async with self.services.unit_of_work(tenant_id=tenant_id) as session:
                yield session
            return
        async with self.db.session(tenant_id=tenant_id) as session:
            attach(session, self.services)
            yield session

    async def start(self) -> None:
        await self.store.heartbeat(self.process, self.timing.heartbeat * 3)
        self._tasks = [asyncio.create_task(self._follow_log()),
                       asyncio.create_task(self._steward()),
                       asyncio.create_task(self._beat())]

    async def stop(self) -> None:
        tasks = self._tasks + list(self._config_tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for tenant_id in list(self._leading):
            with contextlib.suppress(Exception):
                await self.store.release(f"steward:{tenant_id}", self.process)
        await self.store.close()
        if self.db is not None:
            await self.db.dispose()

    async def router(self, tenant_id: uuid.UUID) -> TenantRouter:
        router = self.routers.get(tenant_id)
        if router is not None:
            return router
        lock = self._loading.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            router = self.routers.get(tenant_id)
            if router is None:
                router = await self._open(tenant_id)
        return router

    async def _open(self, tenant_id: uuid.UUID) -> TenantRouter:
        router = TenantRouter(tenant_id, store=self.store, bus=self.bus, clock=self.clock,
                              publish_in_commit=self.publish_in_commit)
        await self._configure(router)
        restored = []
        if not await router.load():
            async with self._unit_of_work(tenant_id=tenant_id) as session:
                agents = await repo.load_agents(session, tenant_id)
                restored = await repo.unfinished_contacts(session, tenant_id)
            if not await router.initialise(agents, ()):
                restored = []
            if not await router.load():
                raise RuntimeError("the routing state could not be loaded")
        # The snapshot lives as long as the process: kept out of the cyclic collector's
        # reach, a full collection no longer walks every agent (a pause of about 150 ms
        # with 10,000 agents otherwise, see docs/benchmarks.md).
        heap.settle()
        self.routers[tenant_id] = router
        self._config_tasks[tenant_id] = asyncio.create_task(self._follow_config(tenant_id))
        for row in restored:
            with contextlib.suppress(RoutingError):
                await self._arrive(router, repo.contact_state(row), reason="restored")
        return router

    async def _configure(self, router: TenantRouter) -> None:
        async with self._unit_of_work(tenant_id=router.tenant_id) as session:
            config = await repo.load_configuration(session, router.tenant_id)
        self._config[router.tenant_id] = config
        router.configure(config.queues, config.workflows, wrap_up_seconds=config.wrap_up_seconds)
        self._apply_hours(router)

    def _apply_hours(self, router: TenantRouter) -> None:
        config = self._config[router.tenant_id]
        now = datetime.fromtimestamp(self.clock(), UTC)
        if config.hours:
            open_now = is_open(now, timezone=config.timezone, hours=config.hours,
                               holidays=config.holidays)
        else:
            # No weekly hours set: open around the clock, but a holiday still closes.
            open_now = now.astimezone(zone_of(config.timezone)).date() not in config.holidays
        for queue_id in list(router.snapshot.queues):
            router.set_queue_open(queue_id, open_now or queue_id not in config.follows_hours)

    async def _follow_config(self, tenant_id: uuid.UUID) -> None:
        """Reload queues, workflows and hours when an administrator changes them, and bring
        changed people (routing profile, skills, site, languages) into the shared state.

        Every process with the tenant open applies a person's change, not only the
        steward: the commit is compare-and-set, so doing it twice is harmless, while
        leaving it to the steward loses it when the lease is between holders."""
        while True:
            try:
                async with self.bus.subscribe(tenant_id, ["routing", "tenant"]) as events:
                    async for event in events:
                        router = self.routers[tenant_id]
                        if event.type in CONFIG_EVENTS:
                            await self._configure(router)
                        person = _changed_person(event.type, event.payload)
                        if person is not None:
                            await self.refresh_agents(tenant_id, [person])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("configuration listener failed; restarting")
                await asyncio.sleep(1.0)

    async def refresh_agents(self, tenant_id: uuid.UUID, user_ids: list[uuid.UUID]) -> None:
        """Skills, site, capacity or queues of these users changed (or they were added)."""
        router = await self.router(tenant_id)
        async with self._unit_of_work(tenant_id=tenant_id) as session:
            agents = await repo.load_agents(session, tenant_id, user_ids)

        def operation(now: float, notes: Notes) -> Outcome:
            outcome = Outcome()
            for agent in agents:
                current = router.snapshot.agents.get(agent.id)
                if current is not None:
                    agent.presence = current.presence
                    agent.away_reason = current.away_reason
                    agent.idle_since = current.idle_since
                outcome.extend(router.engine.update_agent(agent, now))
            return outcome

        await router.run(operation)

    # --- routing events --------------------------------------------------------------------

    async def arrive(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Result | None:
        """Route a stored contact (called once its row is committed)."""
        router = await self.router(tenant_id)
        if str(contact_id) in router.snapshot.contacts:
            return None
        async with self._unit_of_work(tenant_id=tenant_id) as session:
            rows = await repo.unfinished_contacts(session, tenant_id, [contact_id])
            if not rows:
                return None
            row = rows[0]
            sticky = None
            if row.customer_key:
                sticky = await repo.last_agent_of(session, tenant_id, row.customer_key)
        state = repo.contact_state(row)
        if sticky is not None:
            config = self._config[tenant_id]
            queues = [state.queue_id] if state.queue_id else list(config.sticky_seconds)
            seconds = max((config.sticky_seconds.get(q or "", 0.0) for q in queues), default=0.0)
            state.sticky_agent = str(sticky)
            state.sticky_until = state.created_at + seconds
        return await self._arrive(router, state)

    async def _arrive(self, router: TenantRouter, state: ContactState, *,
                      reason: str | None = None) -> Result:
        unknown_workflow = state.workflow_id is not None \
            and state.workflow_id not in router.engine.workflows
        unknown_queue = state.queue_id is not None and state.queue_id not in router.snapshot.queues
        if unknown_workflow or unknown_queue:
            # Created after this process last read the configuration, and the change's
            # announcement has not arrived yet (or was lost): read it again before judging.
            await self._configure(router)
        if state.workflow_id is not None and state.workflow_id not in router.engine.workflows:
            state.workflow_id = None  # its workflow was deleted: wait in its queue as given
        if state.workflow_id is None and state.queue_id is None and state.target_agent is None:
            raise RoutingError("the contact has no workflow, queue or agent to go to")

        def operation(now: float, notes: Notes) -> Outcome:
            if reason:
                notes.details[state.id] = {"reason": reason}
            router.refresh_stats(now)
            # A fresh copy each attempt: the engine changes the contact it is given.
            return router.engine.arrive(replace(state), now)

        return await self._run(router, operation)

    async def accept(self, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                     agent_id: uuid.UUID) -> Result:
        router = await self.router(tenant_id)
        return await self._run(router, lambda now, notes: router.engine.accept(
            str(contact_id), str(agent_id), now), about=(contact_id, agent_id))

    async def decline(self, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                      agent_id: uuid.UUID) -> Result:
        router = await self.router(tenant_id)
        return await self._run(router, lambda now, notes: router.engine.decline(
            str(contact_id), str(agent_id), now), about=(contact_id, agent_id))

    async def wrap_up(self, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                      agent_id: uuid.UUID) -> Result:
        router = await self.router(tenant_id)

        def operation(now: float, notes: Notes) -> Outcome | None:
            self._check_agent(router, contact_id, agent_id)
            router.engine.wrap_up(str(contact_id))
            return None

        return await self._run(router, operation, about=(contact_id, agent_id))

    async def complete(self, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                       agent_id: uuid.UUID | None) -> Result:
        router = await self.router(tenant_id)

        def operation(now: float, notes: Notes) -> Outcome:
            if agent_id is not None:
                self._check_agent(router, contact_id, agent_id)
            notes.final[str(contact_id)] = "completed"
            return router.engine.complete(str(contact_id), now)

        return await self._run(router, operation, about=(contact_id, agent_id))

    async def cancel(self, tenant_id: uuid.UUID, contact_id: uuid.UUID, *,
                     reason: str = "cancelled") -> Result:
        """The customer left (abandoned while waiting or ringing) or it was withdrawn."""
        router = await self.router(tenant_id)

        def operation(now: float, notes: Notes) -> Outcome:
            contact = router.snapshot.contacts.get(str(contact_id))
            if contact is None:
                raise RoutingError("the contact is not being routed")
            if contact.status in (ContactStatus.QUEUED, ContactStatus.OFFERED):
                notes.final[contact.id] = "abandoned" if reason == "abandoned" else "cancelled"
                return router.engine.abandon(contact.id, now)
            notes.final[contact.id] = "cancelled"
            return router.engine.cancel(contact.id, now)

        return await self._run(router, operation, about=(contact_id,))

    async def transfer(self, tenant_id: uuid.UUID, contact_id: uuid.UUID, *,
                       by_agent: uuid.UUID | None, queue_id: str | None = None,
                       required_skills: dict[str, int] | None = None,
                       agent_id: str | None = None,
                       not_before: datetime | None = None) -> Result:
        """To an agent, a queue, or skills (in the contact's queue or the one named): the
        same contact goes back in the queues at its age, its agent is freed. With
        ``not_before`` it is offered to nobody before that time (a callback that failed
        to reach the customer waits out the pause before its next attempt)."""
        held = not_before.timestamp() if not_before is not None else None
        router = await self.router(tenant_id)

        def operation(now: float, notes: Notes) -> Outcome:
            contact = router.snapshot.contacts.get(str(contact_id))
            if contact is None:
                raise RoutingError("the contact is not being routed")
            if by_agent is not None:
                self._check_agent(router, contact_id, by_agent)
            notes.details[contact.id] = {"kind": "transferred", "from": contact.agent_id,
                                         "to_queue": queue_id, "to_agent": agent_id,
                                         "skills": required_skills or {},
                                         **({"not_before": held} if held else {})}
            if agent_id is not None and queue_id is None and not required_skills:
                return router.engine.requeue(contact.id, now, target_agent=agent_id,
                                             not_before=held)
            target = queue_id or contact.queue_id
            if target is None:
                raise RoutingError("name a queue to transfer to")
            placement = Placement(
                queue_id=target, required_skills=required_skills or {}, agent_expression="",
                priority=contact.own_priority, filter_name="transfer", step_index=None,
                next_change=None)
            return router.engine.requeue(contact.id, now, placement=placement,
                                         target_agent=agent_id, not_before=held)

        return await self._run(router, operation, about=(contact_id, by_agent))

    async def set_presence(self, tenant_id: uuid.UUID, agent_id: uuid.UUID,
                           presence: Presence, *, reason: str | None = None) -> Result:
        router = await self.router(tenant_id)
        if str(agent_id) not in router.snapshot.agents:
            await self.refresh_agents(tenant_id, [agent_id])
            if str(agent_id) not in router.snapshot.agents:
                raise RoutingError("this user cannot take contacts")
        gone = self._gone_since.get(tenant_id, {})
        gone.pop(str(agent_id), None)
        return await self._run(router, lambda now, notes: router.engine.set_presence(
            str(agent_id), presence, now, reason=reason))

    @staticmethod
    def _check_agent(router: TenantRouter, contact_id: uuid.UUID, agent_id: uuid.UUID) -> None:
        contact = router.snapshot.contacts.get(str(contact_id))
        if contact is None or contact.agent_id != str(agent_id):
            raise RoutingError("this contact is not assigned to you")

    async def _run(self, router: TenantRouter,
                   operation: Callable[[float, Notes], Outcome | None], *,
                   about: Sequence[uuid.UUID | None] = ()) -> Result:
        try:
            return await self._attempt(router, operation)
        except (RoutingError, RoutingConflict):
            # Refused on this process's snapshot, which may not yet have applied what
            # another process committed just before (the agent accepted there and
            # completes here), or decided again and again on records that had changed:
            # catch up with the log, compare the records the operation is about with the
            # store itself, and decide once more before saying no.
            caught_up = await self._catch_up(router)
            ids = [str(i) for i in about if i is not None]
            repaired = await router.resync([contact_key(i) for i in ids]
                                           + [agent_key(i) for i in ids]) if ids else False
            if not caught_up and not repaired:
                raise
        return await self._attempt(router, operation)

    async def _catch_up(self, router: TenantRouter, *, limit: float = 5.0) -> bool:
        """Wait until the snapshot has applied every commit made so far; False when it
        already had (a refusal then stands)."""
        tail = _log_position(await self.store.tail_id(router.tenant))
        if _log_position(router.cursor) >= tail:
            return False
        for _ in range(int(limit / 0.01)):  # the log follower wakes on every commit
            if _log_position(router.cursor) >= tail:
                break
            await asyncio.sleep(0.01)
        return True

    @staticmethod
    async def _attempt(router: TenantRouter,
                       operation: Callable[[float, Notes], Outcome | None]) -> Result:
        try:
            return await router.run(operation)
        except TransitionError as error:
            raise RoutingError(str(error)) from error
        except KeyError as error:
            raise RoutingError(f"unknown agent or contact {error}") from error

    # --- connections ---------------------------------------------------------------------

    async def connection_opened(self, tenant_id: uuid.UUID, agent_id: uuid.UUID,
                                connection: str) -> None:
        await self.router(tenant_id)
        await self.store.connection_opened(str(tenant_id), str(agent_id), connection,
                                           self.process)
        self._gone_since.get(tenant_id, {}).pop(str(agent_id), None)

    async def pending_offers(self, tenant_id: uuid.UUID,
                             agent_id: uuid.UUID) -> list[dict[str, Any]]:
        """The offers waiting for this agent's answer, as ``routing.offer`` payloads,
        oldest first, once this process has applied every commit made so far: what a
        console that just connected, or whose events may have been lost, must be told."""
        router = await self.router(tenant_id)
        await self._catch_up(router)
        agent = str(agent_id)
        waiting = sorted((c for c in router.snapshot.contacts.values()
                          if c.status == ContactStatus.OFFERED and agent in c.offered_to),
                         key=lambda c: (c.created_at, c.id))
        return [offer_payload(c.id, c.channel, c.queue_id, c.offer_expires_at, c)
                for c in waiting]

    async def connection_closed(self, tenant_id: uuid.UUID, agent_id: uuid.UUID,
                                connection: str) -> None:
        await self.store.connection_closed(str(tenant_id), connection)
        live = await self.store.live_agents(str(tenant_id))
        if str(agent_id) not in live:
            await self._agent_gone(tenant_id, str(agent_id))

    async def _agent_gone(self, tenant_id: uuid.UUID, agent_id: str) -> None:
        """The agent's last console is gone: their offers go back to the queue at once
        (they cannot answer them); what they handle waits for the grace period."""
        router = await self.router(tenant_id)
        self._gone_since.setdefault(tenant_id, {}).setdefault(agent_id, self.clock())

        def operation(now: float, notes: Notes) -> Outcome:
            outcome = Outcome()
            for contact in list(router.snapshot.contacts.values()):
                if contact.status == ContactStatus.OFFERED and agent_id in contact.offered_to:
                    outcome.extend(router.engine.decline(contact.id, agent_id, now))
            return outcome

        await self._run(router, operation)

    async def _agent_lost(self, router: TenantRouter, agent_id: str) -> None:
        """Gone for the whole grace period: offline, and their contacts go back to the
        queues (the same contacts, at their age); after-contact work simply ends."""

        def operation(now: float, notes: Notes) -> Outcome:
            outcome = Outcome()
            for contact in list(router.snapshot.contacts.values()):
                if contact.status == ContactStatus.OFFERED and agent_id in contact.offered_to:
                    outcome.extend(router.engine.decline(contact.id, agent_id, now))
                elif contact.agent_id == agent_id and contact.status == ContactStatus.WRAP_UP:
                    notes.final[contact.id] = "completed"
                    outcome.extend(router.engine.complete(contact.id, now))
                elif contact.agent_id == agent_id and contact.status == ContactStatus.ASSIGNED:
                    notes.details[contact.id] = {"kind": "requeued", "reason": "agent lost"}
                    outcome.extend(router.engine.requeue(contact.id, now))
            outcome.extend(router.engine.set_presence(agent_id, Presence.OFFLINE, now))
            return outcome

        await self._run(router, operation)

    # --- background work -------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            try:
                await self.store.heartbeat(self.process, self.timing.heartbeat * 3)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("heartbeat failed")
            await asyncio.sleep(self.timing.heartbeat)

    async def _follow_log(self) -> None:
        while True:
            try:
                cursors = {r.tenant: r.cursor for r in self.routers.values()}
                found = await self.store.read_log(cursors, block=0.5)
                for tenant, entries in found.items():
                    router = self.routers.get(uuid.UUID(tenant))
                    if router is None:
                        continue
                    async with router.lock:
                        router.apply(entries)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the routing log failed")
                await asyncio.sleep(0.5)

    def _leads(self, tenant_id: uuid.UUID) -> bool:
        return self._leading.get(tenant_id, 0.0) > time.monotonic()

    def _due(self, tenant_id: uuid.UUID, duty: str, every: float) -> bool:
        now = time.monotonic()
        if now - self._last.get((tenant_id, duty), 0.0) < every:
            return False
        self._last[(tenant_id, duty)] = now
        return True

    async def _steward(self) -> None:
        while True:
            for tenant_id, router in list(self.routers.items()):
                try:
                    await self._stewardship(tenant_id, router)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("steward duties failed for a tenant")
            await asyncio.sleep(self.timing.tick)

    async def _stewardship(self, tenant_id: uuid.UUID, router: TenantRouter) -> None:
        now = self.clock()
        if self._due(tenant_id, "stats", 1.0):
            router.refresh_stats(now)
        if self._due(tenant_id, "lease", self.timing.lease / 5):
            if await self.store.acquire(f"steward:{tenant_id}", self.process, self.timing.lease):
                self._leading[tenant_id] = time.monotonic() + self.timing.lease * 0.8
            else:
                self._leading.pop(tenant_id, None)
        if not self._leads(tenant_id):
            router.pending = FollowUp()
            return
        if self._due(tenant_id, "hours", 30.0):
            self._apply_hours(router)
        next_timer = router.engine.next_timer()
        if next_timer is not None and next_timer <= now:
            await self._run(router, lambda at, notes: router.engine.advance(at))
        if router.pending.contacts or router.pending.agents:
            pending, router.pending = router.pending, FollowUp()
            await self._run(router, lambda at, notes: router.engine.follow(pending, at))
        ended = [c for c, until in router.wrap_up_until.items() if until <= now]
        for contact_id in ended:
            with contextlib.suppress(RoutingError):
                await self.complete(tenant_id, uuid.UUID(contact_id), None)
        if self._due(tenant_id, "connections", 1.0):
            await self._check_connections(tenant_id, router)
        await self._record(tenant_id)
        if self._due(tenant_id, "sweep", self.timing.sweep):
            await self._sweep(tenant_id, router)

    async def _check_connections(self, tenant_id: uuid.UUID, router: TenantRouter) -> None:
        live = await self.store.live_agents(router.tenant)
        gone = self._gone_since.setdefault(tenant_id, {})
        now = self.clock()
        for agent_id, agent in list(router.snapshot.agents.items()):
            if agent.presence == Presence.OFFLINE or agent_id in live:
                gone.pop(agent_id, None)
                continue
            if agent_id not in gone or any(
                    agent_id in c.offered_to for c in router.snapshot.contacts.values()):
                # Offers made to them since (their presence still says available during
                # the grace period) cannot be answered either: taken back too.
                await self._agent_gone(tenant_id, agent_id)
            elif now - gone[agent_id] >= self.timing.grace:
                gone.pop(agent_id, None)
                await self._agent_lost(router, agent_id)

    async def _record(self, tenant_id: uuid.UUID) -> str:
        """Write the log to the database, from where the last steward stopped; the log
        position recorded so far (by this steward or another)."""
        name = f"recorded:{tenant_id}"
        cursor = await self.store.get_value(name) or "0-0"
        while True:
            found = await self.store.read_log({str(tenant_id): cursor}, count=500)
            entries = found.get(str(tenant_id), [])
            if not entries:
                return cursor
            try:
                async with self._unit_of_work(tenant_id=tenant_id) as session:
                    await repo.record(session, tenant_id, entries)
            except IntegrityError:
                # A steward whose lease lapsed under load recorded the same entries at the
                # same moment; its transaction won, ours is rolled back whole (so nothing
                # is counted twice), and the next round skips what it wrote.
                logger.info("routing log entries recorded by another steward meanwhile")
                return await self.store.get_value(name) or "0-0"
            cursor = entries[-1].id
            await self.store.set_value(name, cursor)

    async def _sweep(self, tenant_id: uuid.UUID, router: TenantRouter) -> None:
        """Route stored contacts the state store does not know. The log is recorded up to
        a point taken *after* reading the store, so a contact that left the store before
        that point already shows as finished in the database."""
        async with self._unit_of_work(tenant_id=tenant_id) as session:
            rows = await repo.unfinished_contact_times(session, tenant_id)
        horizon = self.clock() - 5.0
        candidates = [contact_id for contact_id, created_at in rows
                      if created_at.timestamp() < horizon]
        if not candidates:
            return
        fresh = await self.store.fetch(router.tenant, [f"c:{c}" for c in candidates])
        missing = [c for c in candidates if fresh.get(f"c:{c}") is None]
        if not missing:
            return
        tail = await self.store.tail_id(router.tenant)
        # Only once the database holds the log up to the read: a contact that left the
        # store before it (completed, say) must show as finished, not be routed again.
        # Another steward may be recording it right now (a lease that moved under load):
        # then the next round decides.
        if _log_position(await self._record(tenant_id)) < _log_position(tail):
            return
        async with self._unit_of_work(tenant_id=tenant_id) as session:
            unknown = await repo.unfinished_contacts(session, tenant_id, missing)
        for contact in unknown:
            if str(contact.id) in router.snapshot.contacts:
                continue
            logger.warning("re-routing a stored contact the routing state did not know")
            with contextlib.suppress(RoutingError):
                await self._arrive(router, repo.contact_state(contact), reason="recovered")


def _log_position(log_id: str) -> tuple[int, int]:
    millis, _, sequence = log_id.partition("-")
    return int(millis), int(sequence or 0)
