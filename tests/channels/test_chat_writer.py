"""A chat WebSocket's write path, in-process on the real database (one statement on
PostgreSQL, the ORM on SQLite): consecutive numbers under concurrent senders, resends
(racing too), the sender's and the tenant's checks, attachments, the end, a store whose
answer was lost; and who may write on an agent's socket once the contact moves."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid

import httpx
import pytest
from sqlalchemy.engine import make_url

from plateaux.channels.chat import events as ev
from plateaux.channels.chat import repository as repo
from plateaux.channels.chat import service as svc
from plateaux.channels.chat import writer
from plateaux.channels.chat.models import AuthorType, Conversation, MessageKind
from plateaux.channels.chat.senders import AgentSender
from plateaux.platform.database import Database
from plateaux.platform.deps import _user_subject
from plateaux.platform.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from plateaux.platform.services import Services
from plateaux.tenants.models import Role, User
from tests.channels.chat_world import API, ChatWorld, assigned_conversation, chat_world
from tests.support.database import PG_HOST, PG_PORT
from tests.support.factories import TenantFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
# A Parse message (type, length) preparing the statement that stores a message: its name.
PREPARED_STORE = re.compile(rb"P[\s\S]{4}([^\x00]+)\x00[^\x00]*chat_store_message")


async def _conversation(services: Services, chat: ChatWorld,
                        conversation_id: str) -> Conversation:
    async with services.unit_of_work(tenant_id=chat.world.tenant.id) as session:
        return await repo.get_conversation(session, chat.world.tenant.id,
                                           uuid.UUID(conversation_id))


async def _assigned(client: httpx.AsyncClient, tenants: TenantFactory, services: Services,
                    ) -> tuple[ChatWorld, dict[str, str], Conversation]:
    """A chat world whose conversation its agent accepted, and that conversation."""
    chat = await chat_world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    return chat, ids, await _conversation(services, chat, ids["conversation_id"])


async def _stored(services: Services, conversation: Conversation) -> list[tuple[int, str]]:
    async with services.unit_of_work(tenant_id=conversation.tenant_id) as session:
        rows = await svc.messages(session, conversation, after=0, for_visitor=False)
    return [(m.seq, m.text) for m in rows]


async def test_concurrent_senders_get_consecutive_numbers_and_resends_their_first(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat, _, conversation = await _assigned(client, tenants, services)
    visitor = svc.visitor_actor(chat.visitor)
    agent = svc.Actor(author_type=AuthorType.AGENT, id=chat.agent.id, name="Ann Agent")
    owner = (chat.visitor.id, chat.widget.id)

    async def send(number: int, client_id: str | None = None) -> writer.Sent:
        actor, mine = (visitor, owner) if number % 2 else (agent, None)
        return await writer.send(services, tenant_id=conversation.tenant_id,
                                 conversation_id=conversation.id, actor=actor, owner=mine,
                                 text=f"m{number}", client_id=client_id or f"c-{number}")

    sent = await asyncio.gather(*(send(n) for n in range(24)))
    assert sorted(s.seq for s in sent) == list(range(2, 26))  # 1 is the first message
    assert all(s.created for s in sent)
    # A resend is the stored message, however many race each other.
    again = await asyncio.gather(*(send(3) for _ in range(5)))
    assert {(s.seq, s.created) for s in again} == {(sent[3].seq, False)}
    racing = await asyncio.gather(*(send(7, "new-one") for _ in range(5)))
    assert len({s.seq for s in racing}) == 1 and sum(s.created for s in racing) == 1
    stored = await _stored(services, conversation)
    assert [seq for seq, _ in stored] == list(range(1, 27))
    assert dict(stored)[sent[5].seq] == "m5"


async def test_the_write_checks_the_visitor_the_tenant_and_the_end(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat, _, conversation = await _assigned(client, tenants, services)
    visitor = svc.visitor_actor(chat.visitor)
    tenant, cid = conversation.tenant_id, conversation.id

    async def send(**fields: object) -> writer.Sent:
        values: dict[str, object] = {
            "tenant_id": tenant, "conversation_id": cid, "actor": visitor,
            "owner": (chat.visitor.id, chat.widget.id), "text": "hello",
            "client_id": None, **fields}
        return await writer.send(services, **values)  # type: ignore[arg-type]

    with pytest.raises(Forbidden):  # another visitor of the same site
        await send(owner=(uuid.uuid4(), chat.widget.id))
    with pytest.raises(Forbidden):  # a visitor sends messages only
        await send(kind=MessageKind.NOTE)
    with pytest.raises(UnprocessableContent):
        await send(text="   ")
    with pytest.raises(UnprocessableContent):
        await send(attachment_ids=[uuid.uuid4()])
    elsewhere = await chat_world(services, tenants)
    with pytest.raises(NotFound):  # another tenant's conversation, even by its id
        await send(tenant_id=elsewhere.world.tenant.id)

    sent = await send(text="<b>bold</b> https://example.com", client_id="v-1")
    async with services.unit_of_work(tenant_id=tenant) as session:
        stored = (await svc.messages(session, conversation, after=sent.seq - 1,
                                     for_visitor=True))[0]
    assert (stored.seq, stored.client_id, stored.author_type) == (sent.seq, "v-1", "visitor")
    assert "<b>" not in stored.body and "&lt;b&gt;" in stored.body
    assert 'rel="nofollow noopener noreferrer"' in stored.body

    async with services.unit_of_work(tenant_id=tenant) as session:
        await svc.end(session, await repo.get_conversation(session, tenant, cid), by="agent")
    with pytest.raises(Conflict):
        await send(client_id="after-the-end")
    # The resend of a message stored before the end still gets its number.
    assert await send(client_id="v-1") == writer.Sent(seq=sent.seq, created=False)


async def test_attachments_are_named_in_the_order_sent(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat, ids, conversation = await _assigned(client, tenants, services)
    cid = ids["conversation_id"]
    uploaded = []
    for name in ("b.png", "a.png"):
        answer = await client.post(chat.site(f"/conversations/{cid}/attachments"),
                                   headers=chat.visitor_headers,
                                   files={"file": (name, PNG, "image/png")})
        assert answer.status_code == 201, answer.text
        uploaded.append(answer.json())
    sent = await writer.send(
        services, tenant_id=conversation.tenant_id, conversation_id=conversation.id,
        actor=svc.visitor_actor(chat.visitor), owner=(chat.visitor.id, chat.widget.id),
        text="", client_id="files", attachment_ids=[uuid.UUID(u["id"]) for u in uploaded])
    listed = (await client.get(f"{API}/conversations/{cid}/messages?after={sent.seq - 1}",
                               headers=chat.admin_headers)).json()
    assert [a["name"] for a in listed[0]["attachments"]] == ["b.png", "a.png"]


async def _user(services: Services, user: User) -> User:
    async with services.unit_of_work(tenant_id=user.tenant_id) as session:
        found = await session.get(User, user.id)
        assert found is not None
        return found


async def test_an_agent_socket_may_write_while_its_agent_serves_the_contact(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat, ids, conversation = await _assigned(client, tenants, services)
    supervisor = await tenants.add_user(chat.world, role=Role.SUPERVISOR)
    senders = {}
    for user in (chat.agent, supervisor):
        subject = _user_subject(await _user(services, user))
        async with services.unit_of_work(tenant_id=subject.tenant_id) as session:
            _, actor = await svc.conversation_for_agent(session, subject, conversation.id)
        senders[user.id] = AgentSender(services, subject, conversation, actor, audiences=[])
    agent, watching = senders[chat.agent.id], senders[supervisor.id]
    assert (await agent.current()).author_type is AuthorType.AGENT
    assert (await watching.current()).author_type is AuthorType.SUPERVISOR

    # Back to the queue: the agent no longer serves it; the supervisor still watches.
    moved = await client.post(f"{API}/contacts/{ids['contact_id']}/transfer",
                              headers=chat.admin_headers,
                              json={"queue_id": str(chat.queue.id)})
    assert moved.status_code == 200, moved.text
    with pytest.raises(Forbidden):
        await agent.current()
    assert (await watching.current()).author_type is AuthorType.SUPERVISOR


async def test_read_receipts_move_forward_only_and_are_announced(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat, _, conversation = await _assigned(client, tenants, services)
    tenant, cid = conversation.tenant_id, conversation.id
    visitor = svc.visitor_actor(chat.visitor)
    agent = svc.Actor(author_type=AuthorType.AGENT, id=chat.agent.id, name="Ann Agent")
    owner = (chat.visitor.id, chat.widget.id)
    for number in range(3):
        await writer.send(services, tenant_id=tenant, conversation_id=cid, actor=agent,
                          owner=None, text=f"reply {number}", client_id=None)

    async def marks() -> tuple[int, int]:
        found = await _conversation(services, chat, str(cid))
        return found.visitor_read_seq, found.agent_read_seq

    async with services.bus.subscribe(tenant, [ev.public_audience(cid)]) as events:
        await writer.mark_read(services, tenant_id=tenant, conversation_id=cid,
                               actor=visitor, owner=owner, seq=3)
        announced = await events.get(timeout=10)
        assert announced is not None
        assert announced.payload == {"type": "read", "reader": "visitor", "seq": 3}
    assert await marks() == (3, 0)
    await writer.mark_read(services, tenant_id=tenant, conversation_id=cid, actor=visitor,
                           owner=owner, seq=2)  # never backwards
    await writer.mark_read(services, tenant_id=tenant, conversation_id=cid, actor=agent,
                           owner=None, seq=2**40)  # never past the last message
    assert await marks() == (3, 4)


class LostReply:
    """A TCP relay to PostgreSQL on loopback that, once armed, cuts a connection at the
    moment the server answers the call storing a chat message: the message is committed,
    and the application never hears it was (the database host lost mid-answer)."""

    def __init__(self) -> None:
        self.port = 0
        self.armed = False
        self.cut = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LostReply:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _relay(self, client_in: asyncio.StreamReader,
                     client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(PG_HOST, PG_PORT)
        storing = asyncio.Event()
        # The store's statement is prepared once per connection (when the connection is
        # warmed, before the relay is armed); a call names it by its prepared name.
        names: set[bytes] = set()

        async def upstream() -> None:
            while data := await client_in.read(65536):
                names.update(PREPARED_STORE.findall(data))
                if any(name in data for name in names):
                    storing.set()
                server_out.write(data)
                await server_out.drain()
            server_out.close()

        async def downstream() -> None:
            while data := await server_in.read(65536):
                # The execution's answer (BindComplete, then its row), not the statement's
                # preparation: dropped, and the connection with it.
                if storing.is_set() and self.armed and data.startswith(b"2\x00\x00\x00\x04"):
                    self.armed = False
                    self.cut += 1
                    client_out.transport.abort()
                    server_out.close()
                    return
                client_out.write(data)
                await client_out.drain()
            client_out.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)


@pytest.mark.postgres_only
async def test_a_store_whose_answer_was_lost_is_found_and_published_once(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat, _, conversation = await _assigned(client, tenants, services)
    tenant, cid = conversation.tenant_id, conversation.id
    visitor = svc.visitor_actor(chat.visitor)
    owner = (chat.visitor.id, chat.widget.id)
    async with LostReply() as link:
        # In clear, so the relay can tell the store's answer from the rest.
        url = make_url(services.settings.database_url).set(
            host="127.0.0.1", port=link.port).update_query_dict({"ssl": "disable"})
        database = Database(services.settings.model_copy(
            update={"database_url": url.render_as_string(hide_password=False)}))
        linked = dataclasses.replace(services, db=database)
        try:
            await writer.connections(linked)  # opened and warmed before the relay is armed
            async with services.bus.subscribe(tenant, [ev.public_audience(cid)]) as events:
                link.armed = True
                for client_id in ("lost-1", None):  # by its client id, and without one
                    sent = await writer.send(linked, tenant_id=tenant, conversation_id=cid,
                                             actor=visitor, owner=owner, text="are you there?",
                                             client_id=client_id)
                    assert sent.created  # committed by the first try, found by the second
                    published = await events.get(timeout=10)
                    assert published is not None and published.payload["seq"] == sent.seq
                    assert await events.get(timeout=0.3) is None  # once
                    link.armed = True
                assert link.cut == 2
        finally:
            await database.dispose()
    stored = await _stored(services, conversation)
    assert [text for _, text in stored].count("are you there?") == 2
    assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1))


@pytest.mark.postgres_only
async def test_the_message_connections_open_together_and_warm(services: Services) -> None:
    # Every connection is opened with the pool and has its statements prepared (and its
    # functions compiled) before a message needs it: none opens, cold, under a message.
    pool = await writer.connections(services)
    assert pool is not None
    size = services.settings.db_pool_size
    assert pool.get_size() == size
    held = [await pool.acquire() for _ in range(size)]
    try:
        assert pool.get_size() == size
        for connection in held:
            prepared = " ".join(await connection.fetchval(
                "SELECT array_agg(statement) FROM pg_prepared_statements"))
            assert "chat_store_message" in prepared and "chat_mark_read" in prepared
    finally:
        for connection in held:
            await pool.release(connection)
