"""Email API: mailboxes (admins), the quarantine and bounced addresses (admins), threads
and replies (the serving agent or a supervisor), and a thread's live connection."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import (
    APIRouter,
    Depends,
    Request,
    Response,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)

from plateaux.api.idempotency import idempotent_create
from plateaux.channels.email import events as ev
from plateaux.channels.email import repository as repo
from plateaux.channels.email import service as svc
from plateaux.channels.email.schemas import (
    AttachmentOut,
    BouncedOut,
    ClearBounceIn,
    ConnectionReport,
    MailboxIn,
    MailboxOut,
    MailboxPatch,
    MessageOut,
    QuarantineOut,
    ReplyIn,
    ThreadOut,
    ThreadRef,
)
from plateaux.channels.email.settings import email_settings
from plateaux.channels.email.tasks import FETCH_JOB, fetch_job_id
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, ServicesDep, require_scope
from plateaux.platform.errors import NotFound, PayloadTooLarge, ProblemError
from plateaux.platform.ratelimit import Limit
from plateaux.platform.services import Services
from plateaux.routing import contact_service

router = APIRouter(tags=["email"])

Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]
ContactReader = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]
TEST_LIMIT = Limit(count=20, seconds=300)
SAFE_INLINE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def file_response(filename: str, content_type: str, data: bytes) -> Response:
    # Only plain images are shown inline; anything else (HTML, SVG...) is a download.
    inline = content_type in SAFE_INLINE
    return Response(content=data, media_type=content_type if inline else
                    "application/octet-stream", headers={
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
                               f"filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    })


# --- mailboxes ----------------------------------------------------------------------------


@router.get("/email/mailboxes", response_model=list[MailboxOut])
async def list_mailboxes(subject: Writer, session: DbSession) -> list[MailboxOut]:
    return [MailboxOut.model_validate(m) for m in await repo.mailboxes(session,
                                                                        subject.tenant_id)]


@router.post("/email/mailboxes", response_model=MailboxOut, status_code=201)
async def create_mailbox(body: MailboxIn, request: Request, subject: Writer,
                         session: DbSession) -> Response:
    async def create() -> MailboxOut:
        return MailboxOut.model_validate(await svc.create_mailbox(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/email/mailboxes/{mailbox_id}", response_model=MailboxOut)
async def get_mailbox(mailbox_id: uuid.UUID, subject: Writer, session: DbSession) -> MailboxOut:
    return MailboxOut.model_validate(await repo.get_mailbox(session, subject.tenant_id,
                                                            mailbox_id))


@router.patch("/email/mailboxes/{mailbox_id}", response_model=MailboxOut)
async def update_mailbox(mailbox_id: uuid.UUID, body: MailboxPatch, subject: Writer,
                         session: DbSession) -> MailboxOut:
    mailbox = await repo.get_mailbox(session, subject.tenant_id, mailbox_id)
    return MailboxOut.model_validate(await svc.update_mailbox(session, subject, mailbox, body))


@router.delete("/email/mailboxes/{mailbox_id}", status_code=204, response_class=Response)
async def delete_mailbox(mailbox_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    mailbox = await repo.get_mailbox(session, subject.tenant_id, mailbox_id)
    await svc.delete_mailbox(session, subject, mailbox)
    return Response(status_code=204)


@router.post("/email/mailboxes/{mailbox_id}/test", response_model=ConnectionReport)
async def test_mailbox(mailbox_id: uuid.UUID, subject: Writer, session: DbSession,
                       services: ServicesDep) -> ConnectionReport:
    """Log in to the IMAP and SMTP servers; says which step failed (dns, address,
    connect, tls, login, folder)."""
    mailbox = await repo.get_mailbox(session, subject.tenant_id, mailbox_id)
    await services.limiter.check(f"email:test:{subject.tenant_id}", TEST_LIMIT,
                                 what="connection tests")
    return await svc.check_connection(services, mailbox)


@router.post("/email/mailboxes/{mailbox_id}/fetch", status_code=202, response_class=Response)
async def fetch_now(mailbox_id: uuid.UUID, subject: Writer, session: DbSession,
                    services: ServicesDep) -> Response:
    """Fetch new mail now (once any fetch of this mailbox already running is over)."""
    mailbox = await repo.get_mailbox(session, subject.tenant_id, mailbox_id)
    await services.jobs.enqueue(FETCH_JOB, job_id=fetch_job_id(mailbox.id),
                                tenant_id=str(subject.tenant_id), mailbox_id=str(mailbox.id))
    return Response(status_code=202)


# --- quarantine and bounces ------------------------------------------------------------------


@router.get("/email/quarantine", response_model=list[QuarantineOut])
async def list_quarantine(subject: Writer, session: DbSession) -> list[QuarantineOut]:
    return [QuarantineOut.model_validate(q) for q in await repo.quarantined(session,
                                                                             subject.tenant_id)]


@router.get("/email/quarantine/{quarantine_id}/raw")
async def quarantine_raw(quarantine_id: uuid.UUID, subject: Writer,
                         session: DbSession) -> Response:
    """The message exactly as the server gave it."""
    held = await repo.get_quarantined(session, subject.tenant_id, quarantine_id)
    data = await svc.read_file(session, held.raw_key)
    return file_response(f"quarantined-{held.uid}.eml", "message/rfc822", data)


@router.post("/email/quarantine/{quarantine_id}/discard", status_code=204,
             response_class=Response)
async def discard_quarantined(quarantine_id: uuid.UUID, subject: Writer,
                              session: DbSession) -> Response:
    held = await repo.get_quarantined(session, subject.tenant_id, quarantine_id)
    await svc.discard(session, subject, held)
    return Response(status_code=204)


@router.get("/email/bounced-addresses", response_model=list[BouncedOut])
async def bounced(subject: Writer, session: DbSession) -> list[BouncedOut]:
    return [BouncedOut.model_validate(a) for a in await repo.bounced_addresses(
        session, subject.tenant_id)]


@router.post("/email/bounced-addresses/clear", status_code=204, response_class=Response)
async def clear_bounce(body: ClearBounceIn, subject: Writer, session: DbSession) -> Response:
    await svc.clear_bounce(session, subject, str(body.address))
    return Response(status_code=204)


# --- threads ---------------------------------------------------------------------------------


@router.get("/contacts/{contact_id}/email-thread", response_model=ThreadRef)
async def thread_of_contact(contact_id: uuid.UUID, subject: ContactReader,
                            session: DbSession) -> ThreadRef:
    """Which email thread an email contact holds."""
    contact = await contact_service.get_contact(session, subject, contact_id)
    thread = await repo.thread_of_contact(session, subject.tenant_id, contact.id)
    if thread is None:
        raise NotFound("This contact has no email thread.")
    return ThreadRef(id=thread.id)


@router.get("/email/threads/{thread_id}", response_model=ThreadOut)
async def get_thread(thread_id: uuid.UUID, subject: ContactReader,
                     session: DbSession) -> ThreadOut:
    thread = await svc.thread_for(session, subject, thread_id)
    return await svc.thread_out(session, thread)


@router.post("/email/threads/{thread_id}/replies", response_model=MessageOut, status_code=201)
async def reply(thread_id: uuid.UUID, body: ReplyIn, subject: ContactReader,
                session: DbSession, response: Response) -> MessageOut:
    """Answer the customer: stored in the thread, sent by a job (status on the message)."""
    thread = await svc.thread_for(session, subject, thread_id)
    message, created = await svc.reply(session, subject, thread, text=body.text,
                                       cc=[str(c) for c in body.cc],
                                       attachment_ids=body.attachments,
                                       client_id=body.client_id)
    if not created:
        response.status_code = 200
    return MessageOut.model_validate(message)


@router.post("/email/threads/{thread_id}/attachments", response_model=AttachmentOut,
             status_code=201)
async def upload(thread_id: uuid.UUID, file: UploadFile, subject: ContactReader,
                 session: DbSession) -> AttachmentOut:
    thread = await svc.thread_for(session, subject, thread_id)
    limit = email_settings().max_attachment_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"A file is at most {limit} bytes.")
    attachment = await svc.upload(session, thread, filename=file.filename or "file",
                                  content_type=file.content_type or "", data=data)
    return AttachmentOut.model_validate(attachment)


@router.get("/email/attachments/{attachment_id}")
async def download(attachment_id: uuid.UUID, subject: ContactReader,
                   session: DbSession) -> Response:
    attachment = await repo.get_attachment(session, subject.tenant_id, attachment_id)
    await svc.thread_for(session, subject, attachment.thread_id)
    data = await svc.read_file(session, attachment.storage_key)
    return file_response(attachment.filename, attachment.content_type, data)


@router.get("/email/messages/{message_id}/raw")
async def message_raw(message_id: uuid.UUID, subject: ContactReader,
                      session: DbSession) -> Response:
    """The original message as received (headers and all)."""
    message = await repo.get_message(session, subject.tenant_id, message_id)
    if message.thread_id is not None:
        await svc.thread_for(session, subject, message.thread_id)
    elif not svc.supervises(subject):
        raise NotFound("Email message not found.")
    if message.raw_key is None:
        raise NotFound("This message has no original source.")
    data = await svc.read_file(session, message.raw_key)
    return file_response(f"message-{message.id}.eml", "message/rfc822", data)


@router.post("/email/messages/{message_id}/retry", response_model=MessageOut)
async def retry(message_id: uuid.UUID, subject: ContactReader, session: DbSession,
                ) -> MessageOut:
    """Send again a reply whose sending failed."""
    message = await repo.get_message(session, subject.tenant_id, message_id)
    if message.thread_id is None:
        raise NotFound("Email message not found.")
    await svc.thread_for(session, subject, message.thread_id)
    return MessageOut.model_validate(await svc.retry(session, message))


@router.websocket("/email/threads/{thread_id}/ws")
async def thread_socket(websocket: WebSocket, thread_id: uuid.UUID) -> None:
    """New messages and sending statuses of one thread, as they happen."""
    from plateaux.routing.contact_endpoints import _websocket_subject

    services: Services = websocket.app.state.services
    subject = await _websocket_subject(websocket, services)
    await websocket.accept()
    if subject is None:
        await websocket.close(code=4401)
        return
    try:
        async with services.unit_of_work(tenant_id=subject.tenant_id) as session:
            await svc.thread_for(session, subject, thread_id)
    except ProblemError as exc:
        await websocket.close(code=4404 if exc.status == 404 else 4403)
        return
    async with services.bus.subscribe(subject.tenant_id, [ev.thread_audience(thread_id)]) as events:

        async def forward() -> None:
            async for event in events:
                await websocket.send_json(event.payload)

        sender = asyncio.create_task(forward())
        try:
            await websocket.send_json({"type": "connected"})
            while True:
                message = await websocket.receive_json()
                if isinstance(message, dict) and message.get("type") == "ping":
                    await websocket.send_json({"type": "pong"})
        except (WebSocketDisconnect, ValueError, RuntimeError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

