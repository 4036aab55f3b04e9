"""Routes for routed contacts, agents' presence, and the agent's live connection."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, WebSocket, WebSocketDisconnect
from sqlmodel import col, func, select

from plateaux.api.idempotency import idempotent_create
from plateaux.api.pagination import Page, Pagination
from plateaux.console.service import check_code as check_wrap_up_code
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, require_scope
from plateaux.platform.errors import Forbidden
from plateaux.platform.services import Services
from plateaux.routing import contact_service as svc
from plateaux.routing.contact_schemas import (
    AgentStateOut,
    CancelIn,
    ContactEventOut,
    ContactIn,
    ContactOut,
    PresenceIn,
    TransferIn,
    WrapUpIn,
)
from plateaux.routing.models import Contact
from plateaux.routing.state import Channel, Presence

router = APIRouter(tags=["routing"])

# How often an agent connection looks whether its subscription may have missed events.
LAPSE_CHECK_SECONDS = 1.0

Reader = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_WRITE))]
StatusName = Literal["queued", "offered", "assigned", "wrap_up", "completed", "abandoned",
                     "cancelled"]


def _agent(subject: Subject) -> uuid.UUID:
    if subject.user_id is None:
        raise Forbidden("Only an agent's own session can do this.")
    return subject.user_id


@router.post("/contacts", response_model=ContactOut, status_code=201)
async def create_contact(body: ContactIn, request: Request, subject: Writer,
                         session: DbSession) -> Response:
    """Store a contact and route it (once stored): chat, email, call, callback or form."""

    async def create() -> ContactOut:
        return ContactOut.model_validate(await svc.create_contact(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/contacts", response_model=Page[ContactOut])
async def list_contacts(
    subject: Reader, session: DbSession, page: Pagination,
    status: Annotated[StatusName | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
    queue_id: Annotated[uuid.UUID | None, Query()] = None,
    customer_key: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ContactOut]:
    query = select(Contact).where(Contact.tenant_id == subject.tenant_id)
    if status is not None:
        query = query.where(Contact.status == status)
    if channel is not None:
        query = query.where(Contact.channel == channel.value)
    if queue_id is not None:
        query = query.where(Contact.queue_id == queue_id)
    if customer_key is not None:
        query = query.where(Contact.customer_key == customer_key)
    total = (await session.scalars(select(func.count()).select_from(query.subquery()))).one()
    rows = (await session.scalars(query.order_by(col(Contact.created_at).desc())
                                  .offset(page.offset).limit(page.limit))).all()
    return Page(items=[ContactOut.model_validate(r) for r in rows], total=total,
                offset=page.offset, limit=page.limit)


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: uuid.UUID, subject: Reader, session: DbSession) -> ContactOut:
    """The contact with its live status; while it waits, its position and estimated wait
    (from the queue's observed answer rate)."""
    return await svc.contact_out(session, await svc.get_contact(session, subject, contact_id))


@router.get("/contacts/{contact_id}/events", response_model=list[ContactEventOut])
async def contact_history(contact_id: uuid.UUID, subject: Reader,
                          session: DbSession) -> list[ContactEventOut]:
    """Every state change, oldest first (recorded within a moment of happening)."""
    events = await svc.contact_events(session, subject, contact_id)
    return [ContactEventOut.model_validate(e) for e in events]


@router.post("/contacts/{contact_id}/transfer", response_model=ContactOut)
async def transfer_contact(contact_id: uuid.UUID, body: TransferIn, subject: Reader,
                           session: DbSession) -> ContactOut:
    """To an agent, a queue or skills: the same contact (billed once) waits again at its
    original age. Its agent, or a supervisor, may transfer it."""
    contact = await svc.get_contact(session, subject, contact_id)
    if subject.role not in ("admin", "supervisor"):
        _agent(subject)
    await svc.transfer(session, subject, contact, body)
    return await svc.contact_out(session, contact)


@router.post("/contacts/{contact_id}/cancel", response_model=ContactOut)
async def cancel_contact(contact_id: uuid.UUID, body: CancelIn, subject: Writer,
                         session: DbSession) -> ContactOut:
    """The customer left (``abandoned``) or the contact is withdrawn (``cancelled``)."""
    contact = await svc.get_contact(session, subject, contact_id)
    await svc.run(svc.routing_of(session).cancel(subject.tenant_id, contact.id,
                                                 reason=body.reason))
    return await svc.contact_out(session, contact)


async def _act(contact_id: uuid.UUID, action: str, subject: Subject,
               session: DbSession, wrap_up: WrapUpIn | None = None) -> ContactOut:
    contact = await svc.get_contact(session, subject, contact_id)
    agent_id = _agent(subject)
    if wrap_up is not None and wrap_up.wrap_up_code is not None:
        await check_wrap_up_code(session, subject, wrap_up.wrap_up_code)
    routing = svc.routing_of(session)
    tenant_id = subject.tenant_id
    if action == "accept":
        await svc.run(routing.accept(tenant_id, contact.id, agent_id))
    elif action == "decline":
        await svc.run(routing.decline(tenant_id, contact.id, agent_id))
    elif action == "wrap-up":
        await svc.run(routing.wrap_up(tenant_id, contact.id, agent_id))
    else:
        await svc.run(routing.complete(tenant_id, contact.id, agent_id))
    if wrap_up is not None and wrap_up.wrap_up_code is not None:
        # Only once the routing accepted the action: the agent held the contact.
        contact.outcome = wrap_up.wrap_up_code
        await session.flush()
    return await svc.contact_out(session, contact)


@router.post("/contacts/{contact_id}/accept", response_model=ContactOut)
async def accept_contact(contact_id: uuid.UUID, subject: Reader,
                         session: DbSession) -> ContactOut:
    """Take the offered contact (the first of several agents offered it wins)."""
    return await _act(contact_id, "accept", subject, session)


@router.post("/contacts/{contact_id}/decline", response_model=ContactOut)
async def decline_contact(contact_id: uuid.UUID, subject: Reader,
                          session: DbSession) -> ContactOut:
    """Refuse the offer: the contact waits again at its age, never offered to you again."""
    return await _act(contact_id, "decline", subject, session)


@router.post("/contacts/{contact_id}/wrap-up", response_model=ContactOut)
async def wrap_up_contact(contact_id: uuid.UUID, subject: Reader, session: DbSession,
                          body: WrapUpIn | None = None) -> ContactOut:
    """After-contact work: the contact keeps its place in your capacity until completed.
    A wrap-up code given here (or at completion) becomes the contact's outcome."""
    return await _act(contact_id, "wrap-up", subject, session, body)


@router.post("/contacts/{contact_id}/complete", response_model=ContactOut)
async def complete_contact(contact_id: uuid.UUID, subject: Reader, session: DbSession,
                           body: WrapUpIn | None = None) -> ContactOut:
    return await _act(contact_id, "complete", subject, session, body)


@router.get("/presence", response_model=list[AgentStateOut])
async def list_presence(subject: Writer, session: DbSession) -> list[AgentStateOut]:
    """Every agent's live state, for supervisors."""
    return await svc.agent_states(session, subject.tenant_id)


@router.get("/me/presence", response_model=AgentStateOut)
async def my_presence(subject: Reader, session: DbSession) -> AgentStateOut:
    agent_id = _agent(subject)
    for state in await svc.agent_states(session, subject.tenant_id):
        if state.agent_id == agent_id:
            return state
    await svc.run(svc.routing_of(session).set_presence(subject.tenant_id, agent_id,
                                                       Presence.OFFLINE))
    states = await svc.agent_states(session, subject.tenant_id)
    return next(s for s in states if s.agent_id == agent_id)


@router.put("/me/presence", response_model=AgentStateOut)
async def set_my_presence(body: PresenceIn, subject: Reader,
                          session: DbSession) -> AgentStateOut:
    """Available, away (with a reason code), busy or offline. Presence also follows the
    console's connections: with none left for the grace period, the agent goes offline."""
    agent_id = _agent(subject)
    await svc.check_reason(session, subject.tenant_id, body.presence, body.reason)
    await svc.run(svc.routing_of(session).set_presence(
        subject.tenant_id, agent_id, Presence(body.presence), reason=body.reason))
    return await my_presence(subject, session)


async def _websocket_subject(websocket: WebSocket, services: Services) -> Subject | None:
    """A bearer token (header), or the console's session cookie from the platform's own
    pages (the origin is checked: a cookie alone must not let another site connect)."""
    from plateaux.platform.auth import sessions
    from plateaux.platform.deps import _subject_from_bearer, _user_subject

    async with services.db.sessionmaker() as session:
        auth = websocket.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            try:
                subject, _ = await _subject_from_bearer(session, services, auth[7:].strip())
            except Exception:
                return None
            return subject
        cookie = websocket.cookies.get(sessions.USER_COOKIE)
        origin = websocket.headers.get("origin", "")
        if not cookie or origin.rstrip("/") != services.settings.base_url:
            return None
        found = await sessions.resolve_user_session(session, cookie)
        if found is None:
            return None
        _, user, user_session = found
        return _user_subject(user, session_hash=user_session.token_hash)


@router.websocket("/agent/connection")
async def agent_connection(websocket: WebSocket) -> None:
    """The agent console's live connection: while one is open the agent counts as
    connected, and their offers and state changes arrive on it."""
    services: Services = websocket.app.state.services
    subject = await _websocket_subject(websocket, services)
    # Accepted before a refusal is sent: closing a handshake not yet accepted answers a
    # bare HTTP 403, and the console could not tell a bad token from any other failure.
    await websocket.accept()
    if subject is None or subject.user_id is None:
        await websocket.close(code=4401)
        return
    routing = services.routing
    if routing is None:
        await websocket.close(code=1011)
        return
    connection = uuid.uuid4().hex
    tenant_id, agent_id = subject.tenant_id, subject.user_id
    async with services.bus.subscribe(tenant_id, [f"user:{agent_id}"]) as events:
        await routing.connection_opened(tenant_id, agent_id, connection)

        async def announce_offers() -> None:
            for payload in await routing.pending_offers(tenant_id, agent_id):
                await websocket.send_json({"type": "routing.offer", "payload": payload})

        async def forward() -> None:
            # The bus may lose events (a reconnection, a full buffer); offers are not in
            # stored sequence numbers a console could resume from, so the pending ones
            # are told again whenever the subscription says it may have missed some.
            seen = events.lapses
            while True:
                event = await events.get(timeout=LAPSE_CHECK_SECONDS)
                if event is None and events.closed:
                    return
                if event is not None:
                    await websocket.send_json({"type": event.type, "payload": event.payload})
                if events.lapses != seen:
                    seen = events.lapses
                    await announce_offers()

        try:
            await websocket.send_json({"type": "connected", "payload": {
                "agent_id": str(agent_id), "connection": connection}})
            # Offers made before this connection (to the agent's other console) are told
            # first; events published since wait in the subscription, so they come after.
            await announce_offers()
        except (WebSocketDisconnect, RuntimeError):
            await routing.connection_closed(tenant_id, agent_id, connection)
            return
        sender = asyncio.create_task(forward())
        try:
            while True:
                message = await websocket.receive_json()
                if isinstance(message, dict) and message.get("type") == "ping":
                    await websocket.send_json({"type": "pong", "payload": {}})
        except (WebSocketDisconnect, ValueError, RuntimeError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            await routing.connection_closed(tenant_id, agent_id, connection)

