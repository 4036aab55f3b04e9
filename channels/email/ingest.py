"""Ingesting one fetched message, exactly once.

Each message is one transaction: the mailbox row is locked (ingestion into a mailbox is
serialised, so two fetchers at once thread like one), the receipt for (mailbox,
UIDVALIDITY, UID) and the Message-ID key are checked, then the message, its thread, its
routed contact, its files and the fetch progress are stored together. A crash before the
commit leaves nothing and the UID is fetched again; after it, the receipt says it is done.
A message that cannot be read is held in quarantine with its raw source, and the UID
counts as done: it is never fetched forever, never dropped silently.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.email import contacts
from plateaux.channels.email import events as ev
from plateaux.channels.email import repository as repo
from plateaux.channels.email.addresses import new_reply_token, tokens_in
from plateaux.channels.email.mime import ParsedMail, Unreadable, parse
from plateaux.channels.email.models import (
    AutoKind,
    Direction,
    EmailAttachment,
    EmailMessage,
    EmailQuarantine,
    EmailReceipt,
    EmailReference,
    EmailThread,
    Mailbox,
    MessageStatus,
)
from plateaux.channels.email.outbound import acknowledge, attachment_ref, mark_bounced
from plateaux.channels.email.settings import email_settings
from plateaux.channels.storage import Storage, local_storage, new_key
from plateaux.platform.database import POST_COMMIT_KEY
from plateaux.platform.publish import publish
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # the same Message-ID was stored already
    SEEN = "seen"  # this UID was handled already
    QUARANTINED = "quarantined"
    STALE = "stale"  # the mailbox's UIDVALIDITY moved on meanwhile


@dataclass(frozen=True, slots=True)
class Fetched:
    uid_validity: int
    uid: int
    raw: bytes


def storage_of(services: Services) -> Storage:
    return local_storage(services.settings.data_dir)


def _advance(mailbox: Mailbox, uid: int) -> None:
    mailbox.last_uid = max(mailbox.last_uid, uid)
    if mailbox.failing_uid is not None and mailbox.failing_uid <= uid:
        mailbox.failing_uid, mailbox.failing_count = None, 0


class FollowUps:
    """What happens after each ingested message commits (routing its contact, events,
    jobs), run in commit order beside the next messages' ingestion rather than before it.

    Safe to lose with the process: a stored contact the routing state does not know is
    routed by the routing steward's sweep, a reply whose send job was never queued by the
    email scheduler's sweep, and events are hints the consoles re-read on reconnect.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[list[Callable[[], Any]] | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    def push(self, callbacks: list[Callable[[], Any]]) -> None:
        if callbacks:
            self._queue.put_nowait(callbacks)

    async def _run(self) -> None:
        while (callbacks := await self._queue.get()) is not None:
            for callback in callbacks:
                try:
                    result = callback()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("work after an email's commit failed")

    async def close(self) -> None:
        """Wait for what is queued."""
        self._queue.put_nowait(None)
        await self._task


async def ingest(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                 item: Fetched, *, own: frozenset[str] | None = None,
                 follow_ups: FollowUps | None = None) -> Outcome:
    """Store one fetched message (or note it seen, a duplicate, or quarantined)."""
    settings = email_settings()
    if own is None:
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            own = await repo.own_addresses(session, tenant_id)
    # Parsed before the mailbox is locked: the lock is held for the database work only.
    parsed: ParsedMail | str
    if len(item.raw) > settings.max_message_bytes:
        parsed = f"The message is larger than {settings.max_message_bytes} bytes."
    else:
        try:
            parsed = parse(item.raw, own_addresses=own,
                           max_attachment_bytes=settings.max_attachment_bytes)
        except Unreadable as exc:
            parsed = str(exc)
    for attempt in range(3):
        try:
            return await _ingest_once(services, tenant_id, mailbox_id, item, parsed, own,
                                      follow_ups)
        except IntegrityError:
            # Another fetcher stored the same UID or Message-ID at the same moment (where
            # the mailbox lock does not serialise, as on SQLite): the next try sees it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _ingest_once(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                       item: Fetched, parsed: ParsedMail | str, own: frozenset[str],
                       follow_ups: FollowUps | None) -> Outcome:
    after: list[Callable[[], Any]] = []
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        mailbox = await repo.get_mailbox(session, tenant_id, mailbox_id, lock=True)
        if mailbox.uid_validity != item.uid_validity:
            return Outcome.STALE
        outcome = await _ingest(services, session, mailbox, item, parsed, own)
        _advance(mailbox, item.uid)
        mailbox.last_fetch_at = utcnow()
        session.add(mailbox)
        if follow_ups is not None:
            # Taken from the unit of work, handed over only once it has committed.
            after = session.info.pop(POST_COMMIT_KEY, [])
    if follow_ups is not None:
        follow_ups.push(after)
    return outcome


async def quarantine(services: Services, session: AsyncSession, mailbox: Mailbox,
                     item: Fetched, reason: str, *, sender: str | None = None,
                     subject: str | None = None) -> Outcome:
    key = new_key(mailbox.tenant_id, "email", "quarantine")
    await storage_of(services).put(key, item.raw)
    held = EmailQuarantine(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id,
                           uid_validity=item.uid_validity, uid=item.uid, raw_key=key,
                           size=len(item.raw), reason=reason[:1000], sender=sender,
                           subject=subject)
    session.add(held)
    session.add(EmailReceipt(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id,
                             uid_validity=item.uid_validity, uid=item.uid,
                             outcome=Outcome.QUARANTINED.value))
    await session.flush()
    logger.warning("email quarantined: mailbox %s uid %s/%s: %s", mailbox.id,
                   item.uid_validity, item.uid, reason)
    return Outcome.QUARANTINED


async def _ingest(services: Services, session: AsyncSession, mailbox: Mailbox,
                  item: Fetched, parsed: ParsedMail | str, own: frozenset[str]) -> Outcome:
    tenant_id = mailbox.tenant_id
    if await repo.receipt(session, tenant_id, mailbox.id, item.uid_validity, item.uid):
        return Outcome.SEEN
    if isinstance(parsed, str):
        return await quarantine(services, session, mailbox, item, parsed)
    existing = await repo.message_by_key(session, tenant_id, parsed.message_key)
    if existing is not None:
        session.add(EmailReceipt(tenant_id=tenant_id, mailbox_id=mailbox.id,
                                 uid_validity=item.uid_validity, uid=item.uid,
                                 outcome=Outcome.DUPLICATE.value,
                                 email_message_id=existing.id))
        return Outcome.DUPLICATE
    message = await store(services, session, mailbox, parsed, item.raw, own)
    session.add(EmailReceipt(tenant_id=tenant_id, mailbox_id=mailbox.id,
                             uid_validity=item.uid_validity, uid=item.uid,
                             outcome=Outcome.STORED.value, email_message_id=message.id))
    return Outcome.STORED


async def _find_thread(session: AsyncSession, tenant_id: uuid.UUID,
                       parsed: ParsedMail) -> EmailThread | None:
    by_token = await repo.thread_by_token(session, tenant_id, tokens_in(parsed.recipients))
    if by_token is not None:
        return by_token
    return await repo.related_thread(session, tenant_id, parsed.message_key, parsed.references)


async def _bounce_thread(session: AsyncSession, tenant_id: uuid.UUID,
                         parsed: ParsedMail) -> EmailThread | None:
    """The thread of the mail that bounced; that mail is marked bounced, the failed
    addresses too."""
    bounce = parsed.bounce
    if bounce is None:
        return None
    await mark_bounced(session, tenant_id, bounce.recipients,
                       bounce.diagnostic or bounce.status)
    if bounce.original_key is None:
        return None
    original = await repo.message_by_key(session, tenant_id, bounce.original_key)
    if original is None or original.direction != Direction.OUT.value:
        return None
    original.status = MessageStatus.BOUNCED.value
    original.last_error = (bounce.diagnostic or f"Bounced ({bounce.status or 'failed'})")[:1000]
    session.add(original)
    if original.thread_id is not None:
        publish(session, tenant_id, ev.STATUS, ev.status_frame(original),
                audience=ev.thread_audience(original.thread_id))
        return await repo.get_thread(session, tenant_id, original.thread_id)
    return None


async def store(services: Services, session: AsyncSession, mailbox: Mailbox,
                parsed: ParsedMail, raw: bytes | None, own: frozenset[str],
                *, extra: dict[str, object] | None = None) -> EmailMessage:
    """The message in its thread (a new one, routed, when it starts one)."""
    tenant_id = mailbox.tenant_id
    storage = storage_of(services)
    automatic = parsed.auto_kind is not None
    if parsed.auto_kind is AutoKind.BOUNCE:
        thread = await _bounce_thread(session, tenant_id, parsed) or await _find_thread(
            session, tenant_id, parsed)
    else:
        thread = await _find_thread(session, tenant_id, parsed)
    created = thread is None
    if thread is None and parsed.auto_kind not in (AutoKind.BOUNCE, AutoKind.LOOP):
        thread = EmailThread(tenant_id=tenant_id, mailbox_id=mailbox.id,
                             subject=parsed.subject or "(no subject)",
                             customer_address=parsed.reply_to or parsed.from_address,
                             customer_name=parsed.from_name, reply_token=new_reply_token())
        session.add(thread)
        await session.flush()
    raw_key = None
    if raw is not None:
        raw_key = new_key(tenant_id, "email", "raw")
        await storage.put(raw_key, raw)
    message = EmailMessage(
        tenant_id=tenant_id, thread_id=thread.id if thread else None, mailbox_id=mailbox.id,
        direction=Direction.IN.value, message_key=parsed.message_key,
        message_id=parsed.message_id, synthetic_id=parsed.synthetic_id,
        in_reply_to=parsed.in_reply_to, references=parsed.references,
        from_address=parsed.from_address, from_name=parsed.from_name, to=parsed.to,
        cc=parsed.cc, subject=parsed.subject, text=parsed.text, new_text=parsed.new_text,
        quoted_text=parsed.quoted_text, signature=parsed.signature, html=parsed.html,
        auto_kind=parsed.auto_kind.value if parsed.auto_kind else None, raw_key=raw_key,
        size=len(raw) if raw is not None else len(parsed.text), sent_at=parsed.date)
    session.add(message)
    await session.flush()
    if thread is None:
        return message  # a bounce or our own mail that threads nowhere: kept, not routed
    for key in parsed.references:
        session.add(EmailReference(tenant_id=tenant_id, message_id=message.id,
                                   thread_id=thread.id, key=key[:300]))
    files = []
    for part in parsed.parts:
        key = new_key(tenant_id, "email", str(thread.id))
        await storage.put(key, part.data)
        files.append(EmailAttachment(
            tenant_id=tenant_id, thread_id=thread.id, message_id=message.id, storage_key=key,
            filename=part.filename, content_type=part.content_type, size=len(part.data),
            content_id=part.content_id, inline=part.inline))
    session.add_all(files)
    await session.flush()
    message.attachments = [attachment_ref(f) for f in files] + [
        {"name": name, "skipped": True} for name in parsed.skipped_parts]
    message.html = _inline_images(message.html, files)
    thread.message_count += 1
    thread.last_message_at = utcnow()
    session.add(thread)
    await session.flush()
    if created:
        await _route_new(session, mailbox, thread, extra)
        await acknowledge(session, mailbox, thread, parsed, own)
    elif not automatic:
        try:
            await contacts.reopen_or_update(session, thread, mailbox)
        except contacts.NoRoutingTarget as exc:
            _note_routing_problem(mailbox, exc)
    publish(session, tenant_id, ev.MESSAGE, ev.message_frame(message),
            audience=ev.thread_audience(thread.id))
    return message


async def _route_new(session: AsyncSession, mailbox: Mailbox, thread: EmailThread,
                     extra: dict[str, object] | None) -> None:
    try:
        await contacts.open_contact(
            session, thread, target=contacts.target_of(mailbox.queue_id, mailbox.workflow_id),
            source=mailbox.id, extra={"mailbox": mailbox.address, **(extra or {})})
    except contacts.NoRoutingTarget as exc:
        # Stored all the same: the thread is routed when a reply comes after the fix.
        _note_routing_problem(mailbox, exc)


def _note_routing_problem(mailbox: Mailbox, exc: Exception) -> None:
    mailbox.last_error = str(exc)[:1000]
    mailbox.last_error_at = utcnow()


def _inline_images(html: str | None, files: list[EmailAttachment]) -> str | None:
    """``cid:`` images point at their stored part (served to agents only)."""
    if not html:
        return html
    for attachment in files:
        if attachment.content_id:
            cid = attachment.content_id.strip("<>")
            html = html.replace(f'src="cid:{cid}"',
                                f'src="/api/v1/email/attachments/{attachment.id}"')
    return html
