"""Privacy: everything about a person as JSON, erasing a person across every channel, and
the tenant's retention periods applied by a scheduled job.

Erasing keeps the shape of the history (contacts, conversations and messages stay, with
their times, for statistics and billing) and removes who it was and what was said: the
person's identities, records and notes go; their contacts lose their attributes; every
message of their chats, emails and calls is emptied, files and recordings deleted; their
website visitors (and the pages viewed) go. One audit entry records the erasure by id,
without the erased values.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat.models import Attachment, Conversation, ConversationMessage
from plateaux.channels.email.models import (
    EmailAddress,
    EmailAttachment,
    EmailMessage,
    EmailQuarantine,
    EmailThread,
)
from plateaux.channels.storage import StorageError, local_storage
from plateaux.channels.voip.models import Call, CallLeg
from plateaux.crm import events, service
from plateaux.crm import repository as repo
from plateaux.crm.models import (
    CrmSettings,
    IdentityKind,
    Person,
    WebhookDelivery,
)
from plateaux.embed.models import PageView, Visitor
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.routing.models import FINAL_STATUSES, Contact
from plateaux.tenants.models import Tenant
from plateaux.tenants.service import audit

logger = logging.getLogger(__name__)
ERASED_ADDRESS = "erased@erased.invalid"
# Other packages erase their own rows too (the help desk's cases):
# ``async def hook(session, tenant_id, person_id, erased_values) -> int`` (rows changed).
EraseHook = Callable[[AsyncSession, uuid.UUID, uuid.UUID, list[str]], Awaitable[int]]
ERASE_HOOKS: list[EraseHook] = []
ExportHook = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[dict[str, Any]]]
EXPORT_HOOKS: list[ExportHook] = []
FTS_TABLES = ("crm_people_fts", "crm_notes_fts", "conversation_messages_fts",
              "email_messages_fts")


def register_erase_hook(hook: EraseHook) -> None:
    ERASE_HOOKS.append(hook)


def register_export_hook(hook: ExportHook) -> None:
    EXPORT_HOOKS.append(hook)


def _row(obj: Any) -> dict[str, Any]:
    return obj.model_dump(mode="json")


# --- what belongs to a person ----------------------------------------------------------------


class Footprint:
    """The rows that are this person's, across channels."""

    def __init__(self) -> None:
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.visitors: list[uuid.UUID] = []
        self.secrets: list[str] = []  # every value that must not survive
        self.contacts: list[Contact] = []
        self.conversations: list[Conversation] = []
        self.threads: list[EmailThread] = []
        self.calls: list[Call] = []


async def footprint(session: AsyncSession, person: Person) -> Footprint:
    tenant_id = person.tenant_id
    found = Footprint()
    identities = await repo.identities_of(session, tenant_id, [person.id])
    for identity in identities:
        found.secrets.append(identity.value)
        if identity.kind == IdentityKind.EMAIL.value:
            found.emails.append(identity.value)
        elif identity.kind == IdentityKind.PHONE.value:
            found.phones.append(identity.value)
        elif identity.kind == IdentityKind.VISITOR.value:
            with contextlib.suppress(ValueError):
                found.visitors.append(uuid.UUID(identity.value))
    verified = [i.value for i in identities if i.kind == IdentityKind.VERIFIED.value]
    if verified or found.emails:
        # Other browsers of the same signed-in customer, or that gave the same address.
        more = (await session.scalars(select(col(Visitor.id)).where(
            col(Visitor.tenant_id) == tenant_id, or_(
                col(Visitor.external_id).in_(verified), col(Visitor.email).in_(found.emails)))
        )).all()
        found.visitors = list(dict.fromkeys([*found.visitors, *more]))
    if person.name:
        found.secrets.append(person.name)
    keys = [*found.emails, *found.phones, *(str(v) for v in found.visitors)]
    found.contacts = list((await session.scalars(select(Contact).where(
        col(Contact.tenant_id) == tenant_id, or_(
            col(Contact.person_id) == person.id, col(Contact.customer_key).in_(keys))))).all())
    contact_ids = [c.id for c in found.contacts]
    found.conversations = list((await session.scalars(select(Conversation).where(
        col(Conversation.tenant_id) == tenant_id, or_(
            col(Conversation.contact_id).in_(contact_ids),
            col(Conversation.visitor_id).in_(found.visitors),
            col(Conversation.contact_email).in_(found.emails))))).all())
    thread_ids = [uuid.UUID(str(c.attributes["email_thread_id"])) for c in found.contacts
                  if isinstance(c.attributes, dict) and c.attributes.get("email_thread_id")]
    found.threads = list((await session.scalars(select(EmailThread).where(
        col(EmailThread.tenant_id) == tenant_id, or_(
            col(EmailThread.id).in_(thread_ids), col(EmailThread.contact_id).in_(contact_ids),
            col(EmailThread.customer_address).in_(found.emails))))).all())
    found.calls = list((await session.scalars(select(Call).where(
        col(Call.tenant_id) == tenant_id, or_(
            col(Call.contact_id).in_(contact_ids), col(Call.customer_number).in_(found.phones),
            col(Call.visitor_id).in_(found.visitors))))).all())
    return found


# --- export ----------------------------------------------------------------------------------


async def export_person(session: AsyncSession, person: Person) -> dict[str, Any]:
    """Everything the platform holds about ``person``, as JSON values."""
    from plateaux.crm.timeline import pages_viewed

    tenant_id = person.tenant_id
    found = await footprint(session, person)
    conversations = []
    for conversation in found.conversations:
        messages = (await session.scalars(select(ConversationMessage).where(
            col(ConversationMessage.tenant_id) == tenant_id,
            col(ConversationMessage.conversation_id) == conversation.id)
            .order_by(col(ConversationMessage.seq)))).all()
        conversations.append({**_row(conversation), "messages": [
            {k: v for k, v in _row(m).items() if k != "tenant_id"} for m in messages]})
    threads = []
    for thread in found.threads:
        mails = (await session.scalars(select(EmailMessage).where(
            col(EmailMessage.tenant_id) == tenant_id, col(EmailMessage.thread_id) == thread.id)
            .order_by(col(EmailMessage.created_at)))).all()
        threads.append({**_row(thread), "messages": [
            {k: v for k, v in _row(m).items() if k not in ("tenant_id", "raw_key")}
            for m in mails]})
    calls = []
    for call in found.calls:
        legs = (await session.scalars(select(CallLeg).where(
            col(CallLeg.tenant_id) == tenant_id, col(CallLeg.call_id) == call.id))).all()
        calls.append({**_row(call), "legs": [_row(leg) for leg in legs]})
    visitors = (await session.scalars(select(Visitor).where(
        col(Visitor.tenant_id) == tenant_id, col(Visitor.id).in_(found.visitors)))).all()
    external = await repo.external_record(session, tenant_id, person.id)
    exported: dict[str, Any] = {
        "exported_at": utcnow().isoformat(),
        "person": (await service.person_out(session, person)).model_dump(mode="json"),
        "notes": [_row(n) for n in await repo.notes_of(session, tenant_id, person.id)],
        "contacts": [_row(c) for c in found.contacts],
        "conversations": conversations,
        "email_threads": threads,
        "calls": calls,
        "visitors": [{k: v for k, v in _row(v).items() if k != "token_hash"}
                     for v in visitors],
        "pages_viewed": [p.model_dump(mode="json") for p in await pages_viewed(
            session, tenant_id, person.id, limit=1000)],
        "external_crm": None if external is None else external.data,
    }
    for hook in EXPORT_HOOKS:
        exported.update(await hook(session, tenant_id, person.id))
    return exported


# --- erasure ---------------------------------------------------------------------------------


def _redact(value: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 3:
            value = value.replace(secret, "[erased]")
            value = value.replace(secret.lower(), "[erased]")
    return value


async def erase_person(session: AsyncSession, person: Person, *, actor: str,
                       reason: str = "request") -> dict[str, int]:
    """Erase ``person`` everywhere; returns how many rows of each kind were touched."""
    tenant_id = person.tenant_id
    person_id = person.id
    found = await footprint(session, person)
    services: Services | None = session.info.get("services")
    storage = local_storage(services.settings.data_dir) if services else None
    files: list[str] = []
    counts: dict[str, int] = {}

    # Chats (and messages left): every message emptied, files deleted.
    conversation_ids = [c.id for c in found.conversations]
    if conversation_ids:
        result = await session.execute(update(ConversationMessage).where(
            col(ConversationMessage.tenant_id) == tenant_id,
            col(ConversationMessage.conversation_id).in_(conversation_ids)).values(
            text="", body="", attachments=[], author_name=None))
        counts["chat_messages"] = _rowcount(result)
        await session.execute(update(ConversationMessage).where(
            col(ConversationMessage.tenant_id) == tenant_id,
            col(ConversationMessage.conversation_id).in_(conversation_ids),
            col(ConversationMessage.author_type) == "visitor").values(author_id=None))
        files += list((await session.scalars(select(col(Attachment.storage_key)).where(
            col(Attachment.tenant_id) == tenant_id,
            col(Attachment.conversation_id).in_(conversation_ids)))).all())
        await session.execute(delete(Attachment).where(
            col(Attachment.tenant_id) == tenant_id,
            col(Attachment.conversation_id).in_(conversation_ids)))
        await session.execute(update(Conversation).where(
            col(Conversation.tenant_id) == tenant_id,
            col(Conversation.id).in_(conversation_ids)).values(
            contact_name=None, contact_email=None, rating_comment=None))
    counts["conversations"] = len(conversation_ids)

    # Email: the threads' messages emptied, addresses replaced, files and sources deleted.
    thread_ids = [t.id for t in found.threads]
    if thread_ids:
        files += [k for k in (await session.scalars(select(col(EmailMessage.raw_key)).where(
            col(EmailMessage.tenant_id) == tenant_id,
            col(EmailMessage.thread_id).in_(thread_ids)))).all() if k]
        result = await session.execute(update(EmailMessage).where(
            col(EmailMessage.tenant_id) == tenant_id,
            col(EmailMessage.thread_id).in_(thread_ids)).values(
            from_address=ERASED_ADDRESS, from_name=None, to=[], cc=[], subject="", text="",
            new_text="", quoted_text="", signature="", html=None, attachments=[],
            raw_key=None, author_name=None, last_error=None))
        counts["email_messages"] = _rowcount(result)
        files += list((await session.scalars(select(col(EmailAttachment.storage_key)).where(
            col(EmailAttachment.tenant_id) == tenant_id,
            col(EmailAttachment.thread_id).in_(thread_ids)))).all())
        await session.execute(delete(EmailAttachment).where(
            col(EmailAttachment.tenant_id) == tenant_id,
            col(EmailAttachment.thread_id).in_(thread_ids)))
        await session.execute(update(EmailThread).where(
            col(EmailThread.tenant_id) == tenant_id, col(EmailThread.id).in_(thread_ids))
            .values(customer_address=ERASED_ADDRESS, customer_name=None, subject=""))
    counts["email_threads"] = len(thread_ids)
    if found.emails:
        await session.execute(delete(EmailAddress).where(
            col(EmailAddress.tenant_id) == tenant_id,
            col(EmailAddress.address).in_(found.emails)))
        await session.execute(update(EmailQuarantine).where(
            col(EmailQuarantine.tenant_id) == tenant_id,
            col(EmailQuarantine.sender).in_(found.emails)).values(sender=None, subject=None))

    # Voice: numbers and addresses removed, recordings and voicemail deleted.
    call_ids = [c.id for c in found.calls]
    if call_ids:
        for call in found.calls:
            files += [k for k in (call.recording_key, call.voicemail_key) if k]
        await session.execute(update(Call).where(
            col(Call.tenant_id) == tenant_id, col(Call.id).in_(call_ids)).values(
            customer_number=None, recording_key=None, voicemail_key=None, visitor_id=None))
        await session.execute(update(CallLeg).where(
            col(CallLeg.tenant_id) == tenant_id, col(CallLeg.call_id).in_(call_ids),
            col(CallLeg.role) == "customer").values(address="", sip_call_id=None))
    counts["calls"] = len(call_ids)

    # Routed contacts keep their times and outcome, nothing of who it was.
    contact_ids = [c.id for c in found.contacts]
    if contact_ids:
        await session.execute(update(Contact).where(
            col(Contact.tenant_id) == tenant_id, col(Contact.id).in_(contact_ids)).values(
            attributes={"erased": True}, customer_key=None, person_id=None))
    counts["contacts"] = len(contact_ids)

    # Website visitors and the pages they viewed.
    if found.visitors:
        await session.execute(delete(PageView).where(
            col(PageView.tenant_id) == tenant_id, col(PageView.visitor_id).in_(found.visitors)))
        result = await session.execute(delete(Visitor).where(
            col(Visitor.tenant_id) == tenant_id, col(Visitor.id).in_(found.visitors)))
        counts["visitors"] = _rowcount(result)

    # What webhooks carried about them.
    await session.execute(delete(WebhookDelivery).where(
        col(WebhookDelivery.tenant_id) == tenant_id,
        col(WebhookDelivery.person_id) == person_id))

    for hook in ERASE_HOOKS:
        counts[getattr(hook, "__name__", "other")] = await hook(
            session, tenant_id, person_id, list(found.secrets))

    # The person, their identities, notes and external record (cascade).
    counts["identities"] = len(found.secrets) - (1 if person.name else 0)
    await session.delete(person)
    await session.flush()
    audit(session, tenant_id, actor=actor, action="crm.person_erased", target=str(person_id),
          reason=reason, counts=dict(counts))
    await events.emit(session, tenant_id, "person.erased", {"person_id": str(person_id),
                                                           "reason": reason})
    await _compact_search(session)
    if storage is not None and files:
        keys = list(files)

        async def remove_files() -> None:
            for key in keys:
                with contextlib.suppress(StorageError, OSError):
                    await storage.delete(key)

        from plateaux.platform.database import after_commit

        after_commit(session, remove_files)
    return counts


async def _compact_search(session: AsyncSession) -> None:
    """SQLite's FTS5 keeps a deleted row's words in its segments until they are merged:
    merging now leaves nothing of the erased text in the index."""
    if session.get_bind().dialect.name != "sqlite":
        return
    for table in FTS_TABLES:
        # The names are this module's constants, never input.
        await session.execute(text(f"INSERT INTO {table}({table}) VALUES ('optimize')"))  # noqa: S608


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# --- retention -------------------------------------------------------------------------------


async def apply_retention(session: AsyncSession, tenant_id: uuid.UUID,
                          settings: CrmSettings) -> dict[str, int]:
    """Delete what is older than the tenant's retention periods: ended conversations,
    email threads and calls past ``conversation_retention_days``, and people with no
    contact for ``person_retention_days`` (erased, as on request)."""
    now = utcnow()
    counts = {"conversations": 0, "email_threads": 0, "calls": 0, "people": 0}
    services: Services | None = session.info.get("services")
    storage = local_storage(services.settings.data_dir) if services else None
    files: list[str] = []
    if settings.conversation_retention_days:
        cutoff = now - timedelta(days=settings.conversation_retention_days)
        old_chats = list((await session.scalars(select(col(Conversation.id)).where(
            col(Conversation.tenant_id) == tenant_id, col(Conversation.ended_at).is_not(None),
            col(Conversation.ended_at) < cutoff))).all())
        if old_chats:
            files += list((await session.scalars(select(col(Attachment.storage_key)).where(
                col(Attachment.tenant_id) == tenant_id,
                col(Attachment.conversation_id).in_(old_chats)))).all())
            await session.execute(delete(Conversation).where(
                col(Conversation.tenant_id) == tenant_id, col(Conversation.id).in_(old_chats)))
        counts["conversations"] = len(old_chats)
        old_threads = list((await session.scalars(select(col(EmailThread.id)).where(
            col(EmailThread.tenant_id) == tenant_id,
            col(EmailThread.last_message_at) < cutoff))).all())
        if old_threads:
            files += [k for k in (await session.scalars(select(col(EmailMessage.raw_key)).where(
                col(EmailMessage.tenant_id) == tenant_id,
                col(EmailMessage.thread_id).in_(old_threads)))).all() if k]
            files += list((await session.scalars(select(col(EmailAttachment.storage_key)).where(
                col(EmailAttachment.tenant_id) == tenant_id,
                col(EmailAttachment.thread_id).in_(old_threads)))).all())
            await session.execute(delete(EmailThread).where(
                col(EmailThread.tenant_id) == tenant_id, col(EmailThread.id).in_(old_threads)))
        counts["email_threads"] = len(old_threads)
        old_calls = list((await session.scalars(select(Call).where(
            col(Call.tenant_id) == tenant_id, col(Call.ended_at).is_not(None),
            col(Call.ended_at) < cutoff))).all())
        for call in old_calls:
            files += [k for k in (call.recording_key, call.voicemail_key) if k]
            await session.delete(call)
        counts["calls"] = len(old_calls)
        # Routed contacts stay (reporting and billing count them), without their content.
        await session.execute(update(Contact).where(
            col(Contact.tenant_id) == tenant_id, col(Contact.ended_at).is_not(None),
            col(Contact.ended_at) < cutoff, col(Contact.status).in_(list(FINAL_STATUSES)))
            .values(attributes={"expired": True}))
    if settings.person_retention_days:
        cutoff = now - timedelta(days=settings.person_retention_days)
        stale = list((await session.scalars(select(Person).where(
            col(Person.tenant_id) == tenant_id, or_(
                col(Person.last_contact_at) < cutoff,
                (col(Person.last_contact_at).is_(None)) & (col(Person.updated_at) < cutoff))
        ))).all())
        for person in stale:
            await erase_person(session, person, actor="retention", reason="retention")
        counts["people"] = len(stale)
    settings.last_retention_at = now
    session.add(settings)
    await session.flush()
    if any(counts.values()):
        audit(session, tenant_id, actor="retention", action="crm.retention_applied",
              counts=dict(counts))
    if storage is not None and files:
        keys = list(files)

        async def remove_files() -> None:
            for key in keys:
                with contextlib.suppress(StorageError, OSError):
                    await storage.delete(key)

        from plateaux.platform.database import after_commit

        after_commit(session, remove_files)
    return counts


async def apply_retention_everywhere(services: Services) -> dict[uuid.UUID, dict[str, int]]:
    """The scheduled sweep: every tenant with a retention period, each in its own unit of
    work (under its own row-level security)."""
    async with services.unit_of_work() as session:
        tenant_ids = list((await session.scalars(select(col(Tenant.id)))).all())
    done: dict[uuid.UUID, dict[str, int]] = {}
    for tenant_id in tenant_ids:
        try:
            async with services.unit_of_work(tenant_id=tenant_id) as session:
                settings = (await session.scalars(select(CrmSettings).where(
                    col(CrmSettings.tenant_id) == tenant_id))).first()
                if settings is None or not (settings.conversation_retention_days
                                            or settings.person_retention_days):
                    continue
                done[tenant_id] = await apply_retention(session, tenant_id, settings)
        except Exception:
            logger.exception("retention failed for tenant %s", tenant_id)
    return done
