"""One live chat connection (the visitor's widget or an agent's console), resumable.

On connect: subscribe to the bus first, then send what is stored after the client's last
sequence number (read with the routing status in one unit of work), then forward live
events, dropping numbers already sent. A live message that arrives ahead of one not yet
seen (the bus dropped one, or two processes' publications crossed) is preceded by a read
of the gap from the database, where it is committed already: a message's number is taken
under the conversation's row lock, so every lower number was committed before it. Nothing
is lost and nothing is sent twice, whichever process the client reconnects to.

The sender was authorised when the socket opened (``senders.py``); a message is stored by
``writer.py`` (one statement on PostgreSQL). Frames are rate limited per connection in the
process (token buckets: a shared counter would cost a Redis round trip per frame), and how
often one person opens sockets on a conversation is limited across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from plateaux.channels.chat import events as ev
from plateaux.channels.chat import repository as repo
from plateaux.channels.chat import service as svc
from plateaux.channels.chat import writer
from plateaux.channels.chat.heap import HEAP
from plateaux.channels.chat.models import ConversationMessage, MessageKind
from plateaux.channels.chat.schemas import MessageIn
from plateaux.channels.chat.senders import Sender
from plateaux.platform.errors import ProblemError
from plateaux.platform.events import Event
from plateaux.platform.ratelimit import Limit, TokenBucket
from plateaux.platform.services import Services

logger = logging.getLogger(__name__)

# Per connection: a person types a few messages a second at most (120 a minute sustained;
# 20 at once, as a widget sends what it queued while offline); every frame (typing, read
# receipts, pings too) 10 a second, 60 at once.
MESSAGE_RATE, MESSAGE_BURST = 2.0, 20
FRAME_RATE, FRAME_BURST = 10.0, 60
# Per person and conversation, across processes: how often a socket opens. Reconnecting
# after a network drop or from a few tabs stays far below; what the per-connection buckets
# allow cannot be multiplied by opening sockets.
SOCKET_LIMIT = Limit(count=30, seconds=60)


async def admit(services: Services, sender: Sender) -> None:
    """TooManyRequests when this person opened too many sockets on the conversation."""
    await services.limiter.check(f"chat:ws:{sender.conversation_id}:{sender.who}",
                                 SOCKET_LIMIT, what="connections")


class LiveChat:
    def __init__(self, websocket: WebSocket, services: Services, *, sender: Sender,
                 after: int) -> None:
        self.websocket = websocket
        self.services = services
        self.sender = sender
        self.tenant_id = sender.tenant_id
        self.conversation_id = sender.conversation_id
        self.audiences = sender.audiences
        self.for_visitor = sender.actor.is_visitor
        self.last = max(0, after)
        self.messages = TokenBucket(rate=MESSAGE_RATE, burst=MESSAGE_BURST)
        self.frames = TokenBucket(rate=FRAME_RATE, burst=FRAME_BURST)
        self._send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        text = orjson.dumps(frame).decode()  # a few times the standard encoder's speed
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def run(self) -> None:
        if self.services.routing is not None:
            # The tenant's router first loads (once per process) with connections of its
            # own: sockets holding theirs while they wait for it would drain the pool and
            # the load would never get one.
            await self.services.routing.router(self.tenant_id)
        # Its messages' connections, opened and warmed with the first socket, not the first
        # message.
        await writer.connections(self.services)
        async with self.services.bus.subscribe(self.tenant_id, self.audiences) as events:
            await self._open()
            forwarder = asyncio.create_task(self._forward(events))
            HEAP.opened()
            try:
                await self._receive()
            finally:
                HEAP.closed()
                forwarder.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await forwarder

    # --- server to client --------------------------------------------------------------

    async def _open(self) -> None:
        """What is stored after the client's last number, then the routing status: read
        in one unit of work, sent once it is over (no connection held while sending)."""
        async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
            conversation = await repo.get_conversation(session, self.tenant_id,
                                                       self.conversation_id)
            page = await svc.messages(session, conversation, after=self.last,
                                      for_visitor=self.for_visitor)
            status = await svc.routing_status(session, conversation, None)
        if await self._send_page(page):
            await self._catch_up()
        await self.send(status)

    async def _send_page(self, page: list[ConversationMessage]) -> bool:
        """Send a page of stored messages; True when it was full (there may be more)."""
        for message in page:
            await self.send(ev.message_frame(message))
            self.last = message.seq
        return len(page) >= repo.PAGE

    async def _catch_up(self) -> None:
        while True:
            async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
                conversation = await repo.get_conversation(session, self.tenant_id,
                                                           self.conversation_id)
                page = await svc.messages(session, conversation, after=self.last,
                                          for_visitor=self.for_visitor)
            if not await self._send_page(page):
                return

    async def _status(self, event: dict[str, Any] | None) -> dict[str, Any]:
        if self.services.routing is not None:
            await self.services.routing.router(self.tenant_id)  # see run()
        async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
            conversation = await repo.get_conversation(session, self.tenant_id,
                                                       self.conversation_id)
            return await svc.routing_status(session, conversation, event)

    async def _forward(self, events: Any) -> None:
        async for event in events:
            try:
                await self._deliver(event)
            except (WebSocketDisconnect, RuntimeError):
                return
            except Exception:
                logger.exception("chat event %s not delivered", event.type)

    async def _deliver(self, event: Event) -> None:
        payload = event.payload
        if event.type == ev.MESSAGE:
            seq = int(payload["seq"])
            if seq <= self.last:
                return
            if seq > self.last + 1:
                await self._catch_up()
                if seq <= self.last:
                    return
            self.last = seq
            await self.send(payload)
        elif event.type == ev.TYPING:
            actor = self.sender.actor
            own = (payload.get("author_type") == actor.author_type.value
                   and payload.get("author_id") == (str(actor.id) if actor.id else None))
            if not own:
                await self.send({k: v for k, v in payload.items() if k != "author_id"})
        elif event.type in (ev.READ, ev.ENDED, ev.RATED):
            await self.send(payload)
        elif event.type == "routing.contact":
            await self.send(await self._status(payload))
        elif event.type == "visitor.push_page" and self.for_visitor:
            await self.send({"type": "push_page", "url": payload.get("url")})
        elif event.type == "visitor.page" and not self.for_visitor:
            await self.send({"type": "visitor.page", **payload})

    # --- client to server --------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            try:
                raw = await self.websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            try:
                frame = orjson.loads(raw)
                if not isinstance(frame, dict):
                    raise ValueError("a frame is a JSON object")
            except ValueError:
                frame = None
            try:
                self.frames.check(what="frames")
                if frame is None:
                    await self.send({"type": "error", "status": 400,
                                     "detail": "Not a JSON object."})
                    continue
                await self._handle(frame)
            except ProblemError as error:
                await self.send({"type": "error", "status": error.status,
                                 "detail": error.detail,
                                 "client_id": frame.get("client_id") if frame else None})
            except ValidationError as error:
                await self.send({"type": "error", "status": 422,
                                 "detail": "; ".join(e["msg"] for e in error.errors()),
                                 "client_id": frame.get("client_id") if frame else None})

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "message":
            await self._message(frame)
        elif kind == "typing":
            actor = await self.sender.current()
            await svc.publish_typing(self.services, self.tenant_id, self.conversation_id,
                                     actor, bool(frame.get("typing")))
        elif kind == "read":
            seq = frame.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ProblemError("'seq' is a number.")
            await writer.mark_read(
                self.services, tenant_id=self.tenant_id,
                conversation_id=self.conversation_id, actor=await self.sender.current(),
                owner=self.sender.owner, seq=seq)
        elif kind == "end":
            async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
                conversation, actor = await self.sender.load(session)
                await svc.end(session, conversation,
                              by="visitor" if actor.is_visitor else "agent")
        else:
            raise ProblemError(f"Unknown frame type {kind!r}.")

    async def _message(self, frame: dict[str, Any]) -> None:
        body = MessageIn.model_validate({k: v for k, v in frame.items() if k != "type"
                                         and k != "kind"})
        wanted = frame.get("kind", "message")
        if self.for_visitor and wanted != "message":
            raise ProblemError("A visitor sends messages only.")
        try:
            kind = MessageKind(wanted)
        except ValueError as exc:
            raise ProblemError(f"Unknown message kind {wanted!r}.") from exc
        self.messages.check(what="messages")
        actor = await self.sender.current()
        sent = await writer.send(
            self.services, tenant_id=self.tenant_id, conversation_id=self.conversation_id,
            actor=actor, owner=self.sender.owner, text=body.text, client_id=body.client_id,
            kind=kind, attachment_ids=body.attachments)
        # Committed (and published): now it may be acknowledged.
        await self.send({"type": "ack", "client_id": body.client_id, "seq": sent.seq})
