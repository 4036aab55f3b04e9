"""Chat rules: starting a conversation (a routed contact), numbered messages, typing and
read receipts, the end by either side, rating, transcript, a message left when nobody is
available, attachments, and who may act on a conversation.

Services flush, they do not commit; events go out after the commit (platform.publish), so
nobody hears of a message that is not stored.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from plateaux.billing.standing import ensure_taking_contacts
from plateaux.channels.chat import events as ev
from plateaux.channels.chat import repository as repo
from plateaux.channels.chat.models import (
    PUBLIC_KINDS,
    Attachment,
    AuthorType,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    MessageKind,
)
from plateaux.channels.sanitize import render_text
from plateaux.channels.storage import Storage, local_storage, new_key
from plateaux.crm import matching as crm_matching
from plateaux.embed import service as embed
from plateaux.embed.models import Visitor, Widget
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.database import POST_COMMIT_KEY, after_commit
from plateaux.platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    UnprocessableContent,
)
from plateaux.platform.events import Event
from plateaux.platform.mail import queue_mail
from plateaux.platform.publish import publish
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.routing import contact_service
from plateaux.routing.contact_schemas import ContactIn
from plateaux.routing.live import RoutingError
from plateaux.routing.models import Contact
from plateaux.routing.router import RoutingConflict, TenantRouter
from plateaux.routing.state import ContactStatus
from plateaux.routing.workflows import OverflowAction
from plateaux.tenants.models import Role, User

MAX_TEXT = 5000
OVERFLOW_ACTIONS = frozenset(action.value for action in OverflowAction) - {"stay_queued"}
MAX_ATTACHMENTS = 10
SUPERVISING_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})


class UnsupportedMediaType(ProblemError):
    status, title = 415, "Unsupported media type"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who writes to a conversation: its visitor, an agent, or a supervisor watching."""

    author_type: AuthorType
    id: uuid.UUID | None
    name: str | None

    @property
    def is_visitor(self) -> bool:
        return self.author_type is AuthorType.VISITOR


def visitor_actor(visitor: Visitor) -> Actor:
    return Actor(author_type=AuthorType.VISITOR, id=visitor.id, name=visitor.name)


def services_of(session: AsyncSession) -> Services:
    services: Services | None = session.info.get("services")
    if services is None:
        raise RuntimeError("the session has no services attached")
    return services


def storage_of(session: AsyncSession) -> Storage:
    return local_storage(services_of(session).settings.data_dir)


# --- starting ----------------------------------------------------------------------------


def _visitor_subject(widget: Widget, visitor: Visitor) -> Subject:
    """The visitor as the routing service's contact rules see a creator: their tenant and
    nothing else (no scope)."""
    return Subject(tenant_id=widget.tenant_id, kind="visitor", principal_id=visitor.id,
                   role=Role.AGENT, scopes=frozenset(), label=f"visitor:{visitor.id}")


def _contact_in(channel: str, target: dict[str, Any], attributes: dict[str, Any],
                customer_key: str | None) -> ContactIn:
    if not target:
        raise Conflict("This site's chat is not connected to a queue or workflow yet.")
    try:
        return ContactIn.model_validate({
            "channel": channel, "attributes": attributes, "customer_key": customer_key,
            **target})
    except ValidationError as error:
        raise UnprocessableContent(
            "The attributes are not valid: " + "; ".join(e["msg"] for e in error.errors())
        ) from error


async def _visitor_attributes(session: AsyncSession, widget: Widget, visitor: Visitor,
                              language: str) -> dict[str, Any]:
    pages = await embed.pages_viewed(session, widget.tenant_id, visitor.id, limit=20)
    attributes: dict[str, Any] = {
        "language": language,
        "site_key": widget.public_key,
        "site_name": widget.name,
        "current_page": visitor.current_url,
        "current_title": visitor.current_title,
        "pages_viewed": [page.url for page in pages],
        "visitor_id": str(visitor.id),
        "verified": visitor.verified,
    }
    if visitor.verified:
        attributes.update(external_id=visitor.external_id, email=visitor.email,
                          name=visitor.name)
    return attributes


async def start_conversation(session: AsyncSession, widget: Widget, visitor: Visitor, *,
                             text: str | None, language: str | None,
                             attributes: dict[str, Any]) -> Conversation:
    """The conversation, its first message if any, and its routing contact: stored in
    this transaction, routed once it commits (the routing contact rules' own path)."""
    await ensure_taking_contacts(session, widget.tenant_id)
    chosen = embed.pick_language(widget, language, visitor.language)
    # What the page passes comes first: the platform's own attributes win on a clash.
    merged = {**attributes, **await _visitor_attributes(session, widget, visitor, chosen)}
    body = _contact_in("chat", embed.chat_target(widget), merged, str(visitor.id))
    contact = await contact_service.create_contact(
        session, _visitor_subject(widget, visitor), body)
    await crm_matching.match_visitor_contact(session, contact, visitor, attributes=merged)
    conversation = Conversation(
        tenant_id=widget.tenant_id, widget_id=widget.id, visitor_id=visitor.id,
        contact_id=contact.id, language=chosen)
    session.add(conversation)
    await session.flush()
    if text:
        await post_message(session, conversation, visitor_actor(visitor), text=text,
                           client_id=None)
    return conversation


async def leave_message(session: AsyncSession, widget: Widget, visitor: Visitor | None, *,
                        name: str, email: str, text: str) -> Conversation:
    """A message for when nobody can answer now: a routed contact of the form channel and
    a conversation holding the message, answered later."""
    await ensure_taking_contacts(session, widget.tenant_id)
    target = embed.button_target(widget, "email") or embed.chat_target(widget)
    attributes: dict[str, Any] = {"site_key": widget.public_key, "site_name": widget.name,
                                  "name": name, "email": email}
    if visitor is not None:
        attributes.update(await _visitor_attributes(session, widget, visitor,
                                                    visitor.language))
        attributes.update(name=name, email=email)
    key = str(visitor.id) if visitor is not None else email.lower()
    body = _contact_in("form", target, attributes, key)
    subject = Subject(tenant_id=widget.tenant_id, kind="visitor",
                      principal_id=visitor.id if visitor else widget.id, role=Role.AGENT,
                      scopes=frozenset(), label="visitor")
    contact = await contact_service.create_contact(session, subject, body)
    if visitor is not None:
        await crm_matching.match_visitor_contact(session, contact, visitor, email=email,
                                                 name=name)
    else:
        await crm_matching.match_contact(session, contact, email=email, name=name)
    conversation = Conversation(
        tenant_id=widget.tenant_id, widget_id=widget.id,
        visitor_id=visitor.id if visitor else None, contact_id=contact.id, channel="form",
        language=visitor.language if visitor else widget.default_language,
        contact_name=name, contact_email=email)
    session.add(conversation)
    await session.flush()
    actor = Actor(author_type=AuthorType.VISITOR, id=visitor.id if visitor else None,
                  name=name)
    await post_message(session, conversation, actor, text=text, client_id=None)
    return conversation


# --- messages ----------------------------------------------------------------------------


def _allowed_kinds(actor: Actor) -> frozenset[MessageKind]:
    if actor.author_type is AuthorType.VISITOR:
        return frozenset({MessageKind.MESSAGE})
    if actor.author_type is AuthorType.AGENT:
        return frozenset({MessageKind.MESSAGE, MessageKind.NOTE})
    if actor.author_type is AuthorType.SUPERVISOR:
        return frozenset({MessageKind.MESSAGE, MessageKind.NOTE, MessageKind.WHISPER})
    return frozenset(MessageKind)


@dataclass(frozen=True, slots=True)
class Draft:
    """A message checked and sanitised, before it is numbered and stored."""

    kind: MessageKind
    text: str
    body: str  # sanitised HTML
    attachment_ids: list[uuid.UUID]
    client_id: str | None


def draft_message(actor: Actor, *, text: str, client_id: str | None,
                  kind: MessageKind = MessageKind.MESSAGE,
                  attachment_ids: list[uuid.UUID] | None = None) -> Draft:
    """What the sender may send, sanitised: the checks that need no database."""
    if kind not in _allowed_kinds(actor):
        raise Forbidden(f"A {actor.author_type.value} cannot send a {kind.value}.")
    text = text.strip()
    ids = list(dict.fromkeys(attachment_ids or []))
    if len(text) > MAX_TEXT:
        raise UnprocessableContent(f"A message is at most {MAX_TEXT} characters.")
    if not text and not ids:
        raise UnprocessableContent("A message needs text or an attachment.")
    if len(ids) > MAX_ATTACHMENTS:
        raise UnprocessableContent(f"At most {MAX_ATTACHMENTS} attachments per message.")
    return Draft(kind=kind, text=text, body=render_text(text), attachment_ids=ids,
                 client_id=client_id)


def ordered_refs(files: list[Attachment], ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The attachments' references in the order the sender gave them; Unknown attachment
    when one of the ids is not a file of this conversation."""
    by_id = {f.id: f for f in files}
    if any(i not in by_id for i in ids):
        raise UnprocessableContent("Unknown attachment.")
    return [attachment_ref(by_id[i]) for i in ids]


async def post_message(session: AsyncSession, conversation: Conversation, actor: Actor, *,
                       text: str, client_id: str | None,
                       kind: MessageKind = MessageKind.MESSAGE,
                       attachment_ids: list[uuid.UUID] | None = None,
                       ) -> tuple[ConversationMessage, bool]:
    """Store a message with the conversation's next number; (message, created).

    A message sent again with the same ``client_id`` (the client did not get the ack) is
    the message stored the first time. Two resends racing each other make the second
    transaction fail on the unique client id; :func:`send_message` handles that.
    (A chat WebSocket on PostgreSQL stores its messages through ``writer.py`` instead: the
    same rules in one statement.)
    """
    draft = draft_message(actor, text=text, client_id=client_id, kind=kind,
                          attachment_ids=attachment_ids)
    if client_id is not None:
        existing = await repo.message_by_client_id(
            session, conversation.tenant_id, conversation.id, client_id)
        if existing is not None:
            return existing, False
    if conversation.status != ConversationStatus.OPEN and kind is not MessageKind.SYSTEM:
        raise Conflict("The conversation has ended.")
    files = await repo.attachments_by_id(session, conversation.tenant_id, conversation.id,
                                         draft.attachment_ids)
    refs = ordered_refs(files, draft.attachment_ids)
    seq = await repo.allocate_seq(session, conversation.tenant_id, conversation.id)
    conversation.last_seq = seq
    message = ConversationMessage(
        tenant_id=conversation.tenant_id, conversation_id=conversation.id, seq=seq,
        kind=kind.value, author_type=actor.author_type.value, author_id=actor.id,
        author_name=actor.name, body=draft.body, text=draft.text, attachments=refs,
        client_id=client_id)
    session.add(message)
    await session.flush()
    frame = ev.message_frame(message)
    publish(session, conversation.tenant_id, ev.MESSAGE, frame,
            audience=ev.audience_for(conversation.id, message.kind))
    return message, True


async def send_message(session: AsyncSession, conversation_id: uuid.UUID,
                       tenant_id: uuid.UUID, actor: Actor, *, text: str,
                       client_id: str | None, kind: MessageKind = MessageKind.MESSAGE,
                       attachment_ids: list[uuid.UUID] | None = None,
                       owner: tuple[uuid.UUID, uuid.UUID] | None = None,
                       ) -> tuple[ConversationMessage, bool]:
    """:func:`post_message` flushed, with a racing resend answered by the stored message.
    ``owner`` (visitor id, widget id): the conversation must be that visitor's on that
    site (a visitor's WebSocket, authorised when it opened)."""
    try:
        conversation = await repo.get_conversation(session, tenant_id, conversation_id)
        if owner is not None and (conversation.visitor_id,
                                  conversation.widget_id) != owner:
            raise Forbidden("Not your conversation.")
        return await post_message(session, conversation, actor, text=text,
                                  client_id=client_id, kind=kind,
                                  attachment_ids=attachment_ids)
    except IntegrityError:
        if client_id is None:
            raise
        await session.rollback()
        # Nothing of the failed attempt may be announced after the next commit.
        session.info.pop(POST_COMMIT_KEY, None)
        existing = await repo.message_by_client_id(session, tenant_id, conversation_id,
                                                   client_id)
        if existing is None:
            raise
        return existing, False


async def messages(session: AsyncSession, conversation: Conversation, *, after: int,
                   for_visitor: bool, limit: int = repo.PAGE) -> list[ConversationMessage]:
    kinds = [k.value for k in PUBLIC_KINDS] if for_visitor else None
    return await repo.messages_after(session, conversation.tenant_id, conversation.id,
                                     after, kinds=kinds, limit=limit)


# --- typing, read receipts -------------------------------------------------------------


async def typing(services: Services, conversation: Conversation, actor: Actor,
                 active: bool) -> None:
    """Ephemeral: not stored, published at once (a lost one only hides an indicator)."""
    await publish_typing(services, conversation.tenant_id, conversation.id, actor, active)


async def publish_typing(services: Services, tenant_id: uuid.UUID,
                         conversation_id: uuid.UUID, actor: Actor, active: bool) -> None:
    frame = {"type": "typing", "author_type": actor.author_type.value,
             "author_name": None if actor.is_visitor else actor.name, "typing": bool(active)}
    audience = (ev.agents_audience(conversation_id) if actor.is_visitor
                else ev.public_audience(conversation_id))
    await services.bus.publish(
        Event(tenant_id=tenant_id, type=ev.TYPING, audience=audience,
              payload={**frame, "author_id": str(actor.id) if actor.id else None}))


async def mark_read(session: AsyncSession, conversation: Conversation, actor: Actor,
                    seq: int) -> int:
    """Read up to ``seq`` (never backwards, never past the last message)."""
    seq = max(0, min(seq, conversation.last_seq))
    name = "visitor_read_seq" if actor.is_visitor else "agent_read_seq"
    column = col(getattr(Conversation, name))
    current = conversation.visitor_read_seq if actor.is_visitor else conversation.agent_read_seq
    if seq <= current:
        return current
    await session.execute(
        update(Conversation)
        .where(col(Conversation.tenant_id) == conversation.tenant_id,
               col(Conversation.id) == conversation.id, column < seq)
        .values({name: seq})
        .execution_options(synchronize_session=False))
    if actor.is_visitor:
        conversation.visitor_read_seq = seq
    else:
        conversation.agent_read_seq = seq
    publish(session, conversation.tenant_id, ev.READ, ev.read_frame(actor.is_visitor, seq),
            audience=ev.public_audience(conversation.id))
    return seq


# --- the end, rating, transcript ---------------------------------------------------------


async def end(session: AsyncSession, conversation: Conversation, *, by: str) -> Conversation:
    """Ended by the visitor, the agent or the system; its routing contact ends with it
    (completed when it was being served, abandoned or cancelled while it waited)."""
    if conversation.status == ConversationStatus.ENDED:
        return conversation
    conversation.status = ConversationStatus.ENDED.value
    conversation.ended_by = by
    conversation.ended_at = utcnow()
    session.add(conversation)
    await session.flush()
    frame = {"type": "ended", "by": by}
    publish(session, conversation.tenant_id, ev.ENDED, frame,
            audience=ev.public_audience(conversation.id))
    if conversation.contact_id is not None:
        routing = contact_service.routing_of(session)
        tenant_id, contact_id = conversation.tenant_id, conversation.contact_id

        async def finish() -> None:
            router = await routing.router(tenant_id)
            live = router.snapshot.contacts.get(str(contact_id))
            if live is None:
                return
            # The routing state may have moved on meanwhile; the conversation has ended
            # regardless, and the steward tidies what is left.
            with contextlib.suppress(RoutingError, RoutingConflict):
                if live.status in (ContactStatus.QUEUED, ContactStatus.OFFERED):
                    await routing.cancel(tenant_id, contact_id, reason=(
                        "abandoned" if by == "visitor" else "cancelled"))
                else:
                    await routing.complete(tenant_id, contact_id, None)

        after_commit(session, finish)
    return conversation


async def rate(session: AsyncSession, conversation: Conversation, *, score: int,
               comment: str | None) -> Conversation:
    conversation.rating = score
    conversation.rating_comment = (comment or "").strip()[:2000] or None
    session.add(conversation)
    await session.flush()
    publish(session, conversation.tenant_id, ev.RATED,
            {"type": "rated", "score": score, "comment": conversation.rating_comment},
            audience=ev.agents_audience(conversation.id))
    return conversation


async def send_transcript(session: AsyncSession, conversation: Conversation, *,
                          email: str) -> None:
    """The visible messages as plain text, mailed once the transaction commits."""
    lines = []
    after = 0
    while True:
        page = await messages(session, conversation, after=after, for_visitor=True)
        for message in page:
            who = ("You" if message.author_type == AuthorType.VISITOR
                   else message.author_name or "Agent")
            stamp = message.created_at.strftime("%Y-%m-%d %H:%M")
            names = ", ".join(a["name"] for a in message.attachments or [])
            extra = f" [{names}]" if names else ""
            lines.append(f"[{stamp}] {who}: {message.text}{extra}")
        if len(page) < repo.PAGE:
            break
        after = page[-1].seq
    subject = ("Transcription de votre conversation" if conversation.language == "fr"
               else "Transcript of your conversation")
    queue_mail(session, to=email, subject=subject, text="\n".join(lines) + "\n")


# --- attachments -------------------------------------------------------------------------

_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}


def attachment_ref(attachment: Attachment) -> dict[str, Any]:
    return attachment_reference(id=attachment.id, filename=attachment.filename,
                                content_type=attachment.content_type, size=attachment.size)


def attachment_reference(*, id: uuid.UUID, filename: str, content_type: str,
                         size: int) -> dict[str, Any]:
    """How a message names a file attached to it."""
    return {"id": str(id), "name": filename, "content_type": content_type, "size": size}


def _check_content(content_type: str, data: bytes) -> None:
    """The bytes must be what their type says: a browser trusting a declared image type
    must not be handed a page or a script."""
    signatures = _SIGNATURES.get(content_type)
    if signatures is not None and not data.startswith(signatures):
        raise UnsupportedMediaType(f"The file is not a {content_type} file.")
    if content_type == "image/webp" and data[8:12] != b"WEBP":
        raise UnsupportedMediaType("The file is not a image/webp file.")
    if content_type == "text/plain":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsupportedMediaType("A text file must be UTF-8.") from exc


def _clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>').strip()
    return (cleaned or "file")[:200]


async def upload(session: AsyncSession, conversation: Conversation, actor: Actor, *,
                 filename: str, content_type: str, data: bytes) -> Attachment:
    settings = services_of(session).settings
    if conversation.status != ConversationStatus.OPEN:
        raise Conflict("The conversation has ended.")
    if len(data) > settings.attachment_max_bytes:
        raise PayloadTooLarge(f"A file is at most {settings.attachment_max_bytes} bytes.")
    if not data:
        raise UnprocessableContent("The file is empty.")
    content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type not in settings.attachment_types:
        raise UnsupportedMediaType(f"Files of type {content_type or 'unknown'} are refused.")
    _check_content(content_type, data)
    key = new_key(conversation.tenant_id, "chat", str(conversation.id))
    await storage_of(session).put(key, data)
    attachment = Attachment(
        tenant_id=conversation.tenant_id, conversation_id=conversation.id, storage_key=key,
        filename=_clean_filename(filename), content_type=content_type, size=len(data),
        uploaded_by=actor.author_type.value)
    session.add(attachment)
    await session.flush()
    return attachment


async def download(session: AsyncSession, conversation: Conversation,
                   attachment_id: uuid.UUID) -> tuple[Attachment, bytes]:
    attachment = await repo.get_attachment(session, conversation.tenant_id, conversation.id,
                                           attachment_id)
    from plateaux.channels.storage import StorageError

    try:
        data = await storage_of(session).open(attachment.storage_key)
    except StorageError as exc:
        raise NotFound("Attachment not found.") from exc
    return attachment, data


# --- who may act ---------------------------------------------------------------------------


def supervises(subject: Subject) -> bool:
    if subject.kind == "api_key":
        return subject.has(Scope.CONTACTS_WRITE)
    return subject.role in SUPERVISING_ROLES


def live_assignment(router: TenantRouter, contact_id: uuid.UUID) -> tuple[bool, uuid.UUID | None]:
    """(known, agent): whether the contact is in this process's live routing state, and
    the agent serving it there (None while it waits)."""
    live = router.snapshot.contacts.get(str(contact_id))
    if live is None:
        return False, None
    if live.agent_id is not None and live.status in (ContactStatus.ASSIGNED,
                                                     ContactStatus.WRAP_UP):
        return True, uuid.UUID(live.agent_id)
    return True, None


async def assigned_agent(session: AsyncSession, conversation: Conversation) -> uuid.UUID | None:
    """The agent serving the conversation's contact: the live routing state first (the
    recorded row lags it by a moment), else the stored contact."""
    if conversation.contact_id is None:
        return None
    router = await contact_service.routing_of(session).router(conversation.tenant_id)
    known, agent = live_assignment(router, conversation.contact_id)
    if known:
        return agent
    return await stored_agent(session, conversation)


async def stored_agent(session: AsyncSession, conversation: Conversation) -> uuid.UUID | None:
    """The agent the stored contact names (the contact has left the live routing state)."""
    if conversation.contact_id is None:
        return None
    contact = await session.get(Contact, conversation.contact_id)
    if contact is not None and contact.tenant_id == conversation.tenant_id:
        return contact.agent_id
    return None


async def agent_actor(session: AsyncSession, subject: Subject,
                      conversation: Conversation) -> Actor:
    """The agent or supervisor acting on the conversation, or Forbidden."""
    if subject.tenant_id != conversation.tenant_id:
        raise NotFound("Conversation not found.")
    name = None
    if subject.user_id is not None:
        user = await session.get(User, subject.user_id)
        name = user.name if user is not None else None
    if supervises(subject):
        mine = subject.user_id is not None and subject.user_id == await assigned_agent(
            session, conversation)
        return Actor(author_type=AuthorType.AGENT if mine else AuthorType.SUPERVISOR,
                     id=subject.user_id, name=name)
    if subject.user_id is None or subject.user_id != await assigned_agent(session,
                                                                          conversation):
        raise Forbidden("Only the agent serving this conversation, or a supervisor, may.")
    return Actor(author_type=AuthorType.AGENT, id=subject.user_id, name=name)


async def conversation_for_agent(session: AsyncSession, subject: Subject,
                                 conversation_id: uuid.UUID) -> tuple[Conversation, Actor]:
    conversation = await repo.get_conversation(session, subject.tenant_id, conversation_id)
    return conversation, await agent_actor(session, subject, conversation)


async def conversation_for_visitor(session: AsyncSession, widget: Widget, visitor: Visitor,
                                   conversation_id: uuid.UUID) -> Conversation:
    conversation = await repo.get_conversation(session, widget.tenant_id, conversation_id)
    if conversation.visitor_id != visitor.id or conversation.widget_id != widget.id:
        raise NotFound("Conversation not found.")
    return conversation


# --- the routing status the visitor sees ----------------------------------------------------


async def routing_status(session: AsyncSession, conversation: Conversation,
                         event: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``status`` frame: the contact's state, place in the queue, estimated wait, the
    serving agent's name, and the overflow the routing engine chose if it overflowed."""
    frame: dict[str, Any] = {"type": "status", "status": conversation.status,
                             "contact_status": None, "position": None,
                             "estimated_wait_seconds": None, "agent_name": None,
                             "overflow": None}
    if conversation.status == ConversationStatus.ENDED or conversation.contact_id is None:
        return frame
    routing = contact_service.routing_of(session)
    router = await routing.router(conversation.tenant_id)
    contact_id = str(conversation.contact_id)
    live = router.snapshot.contacts.get(contact_id)
    agent_id: str | None = None
    if event is not None:
        frame["contact_status"] = event.get("status")
        details = event.get("details") or {}
        if event.get("kind") == "overflowed" or details.get("kind") == "overflowed":
            frame["overflow"] = details.get("action") or "take_message"
        agent_id = event.get("agent_id")
    if live is not None:
        frame["contact_status"] = live.status.value
        agent_id = live.agent_id or agent_id
        place = router.position(contact_id)
        if place is not None:
            frame["position"], frame["estimated_wait_seconds"] = place
    elif event is None:
        contact = await session.get(Contact, conversation.contact_id)
        if contact is not None:
            frame["contact_status"] = contact.status
            agent_id = str(contact.agent_id) if contact.agent_id else None
            if contact.outcome in OVERFLOW_ACTIONS:
                frame["overflow"] = contact.outcome
    if agent_id and frame["contact_status"] in ("assigned", "wrap_up"):
        user = await session.get(User, uuid.UUID(agent_id))
        if user is not None and user.tenant_id == conversation.tenant_id:
            frame["agent_name"] = user.name
    return frame
