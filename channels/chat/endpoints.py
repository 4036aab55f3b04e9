"""The agent's and the supervisor's side of chat (``/api/v1/conversations``).

Only the agent the conversation's routing contact is assigned to, or a supervisor or
admin of the tenant, may read or write it; another tenant's ids are not found.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, UploadFile, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.chat import events as ev
from plateaux.channels.chat import repository as repo
from plateaux.channels.chat import service as svc
from plateaux.channels.chat.embed_endpoints import _read_upload, attachment_response
from plateaux.channels.chat.live import LiveChat, admit
from plateaux.channels.chat.models import Conversation, MessageKind
from plateaux.channels.chat.schemas import (
    AgentMessageIn,
    AttachmentOut,
    ConversationDetail,
    ConversationOut,
    MessageOut,
    PageOut,
    ReadIn,
    ReadOut,
    TypingIn,
    VisitorOut,
    WhisperIn,
)
from plateaux.channels.chat.senders import AgentSender
from plateaux.embed import service as embed
from plateaux.embed.models import Visitor
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, ServicesDep, require_scope
from plateaux.platform.errors import Forbidden, ProblemError
from plateaux.platform.services import Services
from plateaux.routing import contact_service
from plateaux.routing.contact_endpoints import _websocket_subject
from plateaux.routing.models import Contact

router = APIRouter(prefix="/conversations", tags=["chat"])

Reader = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]


async def _load(session: AsyncSession, subject: Subject,
                conversation_id: uuid.UUID) -> tuple[Conversation, svc.Actor]:
    return await svc.conversation_for_agent(session, subject, conversation_id)


@router.get("/{conversation_id}", response_model=ConversationDetail)
async def get_conversation(conversation_id: uuid.UUID, subject: Reader,
                           session: DbSession) -> ConversationDetail:
    """The conversation, its routing contact (live status), the visitor and their pages."""
    conversation, _ = await _load(session, subject, conversation_id)
    contact_out = None
    if conversation.contact_id is not None:
        contact = await session.get(Contact, conversation.contact_id)
        if contact is not None:
            contact_out = await contact_service.contact_out(session, contact)
    visitor_out, pages = None, []
    if conversation.visitor_id is not None:
        visitor = await session.get(Visitor, conversation.visitor_id)
        if visitor is not None and visitor.tenant_id == subject.tenant_id:
            visitor_out = VisitorOut.model_validate(visitor, from_attributes=True)
            views = await embed.pages_viewed(session, subject.tenant_id, visitor.id)
            pages = [PageOut(url=v.url, title=v.title, at=v.at) for v in views]
    return ConversationDetail(
        conversation=ConversationOut.model_validate(conversation, from_attributes=True),
        contact=contact_out, visitor=visitor_out, pages_viewed=pages,
        contact_name=conversation.contact_name, contact_email=conversation.contact_email)


@router.get("/{conversation_id}/messages", response_model=list[MessageOut])
async def list_messages(conversation_id: uuid.UUID, subject: Reader, session: DbSession,
                        after: Annotated[int, Query(ge=0)] = 0,
                        limit: Annotated[int, Query(ge=1, le=repo.PAGE)] = 100,
                        ) -> list[MessageOut]:
    """Messages after ``after``, notes and whispers included, oldest first."""
    conversation, _ = await _load(session, subject, conversation_id)
    rows = await svc.messages(session, conversation, after=after, for_visitor=False,
                              limit=limit)
    return [MessageOut.model_validate(ev.message_frame(m)) for m in rows]


@router.post("/{conversation_id}/messages", response_model=MessageOut, status_code=201)
async def post_message(conversation_id: uuid.UUID, body: AgentMessageIn, subject: Reader,
                       session: DbSession, response: Response) -> MessageOut:
    """A reply to the visitor, or an internal note (``kind: note``). Sending again with the
    same ``client_id`` returns the stored message (200)."""
    _, actor = await _load(session, subject, conversation_id)
    message, created = await svc.send_message(
        session, conversation_id, subject.tenant_id, actor, text=body.text,
        client_id=body.client_id, kind=MessageKind(body.kind),
        attachment_ids=body.attachments)
    if not created:
        response.status_code = 200
    return MessageOut.model_validate(ev.message_frame(message))


@router.post("/{conversation_id}/whisper", response_model=MessageOut, status_code=201)
async def whisper(conversation_id: uuid.UUID, body: WhisperIn, subject: Reader,
                  session: DbSession, response: Response) -> MessageOut:
    """A supervisor's word to the agent; the visitor never sees it."""
    _, actor = await _load(session, subject, conversation_id)
    if not svc.supervises(subject):
        raise Forbidden("Only a supervisor may whisper.")
    actor = svc.Actor(author_type=svc.AuthorType.SUPERVISOR, id=actor.id, name=actor.name)
    message, created = await svc.send_message(
        session, conversation_id, subject.tenant_id, actor, text=body.text,
        client_id=body.client_id, kind=MessageKind.WHISPER)
    if not created:
        response.status_code = 200
    return MessageOut.model_validate(ev.message_frame(message))


@router.post("/{conversation_id}/typing", status_code=204)
async def typing(conversation_id: uuid.UUID, body: TypingIn, subject: Reader,
                 session: DbSession, services: ServicesDep) -> Response:
    conversation, actor = await _load(session, subject, conversation_id)
    await svc.typing(services, conversation, actor, body.typing)
    return Response(status_code=204)


@router.post("/{conversation_id}/read", response_model=ReadOut)
async def mark_read(conversation_id: uuid.UUID, body: ReadIn, subject: Reader,
                    session: DbSession) -> ReadOut:
    conversation, actor = await _load(session, subject, conversation_id)
    return ReadOut(seq=await svc.mark_read(session, conversation, actor, body.seq))


@router.post("/{conversation_id}/end", status_code=204)
async def end_conversation(conversation_id: uuid.UUID, subject: Reader,
                           session: DbSession) -> Response:
    """End the chat; its routing contact is completed (or cancelled while it waited)."""
    conversation, _ = await _load(session, subject, conversation_id)
    await svc.end(session, conversation, by="agent")
    return Response(status_code=204)


@router.post("/{conversation_id}/attachments", response_model=AttachmentOut,
             status_code=201)
async def upload(conversation_id: uuid.UUID, file: UploadFile, subject: Reader,
                 session: DbSession, services: ServicesDep) -> AttachmentOut:
    conversation, actor = await _load(session, subject, conversation_id)
    data = await _read_upload(file, services)
    attachment = await svc.upload(session, conversation, actor,
                                  filename=file.filename or "file",
                                  content_type=file.content_type or "", data=data)
    return AttachmentOut.model_validate(svc.attachment_ref(attachment))


@router.get("/{conversation_id}/attachments/{attachment_id}")
async def download(conversation_id: uuid.UUID, attachment_id: uuid.UUID, subject: Reader,
                   session: DbSession) -> Response:
    conversation, _ = await _load(session, subject, conversation_id)
    attachment, data = await svc.download(session, conversation, attachment_id)
    return attachment_response(attachment.filename, attachment.content_type, data)


@router.websocket("/{conversation_id}/ws")
async def agent_socket(websocket: WebSocket, conversation_id: uuid.UUID,
                       after: int = 0) -> None:
    """The conversation live for its agent, or a supervisor watching: the visitor's
    frames plus notes, whispers and the visitor's page changes."""
    services: Services = websocket.app.state.services
    subject = await _websocket_subject(websocket, services)
    await websocket.accept()
    if subject is None or not subject.has(Scope.CONTACTS_READ):
        await websocket.close(code=4401)
        return
    if services.routing is not None:
        # Authorising reads the tenant's router, whose first load in this process takes
        # connections of its own: loaded before this socket holds one (see LiveChat._status).
        await services.routing.router(subject.tenant_id)
    try:
        sender = await _agent_sender(services, subject, conversation_id)
        await admit(services, sender)
    except ProblemError as error:
        await websocket.close(code=4000 + error.status)
        return
    live = LiveChat(websocket, services, sender=sender, after=after)
    with contextlib.suppress(RuntimeError):
        await live.run()
        await websocket.close()


async def _agent_sender(services: Services, subject: Subject,
                        conversation_id: uuid.UUID) -> AgentSender:
    """The agent or supervisor, authorised for this conversation. (A function of its own,
    so the unit of work and what it read are not kept alive by the socket's frame.)"""
    async with services.unit_of_work(tenant_id=subject.tenant_id) as session:
        conversation, actor = await _load(session, subject, conversation_id)
    # What the visitor sees too, and what only agents see (events.py).
    audiences = [ev.public_audience(conversation.id), ev.agents_audience(conversation.id)]
    if conversation.contact_id is not None:
        audiences.append(ev.contact_audience(conversation.contact_id))
    if conversation.visitor_id is not None:
        audiences.append(embed.visitor_audience(conversation.visitor_id))
    return AgentSender(services, subject, conversation, actor, audiences=audiences)
