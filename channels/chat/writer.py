"""A chat WebSocket's messages and read receipts, stored in one round trip each.

On PostgreSQL one statement numbers, stores and commits a message: a call of the database
function ``chat_store_message`` (migration 0011), alone in its transaction, which binds the
tenant for row-level security and then takes the conversation's next number
(``UPDATE ... last_seq + 1``, which locks the conversation's row until the commit, so
numbers are taken one after the other and every lower number is committed first), checking
that the conversation is open, that it is the visitor's (for a visitor) and that the
``client_id`` is new, and inserts the message with the number it took. The ORM's unit of
work took about ten round trips, a transaction of our own three; most of a message's time
went into them.

The rules are the ORM path's (``service.post_message``), which the REST endpoints and SQLite
still take: checked and sanitised by ``service.draft_message``; a resend of a ``client_id``
is the stored message; committed before it is acknowledged or published. A read receipt
(sent by the consoles and the widget for the messages they show) is one call of
``chat_mark_read`` the same way.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
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
SELECT chat_store_message($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::uuid, $6::varchar,
                          $7::varchar, $8::uuid, $9::varchar, $10::text, $11::text,
                          $12::varchar, $13::json, $14::timestamptz)
"""

# Why nothing was stored: the conversation as it is, and the message already stored under
# this id (an earlier try of this very store) or this client id, if any. At most one
# matches: an earlier try wrote this id with this client id, which is unique in the
# conversation (and a NULL client id matches nothing).
EXPLAIN = """
SELECT c.status, c.visitor_id, c.widget_id, m.seq AS existing, m.id = $3::uuid AS ours
FROM conversations c
LEFT JOIN LATERAL (SELECT seq, id FROM conversation_messages
                   WHERE conversation_id = c.id
                     AND (id = $3::uuid OR client_id = $4::varchar)
                   LIMIT 1) m ON true
WHERE c.tenant_id = $1 AND c.id = $2
"""

ATTACHMENTS = """
SELECT id, filename, content_type, size FROM attachments
WHERE tenant_id = $1 AND conversation_id = $2 AND id = ANY($3::uuid[])
"""

# Read up to $4 (never backwards, never past the last message), for one side; $5/$6 as
# STORE's $3/$4.
READ = "SELECT chat_mark_read($1::uuid, $2::uuid, $3::boolean, $4::int, $5::uuid, $6::uuid)"
MAX_SEQ = 2**31 - 1  # the column is an integer

# Errors after which the statement's outcome is unknown (the connection went away while it
# ran) or it never ran: tried once more on another connection.
_LOST = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, ConnectionError)


async def connections(services: Services) -> asyncpg.Pool | None:
    """The bare connections messages and read receipts are stored on (None on SQLite),
    each warmed as it opens."""
    return await services.db.driver_pool(init=_warm)


async def _warm(connection: asyncpg.Connection) -> None:
    """Prepare the store's and the read receipt's statements on a new connection, and have
    its backend compile and plan their functions: the first call of each on a connection
    otherwise costs the message making it a round trip to prepare and the compiling (about
    7 ms, against under 1 ms warm). The calls name the nil tenant, which has no
    conversation: nothing matches, nothing is stored."""
    nil = uuid.UUID(int=0)
    await connection.fetchval(STORE, nil, nil, None, None, nil, MessageKind.MESSAGE.value,
                              "visitor", None, "", "", "", None, "[]", utcnow())
    for by_visitor in (True, False):  # each branch's statement is planned on its first run
        await connection.fetchval(READ, nil, nil, by_visitor, 0, None, None)


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
    pool = await connections(services)
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
    # The message's id is chosen here, once: a second try after a lost connection finds
    # the message the first one committed (if it did) under that id, and it counts as
    # created by this call, so it is still published.
    for attempt in (1, 2):
        try:
            async with pool.acquire() as connection:
                store = _Store(connection, tenant_id, conversation_id)
                refs = await store.attachments(draft.attachment_ids)
                try:
                    seq = await connection.fetchval(
                        STORE, tenant_id, conversation_id, *_owner_args(owner), message_id,
                        draft.kind.value, actor.author_type.value, actor.id, actor.name,
                        draft.body, draft.text, draft.client_id,
                        json.dumps(refs, separators=(",", ":")), created_at)
                except asyncpg.UniqueViolationError:
                    # A resend racing the first sending of the same client id, which
                    # committed while this one waited for the conversation's row; or this
                    # call's own first try, committed before its connection was lost. The
                    # call's transaction has ended: the connection answers the question.
                    seq = None
                created = seq is not None
                if not created:
                    seq, created = await store.explain(message_id, draft.client_id, owner)
        except _LOST as error:
            if attempt == 2:
                raise
            logger.warning("chat message store tried again on a new connection: %s", error)
            continue
        break
    if not created:
        return Sent(seq=seq, created=False)
    frame = ev.new_message_frame(
        seq=seq, kind=draft.kind.value, author_type=actor.author_type.value,
        author_name=actor.name, body=draft.body, text=draft.text, attachments=refs,
        created_at=created_at, client_id=draft.client_id)
    try:
        await services.bus.publish(
            Event(tenant_id=tenant_id, type=ev.MESSAGE,
                  audience=ev.audience_for(conversation_id, draft.kind.value), payload=frame))
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
    pool = await connections(services)
    if pool is None:
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            conversation = await repo.get_conversation(session, tenant_id, conversation_id)
            if owner is not None and (conversation.visitor_id,
                                      conversation.widget_id) != owner:
                raise Forbidden("Not your conversation.")
            await svc.mark_read(session, conversation, actor, seq)
        return
    async with pool.acquire() as connection:
        read = await connection.fetchval(
            READ, tenant_id, conversation_id, actor.is_visitor, max(0, min(seq, MAX_SEQ)),
            *_owner_args(owner))
    if read is None:
        return
    try:
        await services.bus.publish(
            Event(tenant_id=tenant_id, type=ev.READ, audience=ev.public_audience(conversation_id),
                  payload=ev.read_frame(actor.is_visitor, int(read))))
    except Exception:
        logger.exception("read receipt stored but not published")


def _owner_args(owner: tuple[uuid.UUID, uuid.UUID] | None) -> tuple[uuid.UUID | None, ...]:
    """The statements' visitor and site parameters: NULL for an agent."""
    return owner if owner is not None else (None, None)


class _Store:
    """The reads around a message's store, on one connection, each in a transaction of
    its own bound to the tenant."""

    def __init__(self, connection: asyncpg.Connection, tenant_id: uuid.UUID,
                 conversation_id: uuid.UUID) -> None:
        if not isinstance(tenant_id, uuid.UUID):
            raise TypeError("the tenant is a UUID")
        self.connection = connection
        self.tenant_id = tenant_id
        self.conversation_id = conversation_id

    async def _read(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        connection = self.connection
        # The opening and the tenant binding in one round trip (the simple protocol takes
        # several statements but no parameters: the tenant is a UUID, formatted by uuid).
        await connection.execute(
            f"BEGIN; SELECT set_config('app.tenant_id', '{self.tenant_id}', true)")
        try:
            return await connection.fetch(statement, self.tenant_id, self.conversation_id,
                                          *args)
        finally:
            if not connection.is_closed():
                await connection.execute("ROLLBACK")

    async def attachments(self, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        """The references of the files a message names, in its order; Unknown attachment
        when one is not a file of this conversation."""
        if not ids:
            return []
        rows = await self._read(ATTACHMENTS, ids)
        by_id = {row["id"]: row for row in rows}
        if any(i not in by_id for i in ids):
            raise UnprocessableContent("Unknown attachment.")
        return [svc.attachment_reference(id=i, filename=by_id[i]["filename"],
                                         content_type=by_id[i]["content_type"],
                                         size=by_id[i]["size"]) for i in ids]

    async def explain(self, message_id: uuid.UUID, client_id: str | None,
                      owner: tuple[uuid.UUID, uuid.UUID] | None) -> tuple[int, bool]:
        """(number, created by this call) of the message stored under this id or client
        id, or why nothing was."""
        rows = await self._read(EXPLAIN, message_id, client_id)
        if not rows:
            raise NotFound("Conversation not found.")
        row = rows[0]
        if owner is not None and (row["visitor_id"], row["widget_id"]) != owner:
            raise Forbidden("Not your conversation.")
        if row["existing"] is not None:
            return int(row["existing"]), bool(row["ours"])
        if row["status"] != "open":
            raise Conflict("The conversation has ended.")
        raise Conflict("The message was not stored; send it again.")
