"""The visitor's side of chat, for the widget page (``/embed/v1``).

The widget's requests carry the platform's own Origin (the iframe is served from it); a
request from any other origin than the site's allowed domains is refused. The visitor is
known by the token the widget keeps (``X-Visitor-Token``, or ``visitor_token`` in the
WebSocket's query, which browsers cannot give headers).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    Header,
    Query,
    Request,
    Response,
    UploadFile,
    WebSocket,
)
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.chat import events as ev
from plateaux.channels.chat import repository as repo
from plateaux.channels.chat import service as svc
from plateaux.channels.chat.live import LiveChat, admit
from plateaux.channels.chat.models import Conversation
from plateaux.channels.chat.schemas import (
    AttachmentOut,
    ConversationCreated,
    ConversationIn,
    LeaveMessageIn,
    LeftMessage,
    MessageIn,
    MessageOut,
    RatingIn,
    ReadIn,
    ReadOut,
    TranscriptIn,
    TypingIn,
)
from plateaux.channels.chat.senders import VisitorSender
from plateaux.channels.email import form as email_form
from plateaux.embed import service as embed
from plateaux.embed.domains import origin_allowed
from plateaux.embed.models import Visitor, Widget
from plateaux.platform.database import run_post_commit
from plateaux.platform.deps import DbSession, ServicesDep
from plateaux.platform.errors import Forbidden, ProblemError, Unauthorized
from plateaux.platform.ratelimit import Limit
from plateaux.platform.services import Services

router = APIRouter(prefix="/embed/v1", tags=["chat (visitor)"])

PUBLIC_LIMIT = Limit(count=300, seconds=60)  # per site and client address
CREATE_LIMIT = Limit(count=10, seconds=3600)  # conversations per visitor
LEAVE_LIMIT = Limit(count=5, seconds=3600)  # left messages per site and address
TRANSCRIPT_LIMIT = Limit(count=3, seconds=3600)  # per conversation
MAX_UPLOAD_OVERHEAD = 64 * 1024  # multipart framing around the file


def _origin_ok(origin: str | None, widget: Widget, services: Services) -> bool:
    if not origin:
        return True  # not a browser's cross-origin request (a server, a test client)
    if origin.rstrip("/") == services.settings.base_url:
        return True
    return origin_allowed(origin, list(widget.allowed_domains or []))


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _site(request: Request, key: str, session: AsyncSession,
                services: Services) -> Widget:
    widget = await embed.widget_for_key(session, key)
    if not _origin_ok(request.headers.get("origin"), widget, services):
        raise Forbidden("This site does not allow requests from that origin.")
    await services.limiter.check(f"embed:{widget.id}:{_address(request)}", PUBLIC_LIMIT)
    return widget


async def visitor_of(request: Request, key: str, session: DbSession, services: ServicesDep,
                     x_visitor_token: Annotated[str | None, Header()] = None,
                     ) -> tuple[Widget, Visitor]:
    widget = await _site(request, key, session, services)
    if not x_visitor_token:
        raise Unauthorized("Send the visitor token (X-Visitor-Token).")
    _, visitor = await embed.visitor_from_token(session, public_key=widget.public_key,
                                                visitor_token=x_visitor_token)
    return widget, visitor


VisitorDep = Annotated[tuple[Widget, Visitor], Depends(visitor_of)]


async def _conversation(session: AsyncSession, found: tuple[Widget, Visitor],
                        conversation_id: uuid.UUID) -> Conversation:
    widget, visitor = found
    return await svc.conversation_for_visitor(session, widget, visitor, conversation_id)


@router.post("/sites/{key}/conversations", response_model=ConversationCreated,
             status_code=201)
async def start_conversation(body: ConversationIn, found: VisitorDep, session: DbSession,
                             services: ServicesDep) -> ConversationCreated:
    """Start a chat: stored with its first message, then routed to the site's chat queue
    or workflow. Position and wait follow on the conversation's WebSocket."""
    widget, visitor = found
    await services.limiter.check(f"embed:conv:{visitor.id}", CREATE_LIMIT,
                                 what="conversations")
    conversation = await svc.start_conversation(
        session, widget, visitor, text=body.text, language=body.language,
        attributes=body.attributes)
    # Committed and routed now, so the answer can say where the visitor stands.
    await session.commit()
    await run_post_commit(session)
    status = await svc.routing_status(session, conversation)
    return ConversationCreated(
        conversation_id=conversation.id, status=status["contact_status"] or "queued",
        position=status["position"], estimated_wait_seconds=status["estimated_wait_seconds"])


@router.get("/sites/{key}/conversations/{conversation_id}/messages",
            response_model=list[MessageOut])
async def list_messages(conversation_id: uuid.UUID, found: VisitorDep, session: DbSession,
                        after: Annotated[int, Query(ge=0)] = 0,
                        limit: Annotated[int, Query(ge=1, le=repo.PAGE)] = 100,
                        ) -> list[MessageOut]:
    conversation = await _conversation(session, found, conversation_id)
    rows = await svc.messages(session, conversation, after=after, for_visitor=True,
                              limit=limit)
    return [MessageOut.model_validate(ev.message_frame(m)) for m in rows]


@router.post("/sites/{key}/conversations/{conversation_id}/messages",
             response_model=MessageOut, status_code=201)
async def post_message(conversation_id: uuid.UUID, body: MessageIn, found: VisitorDep,
                       session: DbSession, response: Response) -> MessageOut:
    """The WebSocket's ``message`` frame over HTTP (a widget without a socket)."""
    await _conversation(session, found, conversation_id)
    widget, visitor = found
    message, created = await svc.send_message(
        session, conversation_id, widget.tenant_id, svc.visitor_actor(visitor),
        text=body.text, client_id=body.client_id, attachment_ids=body.attachments)
    if not created:
        response.status_code = 200
    return MessageOut.model_validate(ev.message_frame(message))


@router.post("/sites/{key}/conversations/{conversation_id}/typing", status_code=204)
async def typing(conversation_id: uuid.UUID, body: TypingIn, found: VisitorDep,
                 session: DbSession, services: ServicesDep) -> Response:
    conversation = await _conversation(session, found, conversation_id)
    await svc.typing(services, conversation, svc.visitor_actor(found[1]), body.typing)
    return Response(status_code=204)


@router.post("/sites/{key}/conversations/{conversation_id}/read", response_model=ReadOut)
async def mark_read(conversation_id: uuid.UUID, body: ReadIn, found: VisitorDep,
                    session: DbSession) -> ReadOut:
    conversation = await _conversation(session, found, conversation_id)
    return ReadOut(seq=await svc.mark_read(session, conversation,
                                           svc.visitor_actor(found[1]), body.seq))


@router.post("/sites/{key}/conversations/{conversation_id}/end", status_code=204)
async def end_conversation(conversation_id: uuid.UUID, found: VisitorDep,
                           session: DbSession) -> Response:
    conversation = await _conversation(session, found, conversation_id)
    await svc.end(session, conversation, by="visitor")
    return Response(status_code=204)


@router.post("/sites/{key}/conversations/{conversation_id}/rating", status_code=204)
async def rate(conversation_id: uuid.UUID, body: RatingIn, found: VisitorDep,
               session: DbSession) -> Response:
    conversation = await _conversation(session, found, conversation_id)
    await svc.rate(session, conversation, score=body.score, comment=body.comment)
    return Response(status_code=204)


@router.post("/sites/{key}/conversations/{conversation_id}/transcript", status_code=202)
async def transcript(conversation_id: uuid.UUID, body: TranscriptIn, found: VisitorDep,
                     session: DbSession, services: ServicesDep) -> Response:
    """Mail the conversation to the visitor (sent once this request has committed)."""
    conversation = await _conversation(session, found, conversation_id)
    await services.limiter.check(f"embed:transcript:{conversation.id}", TRANSCRIPT_LIMIT,
                                 what="transcripts")
    await svc.send_transcript(session, conversation, email=str(body.email))
    return Response(status_code=202)


@router.post("/sites/{key}/conversations/{conversation_id}/attachments",
             response_model=AttachmentOut, status_code=201)
async def upload(conversation_id: uuid.UUID, file: UploadFile, request: Request,
                 found: VisitorDep, session: DbSession, services: ServicesDep,
                 ) -> AttachmentOut:
    conversation = await _conversation(session, found, conversation_id)
    data = await _read_upload(file, services)
    attachment = await svc.upload(session, conversation, svc.visitor_actor(found[1]),
                                  filename=file.filename or "file",
                                  content_type=file.content_type or "", data=data)
    return AttachmentOut.model_validate(svc.attachment_ref(attachment))


async def _read_upload(file: UploadFile, services: Services) -> bytes:
    # Read one byte past the limit: enough to know it is too large without reading it all.
    data = await file.read(services.settings.attachment_max_bytes + 1)
    return data


@router.get("/sites/{key}/conversations/{conversation_id}/attachments/{attachment_id}")
async def download(conversation_id: uuid.UUID, attachment_id: uuid.UUID, found: VisitorDep,
                   session: DbSession) -> Response:
    conversation = await _conversation(session, found, conversation_id)
    attachment, data = await svc.download(session, conversation, attachment_id)
    return attachment_response(attachment.filename, attachment.content_type, data)


def attachment_response(filename: str, content_type: str, data: bytes) -> Response:
    from urllib.parse import quote

    # Only images are shown inline; anything else is a download, never a page.
    disposition = "inline" if content_type.startswith("image/") else "attachment"
    return Response(content=data, media_type=content_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    })


@router.post("/sites/{key}/messages", response_model=LeftMessage, status_code=201)
async def leave_message(key: str, body: LeaveMessageIn, request: Request, session: DbSession,
                        services: ServicesDep,
                        x_visitor_token: Annotated[str | None, Header()] = None,
                        ) -> LeftMessage:
    """When nobody can answer (closed, or the routing engine overflowed): a message that
    becomes a routed contact, answered later."""
    widget = await _site(request, key, session, services)
    await services.limiter.check(f"embed:leave:{widget.id}:{_address(request)}", LEAVE_LIMIT,
                                 what="messages")
    visitor = None
    if x_visitor_token:
        with contextlib.suppress(ProblemError):
            _, visitor = await embed.visitor_from_token(
                session, public_key=widget.public_key, visitor_token=x_visitor_token)
    # With a mailbox to answer from, the form is an email (same contact as a mail).
    by_email = await email_form.leave_message(session, widget, visitor, name=body.name,
                                              email=str(body.email), text=body.text)
    if by_email is not None:
        return LeftMessage(conversation_id=by_email.thread_id, contact_id=by_email.contact_id)
    conversation = await svc.leave_message(session, widget, visitor, name=body.name,
                                           email=str(body.email), text=body.text)
    assert conversation.contact_id is not None
    return LeftMessage(conversation_id=conversation.id, contact_id=conversation.contact_id)


@router.websocket("/sites/{key}/conversations/{conversation_id}/ws")
async def visitor_socket(websocket: WebSocket, key: str, conversation_id: uuid.UUID,
                         visitor_token: str = "", after: int = 0) -> None:
    services: Services = websocket.app.state.services
    # Accepted before a refusal is sent, so the widget can tell why (close codes).
    await websocket.accept()
    try:
        sender = await _visitor_sender(websocket, services, key, conversation_id,
                                       visitor_token)
        await admit(services, sender)
    except ProblemError as error:
        await websocket.close(code=4000 + error.status)
        return
    live = LiveChat(websocket, services, sender=sender, after=after)
    with contextlib.suppress(RuntimeError):
        await live.run()
        await websocket.close()


async def _visitor_sender(websocket: WebSocket, services: Services, key: str,
                          conversation_id: uuid.UUID, visitor_token: str) -> VisitorSender:
    """The visitor, authorised for this conversation. (A function of its own, so the unit
    of work and what it read are not kept alive by the socket's frame for hours.)"""
    async with services.unit_of_work() as session:
        widget = await embed.widget_for_key(session, key)
        if not _origin_ok(websocket.headers.get("origin"), widget, services):
            raise Forbidden("origin")
        _, visitor = await embed.visitor_from_token(session, public_key=key,
                                                    visitor_token=visitor_token)
        conversation = await svc.conversation_for_visitor(session, widget, visitor,
                                                          conversation_id)
    audiences = [ev.public_audience(conversation.id), embed.visitor_audience(visitor.id)]
    if conversation.contact_id is not None:
        audiences.append(ev.contact_audience(conversation.contact_id))
    return VisitorSender(conversation, svc.visitor_actor(visitor), widget_id=widget.id,
                         visitor_id=visitor.id, audiences=audiences)
