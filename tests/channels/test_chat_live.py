"""Chat over real WebSockets against a live server: acknowledgements after storage, typing
and read receipts, and a visitor whose network drops resuming with nothing lost and
nothing twice."""

from __future__ import annotations

import httpx

from plateaux.platform.services import Services
from tests.channels.chat_world import chat_world
from tests.channels.live_chat import ChatSocket, agent_url, open_conversation, visitor_url
from tests.support.factories import TenantFactory
from tests.support.routing_floor import sign_in
from tests.support.servers import LiveServer, own_address


async def test_a_dropped_visitor_resumes_without_loss_or_duplicate(
    live_server: LiveServer, tenants: TenantFactory, services: Services
) -> None:
    chat = await chat_world(services, tenants)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30,
                                 headers=own_address()) as http:
        created = await http.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                  json={"text": "first"})
        assert created.status_code == 201, created.text
        cid = created.json()["conversation_id"]
        admin = await sign_in(http, live_server.url, chat.world, chat.world.admin.email,
                              address="10.9.8.7")

    agent = await ChatSocket(agent_url(live_server.url, cid, 0), headers=admin).open()
    visitor = await ChatSocket(visitor_url(live_server.url, chat, cid, 0)).open()
    try:
        await visitor.until_seq(1)
        await agent.until_seq(1)
        assert await visitor.say("v-1", "hello") == 2
        await agent.until_seq(2)

        await visitor.send({"type": "typing", "typing": True})
        typing = await agent.expect("typing")
        assert typing == {"type": "typing", "author_type": "visitor", "author_name": None,
                          "typing": True}
        await agent.send({"type": "read", "seq": 2})
        assert (await visitor.expect("read"))["seq"] == 2

        # A note on the agents' side is never sent to the visitor.
        await agent.send({"type": "message", "kind": "note", "client_id": "n-1",
                          "text": "internal"})
        assert (await agent.expect("ack", client_id="n-1"))["seq"] == 3

        visitor.drop()
        seen = list(visitor.seqs)
        for number in range(5):
            await agent.say(f"a-{number}", f"reply {number}")
        resumed = await ChatSocket(visitor_url(live_server.url, chat, cid, seen[-1])).open()
        try:
            await resumed.until_seq(8)
            assert resumed.seqs == [4, 5, 6, 7, 8]
            # A resend of a message whose ack was lost is acknowledged with its number.
            assert await resumed.say("v-1", "hello") == 2
            assert await resumed.say("v-2", "still there") == 9
            await agent.until_seq(9)
            assert agent.seqs == list(range(1, 10))
            await resumed.send({"type": "end"})
            assert (await agent.expect("ended")) == {"type": "ended", "by": "visitor"}
        finally:
            await resumed.close()
    finally:
        await visitor.close()
        await agent.close()


async def test_the_visitor_token_is_not_written_to_the_server_log(
    live_server: LiveServer, tenants: TenantFactory, services: Services
) -> None:
    """The widget's token travels in the WebSocket's query string (a browser sets no
    header on one); the server logs the socket's path, never its query."""
    chat = await chat_world(services, tenants)
    cid = await open_conversation(live_server.url, chat)
    visitor = await ChatSocket(visitor_url(live_server.url, chat, cid, 0)).open()
    await visitor.close()
    path = f"/conversations/{cid}/ws"
    log = live_server.log_path.read_text()
    assert f'{path}?[query removed]\\" [accepted]' in log
    assert chat.visitor_token not in log


async def test_the_websockets_refuse_strangers(
    live_server: LiveServer, tenants: TenantFactory, services: Services
) -> None:
    chat = await chat_world(services, tenants)
    cid = await open_conversation(live_server.url, chat)
    from websockets.asyncio.client import connect

    for url, code in ((visitor_url(live_server.url, chat, cid, 0).replace(
            chat.visitor_token, "wrong"), 4401),
            (agent_url(live_server.url, cid, 0), 4401)):
        async with connect(url) as socket:
            await socket.wait_closed()
            assert socket.close_code == code
    async with connect(visitor_url(live_server.url, chat, cid, 0),
                       additional_headers={"Origin": "https://evil.example"}) as socket:
        await socket.wait_closed()
        assert socket.close_code == 4403
