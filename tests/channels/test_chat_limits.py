"""Limits of a chat WebSocket: frames and messages per connection (token buckets in the
process), sockets opened per person and conversation (shared), and the open sockets kept
out of the garbage collector's full passes with nothing leaked for good."""

from __future__ import annotations

import asyncio
import gc
import weakref

from websockets.asyncio.client import connect

from plateaux.channels.chat.heap import SocketHeap
from plateaux.channels.chat.live import FRAME_BURST, MESSAGE_BURST, SOCKET_LIMIT
from plateaux.platform.errors import TooManyRequests
from plateaux.platform.ratelimit import TokenBucket
from plateaux.platform.services import Services
from tests.channels.chat_world import chat_world
from tests.channels.live_chat import ChatSocket, open_conversation, visitor_url
from tests.support.factories import TenantFactory
from tests.support.servers import LiveServer


def test_a_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 0.5  # the next token in half a second
    now[0] += 0.5
    assert bucket.take() == 0.0
    now[0] += 60  # a long pause saves up no more than the burst
    assert [bucket.take() for _ in range(4)][-1] > 0
    try:
        bucket.check(what="frames")
    except TooManyRequests as error:
        assert error.status == 429 and error.headers == {"Retry-After": "1"}
    else:
        raise AssertionError("the empty bucket let a frame through")


async def test_a_flooding_socket_is_refused_frames_and_messages_beyond_its_budget(
    live_server: LiveServer, tenants: TenantFactory, services: Services
) -> None:
    chat = await chat_world(services, tenants)
    cid = await open_conversation(live_server.url, chat, "hi")
    pinging = await ChatSocket(visitor_url(live_server.url, chat, cid, 0)).open()
    try:
        for _ in range(FRAME_BURST + 10):
            await pinging.send({"type": "ping"})
        answers = [(await pinging.frames.get())["type"] for _ in range(FRAME_BURST + 10)]
        assert answers.count("pong") >= FRAME_BURST and "error" in answers
    finally:
        await pinging.close()

    talking = await ChatSocket(visitor_url(live_server.url, chat, cid, 0)).open()
    try:
        count = MESSAGE_BURST + 3
        for number in range(count):
            await talking.send({"type": "message", "client_id": f"m-{number}", "text": "x"})
        acks, refused = [], []
        while len(acks) + len(refused) < count:
            frame = await asyncio.wait_for(talking.frames.get(), 30)
            if frame["type"] == "ack":
                acks.append(frame["client_id"])
            elif frame["type"] == "error":
                assert frame["status"] == 429, frame
                refused.append(frame["client_id"])
        assert len(acks) >= MESSAGE_BURST and refused
        assert set(acks) | set(refused) == {f"m-{n}" for n in range(count)}
    finally:
        await talking.close()


async def test_opening_sockets_again_and_again_is_limited(
    live_server: LiveServer, tenants: TenantFactory, services: Services
) -> None:
    chat = await chat_world(services, tenants)
    cid = await open_conversation(live_server.url, chat, "hi")
    url = visitor_url(live_server.url, chat, cid, 0)
    for _ in range(SOCKET_LIMIT.count):
        socket = await ChatSocket(url).open()
        await socket.close()
    async with connect(url) as refused:
        await refused.wait_closed()
        assert refused.close_code == 4429


async def test_open_sockets_are_frozen_and_freed_once_enough_have_closed() -> None:
    heap = SocketHeap(freeze_from=3, settle_seconds=0.01)

    class Held:
        """Something a socket holds, in a cycle with itself."""

        def __init__(self) -> None:
            self.me = self

    held = Held()
    gone = weakref.ref(held)
    try:
        for _ in range(3):
            heap.opened()
        await asyncio.sleep(0.1)
        assert heap.freezes == 1 and gc.get_freeze_count() > 0
        del held
        gc.collect()
        assert gone() is not None  # frozen: out of the collector's reach
        for _ in range(3):
            heap.closed()
        await asyncio.sleep(0.1)
        assert heap.full_passes == 1 and gone() is None
    finally:
        gc.unfreeze()
