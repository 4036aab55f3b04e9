"""Rules for routed contacts: what a new contact may name, and who may act on one.

A contact is stored (committed) before it is routed: routing runs once the unit of work
commits, so a crash in between leaves a stored contact that the tenant's steward finds
and routes, never a lost one.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import after_commit
from plateaux.platform.errors import Conflict, NotFound, UnprocessableContent
from plateaux.platform.services import Services
from plateaux.routing.contact_schemas import AgentStateOut, ContactIn, ContactOut, TransferIn
from plateaux.routing.live import RoutingError, RoutingService
from plateaux.routing.models import AwayReason, Contact, ContactEvent, RoutingQueue, RoutingWorkflow
from plateaux.routing.router import Result, RoutingConflict
from plateaux.routing.state import ContactStatus, Presence
from plateaux.tenants.models import Skill, User

SYSTEM_REASONS = frozenset({"missed_offer", "declined_offer"})
DEFAULT_REASONS = frozenset({"break", "lunch", "training", "meeting"})


def routing_of(session: AsyncSession) -> RoutingService:
    services: Services | None = session.info.get("services")
    if services is None or services.routing is None:
        raise RuntimeError("the routing service is not running")
    return services.routing


async def _owned(session: AsyncSession, model: type[RoutingQueue] | type[RoutingWorkflow]
                 | type[User] | type[Skill], tenant_id: uuid.UUID, object_id: uuid.UUID,
                 what: str) -> None:
    found = (await session.scalars(select(model.id).where(
        col(model.tenant_id) == tenant_id, col(model.id) == object_id))).first()
    if found is None:
        raise UnprocessableContent(f"Unknown {what} {object_id}.")


async def create_contact(session: AsyncSession, subject: Subject, body: ContactIn) -> Contact:
    tenant_id = subject.tenant_id
    if body.workflow_id is None and body.queue_id is None and body.agent_id is None:
        raise UnprocessableContent("Name a workflow, a queue or an agent for the contact.")
    if body.workflow_id is not None:
        await _owned(session, RoutingWorkflow, tenant_id, body.workflow_id, "workflow")
    if body.queue_id is not None:
        await _owned(session, RoutingQueue, tenant_id, body.queue_id, "queue")
    if body.agent_id is not None:
        await _owned(session, User, tenant_id, body.agent_id, "agent")
    for skill_id in body.required_skills:
        await _owned(session, Skill, tenant_id, skill_id, "skill")
    contact = Contact(
        tenant_id=tenant_id, channel=body.channel.value, attributes=dict(body.attributes),
        priority=body.priority, workflow_id=body.workflow_id, queue_id=body.queue_id,
        required_skills={str(k): v for k, v in body.required_skills.items()},
        requested_agent_id=body.agent_id, customer_key=body.customer_key)
    session.add(contact)
    await session.flush()
    routing = routing_of(session)
    contact_id = contact.id

    async def route() -> None:
        # Stored already: if routing refuses it now, it stays visible as queued; if the
        # routing state is too contested this instant, the steward's sweep routes it.
        with contextlib.suppress(RoutingError, RoutingConflict):
            await routing.arrive(tenant_id, contact_id)

    after_commit(session, route)
    return contact


async def get_contact(session: AsyncSession, subject: Subject, contact_id: uuid.UUID) -> Contact:
    found = (await session.scalars(select(Contact).where(
        Contact.tenant_id == subject.tenant_id, Contact.id == contact_id))).first()
    if found is None:
        raise NotFound("Contact not found.")
    return found


async def contact_out(session: AsyncSession, contact: Contact) -> ContactOut:
    """The stored contact, with its live status, position and estimated wait."""
    out = ContactOut.model_validate(contact)
    router = await routing_of(session).router(contact.tenant_id)
    live = router.snapshot.contacts.get(str(contact.id))
    if live is not None:
        out.status = live.status.value
        out.agent_id = uuid.UUID(live.agent_id) if live.agent_id else out.agent_id
        out.queue_id = uuid.UUID(live.queue_id) if live.queue_id else out.queue_id
        place = router.position(str(contact.id))
        if place is not None:
            out.position, out.estimated_wait_seconds = place
    return out


async def contact_events(session: AsyncSession, subject: Subject,
                         contact_id: uuid.UUID) -> list[ContactEvent]:
    await get_contact(session, subject, contact_id)
    return list((await session.scalars(select(ContactEvent).where(
        ContactEvent.tenant_id == subject.tenant_id, ContactEvent.contact_id == contact_id)
        .order_by(col(ContactEvent.at), col(ContactEvent.log_id)))).all())


async def run(coroutine: Awaitable[Result]) -> Result:
    """Routing refusals are conflicts with the contact's state, for the client to see; so
    is a state that kept changing under this request (the client may try again)."""
    try:
        return await coroutine
    except (RoutingError, RoutingConflict) as error:
        raise Conflict(str(error)) from error


async def transfer(session: AsyncSession, subject: Subject, contact: Contact,
                   body: TransferIn) -> Result:
    if body.queue_id is None and body.agent_id is None and not body.required_skills:
        raise UnprocessableContent("Name an agent, a queue or skills to transfer to.")
    if body.queue_id is not None:
        await _owned(session, RoutingQueue, subject.tenant_id, body.queue_id, "queue")
    if body.agent_id is not None:
        await _owned(session, User, subject.tenant_id, body.agent_id, "agent")
    for skill_id in body.required_skills:
        await _owned(session, Skill, subject.tenant_id, skill_id, "skill")
    supervising = subject.role in ("admin", "supervisor")
    return await run(routing_of(session).transfer(
        subject.tenant_id, contact.id, by_agent=None if supervising else subject.user_id,
        queue_id=None if body.queue_id is None else str(body.queue_id),
        agent_id=None if body.agent_id is None else str(body.agent_id),
        required_skills={str(k): v for k, v in body.required_skills.items()}))


async def check_reason(session: AsyncSession, tenant_id: uuid.UUID, presence: str,
                       reason: str | None) -> None:
    if presence != Presence.AWAY:
        if reason is not None:
            raise UnprocessableContent("Only 'away' takes a reason.")
        return
    if reason is None:
        return
    codes = set((await session.scalars(select(AwayReason.code).where(
        AwayReason.tenant_id == tenant_id))).all()) or set(DEFAULT_REASONS)
    if reason not in codes:
        raise UnprocessableContent(f"Unknown away reason '{reason}'.")


async def agent_states(session: AsyncSession, tenant_id: uuid.UUID) -> list[AgentStateOut]:
    router = await routing_of(session).router(tenant_id)
    held: dict[str, list[tuple[str, ContactStatus]]] = {}
    for contact in router.snapshot.contacts.values():
        if contact.agent_id is not None:
            held.setdefault(contact.agent_id, []).append((contact.id, contact.status))
        for agent_id in contact.offered_to:
            held.setdefault(agent_id, []).append((contact.id, contact.status))
    states = []
    for agent_id, agent in sorted(router.snapshot.agents.items()):
        mine = held.get(agent_id, [])
        activity = agent.presence.value
        if any(status == ContactStatus.ASSIGNED for _, status in mine):
            activity = "busy"
        elif any(status == ContactStatus.WRAP_UP for _, status in mine):
            activity = "wrap_up"
        since = router.since.get(agent_id)
        states.append(AgentStateOut(
            agent_id=uuid.UUID(agent_id), presence=agent.presence.value,
            reason=agent.away_reason,
            since=None if since is None else datetime.fromtimestamp(since, UTC),
            activity=activity, load=dict(agent.load),
            contacts=[uuid.UUID(c) for c, _ in mine]))
    return states
