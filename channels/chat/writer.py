"""A chat WebSocket's messages and read receipts, stored in as few round trips as the
rules allow.

On PostgreSQL one statement numbers and stores a message: it takes the conversation's next
number (``UPDATE ... last_seq + 1``, which locks the conversation's row until the commit, so
numbers are taken one after the other and every lower number is committed first), checks
that the conversation is open, that it is the visitor's (for a visitor) and that the
``client_id`` is new, and inserts the message with the number it took. With the
transaction's opening (which binds the tenant for row-level security) and the commit, that
is three round trips on a bare asyncpg connection (``Database.driver_pool``): the ORM's unit
of work took about ten, and most of the time of a message went into its bookkeeping.

The rules are the ORM path's (``service.post_message``), which the REST endpoints and SQLite
still take: checked and sanitised by ``service.draft_message``; a resend of a ``client_id``
is the stored message; committed before it is acknowledged or published. A read receipt
(sent by the consoles and the widget for the messages they show) is one ``UPDATE`` the
same way.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from plateaux.channels.chat import events as ev
from plateaux.channels.chat import repository as repo
from plateaux.channels.chat import service as svc
from plateaux.channels.chat.models import MessageKind
from plateaux.platform.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from plateaux.platform.events import Event
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow

logger = logging.getLogger(__name__)

# $3/$4: the visitor and site the conversation must belong to (NULL for agents, whose
# right to write is checked against the live routing state before).
STORE = """
WITH numbered AS (
    UPDATE conversations SET last_seq = last_seq + 1
    WHERE tenant_id = $1 AND id = $2 AND status = 'open'
      AND ($3::uuid IS NULL OR (visitor_id = $3::uuid AND widget_id = $4::uuid))
      AND NOT EXISTS (SELECT 1 FROM conversation_messages
                      WHERE conversation_id = $2 AND client_id = $12::varchar)
    RETURNING last_seq
)
INSERT INTO conversation_messages (id, tenant_id, conversation_id, seq, kind, author_type,
                                   author_id, author_name, body, text, attachments,
                                   client_id, created_at)
SELECT $5::uuid, $1, $2, last_seq, $6::varchar, $7::varchar, $8::uuid, $9::varchar,
       $10::text, $11::text, $13::json, $12::varchar, $14::timestamptz
FROM numbered
RETURNING seq
"""

# Why nothing was stored: the conversation as it is, and the message already stored under
# this client id, if any.
EXPLAIN = """
SELECT c.status, c.visitor_id, c.widget_id,
       (SELECT m.seq FROM conversation_messages m
        WHERE m.conversation_id = c.id AND m.client_id = $3::varchar) AS existing
FROM conversations c
WHERE c.tenant_id = $1 AND c.id = $2
"""

ATTACHMENTS = """
SELECT id, filename, content_type, size FROM attachments
WHERE tenant_id = $1 AND conversation_id = $2 AND id = ANY($3::uuid[])
"""


# Read up to $3 (never backwards, never past the last message), for one side.
_READ = """
UPDATE conversations SET {column} = LEAST($3::int, last_seq)
WHERE tenant_id = $1 AND id = $2 AND {column} < LEAST($3::int, last_seq)
  AND ($4::uuid IS NULL OR (visitor_id = $4::uuid AND widget_id = $5::uuid))
RETURNING {column}
"""
READ_BY_VISITOR = _READ.format(column="visitor_read_seq")
READ_BY_AGENT = _READ.format(column="agent_read_seq")
MAX_SEQ = 2**31 - 1  # the column is an integer


@dataclass(frozen=True, slots=True)
class Sent:
    seq: int
    created: bool  # False: a resend, answered with the message stored the first time


async def send(services: Services, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
               actor: svc.Actor, owner: tuple[uuid.UUID, uuid.UUID] | None, text: str,
               client_id: str | None, kind: MessageKind = MessageKind.MESSAGE,
               attachment_ids: list[uuid.UUID] | None = None) -> Sent:
    """Store, commit, then publish a message; its number. ``owner`` (visitor id, widget
    id): for a visitor, whose conversation it must be."""
    pool = await services.db.driver_pool()
    if pool is None:
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            message, created = await svc.send_message(
                session, conversation_id, tenant_id, actor, text=text, client_id=client_id,
                kind=kind, attachment_ids=attachment_ids, owner=owner)
            return Sent(seq=message.seq, created=created)
    draft = svc.draft_message(actor, text=text, client_id=client_id, kind=kind,
                              attachment_ids=attachment_ids)
    created_at = utcnow()
    message_id = uuid.uuid4()
    # A connection lost before the commit was sent stored nothing: one more try on
    # another connection. Lost during the commit, the outcome is unknown: the client,
    # not acknowledged, sends again with its client id.
    for attempt in (1, 2):
        async with pool.acquire() as connection:
            store = _Store(connection, tenant_id, conversation_id)
            try:
                seq, refs, created = await store.run(
                    actor=actor, draft=draft, owner=owner, message_id=message_id,
                    created_at=created_at)
            except (asyncpg.ConnectionDoesNotExistError, ConnectionError) as error:
                if store.committing or attempt == 2:
                    raise
                logger.warning("chat message store retried on a new connection: %s", error)
                continue
        break
    if not created:
        return Sent(seq=seq, created=False)
    frame = ev.new_message_frame(
        seq=seq, kind=draft.kind.value, author_type=actor.author_type.value,
        author_name=actor.name, body=draft.body, text=draft.text, attachments=refs,
        created_at=created_at, client_id=draft.client_id)
    try:
        await services.bus.publish_many([
            Event(tenant_id=tenant_id, type=ev.MESSAGE, audience=audience, payload=frame)
            for audience in ev.audiences_for(conversation_id, draft.kind.value)])
    except Exception:
        # Stored and committed: whoever missed the event gets the message from the next
        # one's gap, or on reconnecting. The sender is still told it is stored.
        logger.exception("chat message %s stored but not published", seq)
    return Sent(seq=seq, created=True)


async def mark_read(services: Services, *, tenant_id: uuid.UUID,
                    conversation_id: uuid.UUID, actor: svc.Actor,
                    owner: tuple[uuid.UUID, uuid.UUID] | None, seq: int) -> None:
    """A read receipt, stored then published; nothing when it does not move the side's
    mark forward (an older or repeated receipt), or the conversation is no longer the
    visitor's."""
    pool = await services.db.driver_pool()
    if pool is None:
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            conversation = await repo.get_conversation(session, tenant_id, conversation_id)
            if owner is not None and (conversation.visitor_id,
                                      conversation.widget_id) != owner:
                raise Forbidden("Not your conversation.")
            await svc.mark_read(session, conversation, actor, seq)
        return
    statement = READ_BY_VISITOR if actor.is_visitor else READ_BY_AGENT
    async with pool.acquire() as connection:
        store = _Store(connection, tenant_id, conversation_id)
        read = await store.once(statement, max(0, min(seq, MAX_SEQ)),
                                owner[0] if owner else None, owner[1] if owner else None)
    if read is None:
        return
    try:
        await services.bus.publish_many([
            Event(tenant_id=tenant_id, type=ev.READ, audience=audience,
                  payload=ev.read_frame(actor.is_visitor, int(read)))
            for audience in ev.both_audiences(conversation_id)])
    except Exception:
        logger.exception("read receipt stored but not published")


class _Store:
    """One attempt on one connection; ``committing`` once the commit has been sent."""

    def __init__(self, connection: asyncpg.Connection, tenant_id: uuid.UUID,
                 conversation_id: uuid.UUID) -> None:
        if not isinstance(tenant_id, uuid.UUID):
            raise TypeError("the tenant is a UUID")
        self.connection = connection
        self.tenant_id = tenant_id
        self.conversation_id = conversation_id
        self.committing = False

    async def _begin(self) -> None:
        # The opening and the tenant binding in one round trip (the simple protocol takes
        # several statements but no parameters: the tenant is a UUID, formatted by uuid).
        await self.connection.execute(
            f"BEGIN; SELECT set_config('app.tenant_id', '{self.tenant_id}', true)")

    async def run(self, *, actor: svc.Actor, draft: svc.Draft,
                  owner: tuple[uuid.UUID, uuid.UUID] | None, message_id: uuid.UUID,
                  created_at: datetime) -> tuple[int, list[dict[str, Any]], bool]:
        """(number, attachment references, created): not created, the number is the one
        a resend's client id got when it was first stored."""
        connection = self.connection
        await self._begin()
        try:
            refs = await self._attachments(draft.attachment_ids)
            try:
                seq = await connection.fetchval(
                    STORE, self.tenant_id, self.conversation_id,
                    owner[0] if owner else None, owner[1] if owner else None, message_id,
                    draft.kind.value, actor.author_type.value, actor.id, actor.name,
                    draft.body, draft.text, draft.client_id,
                    json.dumps(refs, separators=(",", ":")), created_at)
            except asyncpg.UniqueViolationError:
                # A resend racing the first sending of the same client id, which committed
                # while this one waited for the conversation's row.
                await connection.execute("ROLLBACK")
                await self._begin()
                seq = None
            if seq is None:
                existing = await self._explain(draft.client_id, owner)
                await connection.execute("ROLLBACK")
                return existing, [], False
            self.committing = True
            await connection.execute("COMMIT")
            return int(seq), refs, True
        except BaseException:
            if connection.is_in_transaction() and not connection.is_closed():
                await connection.execute("ROLLBACK")
            raise

    async def once(self, statement: str, *args: Any) -> Any:
        """One statement in a transaction of its own, bound to the tenant; its value."""
        connection = self.connection
        await self._begin()
        try:
            value = await connection.fetchval(statement, self.tenant_id, self.conversation_id,
                                              *args)
            self.committing = True
            await connection.execute("COMMIT")
            return value
        except BaseException:
            if connection.is_in_transaction() and not connection.is_closed():
                await connection.execute("ROLLBACK")
            raise

    async def _attachments(self, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        if not ids:
            return []
        rows = await self.connection.fetch(ATTACHMENTS, self.tenant_id, self.conversation_id,
                                           ids)
        by_id = {row["id"]: row for row in rows}
        if any(i not in by_id for i in ids):
            raise UnprocessableContent("Unknown attachment.")
        return [svc.attachment_reference(id=i, filename=by_id[i]["filename"],
                                         content_type=by_id[i]["content_type"],
                                         size=by_id[i]["size"]) for i in ids]

    async def _explain(self, client_id: str | None,
                       owner: tuple[uuid.UUID, uuid.UUID] | None) -> int:
        """The number of the message this client id already stored, or why nothing was."""
        row = await self.connection.fetchrow(EXPLAIN, self.tenant_id, self.conversation_id,
                                             client_id)
        if row is None:
            raise NotFound("Conversation not found.")
        if owner is not None and (row["visitor_id"], row["widget_id"]) != owner:
            raise Forbidden("Not your conversation.")
        if row["existing"] is not None:
            return int(row["existing"])
        if row["status"] != "open":
            raise Conflict("The conversation has ended.")
        raise Conflict("The message was not stored; send it again.")
