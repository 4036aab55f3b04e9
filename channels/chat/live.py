"""One live chat connection (the visitor's widget or an agent's console), resumable.

On connect: subscribe to the bus first, then send what is stored after the client's last
sequence number, then forward live events, dropping numbers already sent. A live message
that arrives ahead of one not yet seen (the bus dropped one, or two processes' publications
crossed) is preceded by a read of the gap from the database, where it is committed already:
a message's number is taken under the conversation's row lock, so every lower number was
committed before it. Nothing is lost and nothing is sent twice, whichever process the
client reconnects to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.chat import events as ev
from plateaux.channels.chat import repository as repo
from plateaux.channels.chat import service as svc
from plateaux.channels.chat.models import Conversation, MessageKind
from plateaux.channels.chat.schemas import MessageIn
from plateaux.platform.errors import ProblemError
from plateaux.platform.events import Event
from plateaux.platform.ratelimit import Limit
from plateaux.platform.services import Services

logger = logging.getLogger(__name__)

# Per conversation and side: a person types a few messages a second at most.
MESSAGE_LIMIT = Limit(count=120, seconds=60)

# A fresh unit of work bound to the tenant, returning the conversation and the actor:
# authorisation is checked again on every write (the agent may have been replaced).
Loader = Callable[[AsyncSession], Awaitable[tuple[Conversation, svc.Actor]]]


class LiveChat:
    def __init__(self, websocket: WebSocket, services: Services, *, tenant_id: uuid.UUID,
                 conversation: Conversation, actor: svc.Actor, load: Loader,
                 audiences: list[str], after: int) -> None:
        self.websocket = websocket
        self.services = services
        self.tenant_id = tenant_id
        self.conversation_id = conversation.id
        self.actor = actor
        self.load = load
        self.audiences = audiences
        self.for_visitor = actor.is_visitor
        self.last = max(0, after)
        self._send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(frame, separators=(",", ":")))

    async def run(self) -> None:
        async with self.services.bus.subscribe(self.tenant_id, self.audiences) as events:
            await self._catch_up()
            await self.send(await self._status(None))
            forwarder = asyncio.create_task(self._forward(events))
            try:
                await self._receive()
            finally:
                forwarder.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await forwarder

    # --- server to client --------------------------------------------------------------

    async def _catch_up(self) -> None:
        while True:
            async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
                conversation = await repo.get_conversation(session, self.tenant_id,
                                                           self.conversation_id)
                page = await svc.messages(session, conversation, after=self.last,
                                          for_visitor=self.for_visitor)
            for message in page:
                await self.send(ev.message_frame(message))
                self.last = message.seq
            if len(page) < repo.PAGE:
                return

    async def _status(self, event: dict[str, Any] | None) -> dict[str, Any]:
        if self.services.routing is not None:
            # The tenant's router first loads (once per process) with connections of its
            # own: sockets holding theirs while they wait for it would drain the pool and
            # the load would never get one.
            await self.services.routing.router(self.tenant_id)
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
            own = (payload.get("author_type") == self.actor.author_type.value
                   and payload.get("author_id") == (str(self.actor.id) if self.actor.id
                                                    else None))
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
                frame = json.loads(raw)
                if not isinstance(frame, dict):
                    raise ValueError("a frame is a JSON object")
            except ValueError:
                await self.send({"type": "error", "status": 400, "detail": "Not a JSON object."})
                continue
            try:
                await self._handle(frame)
            except ProblemError as error:
                await self.send({"type": "error", "status": error.status,
                                 "detail": error.detail, "client_id": frame.get("client_id")})
            except ValidationError as error:
                await self.send({"type": "error", "status": 422,
                                 "detail": "; ".join(e["msg"] for e in error.errors()),
                                 "client_id": frame.get("client_id")})

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "message":
            await self._message(frame)
        elif kind == "typing":
            async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
                conversation, actor = await self.load(session)
            await svc.typing(self.services, conversation, actor, bool(frame.get("typing")))
        elif kind == "read":
            seq = frame.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ProblemError("'seq' is a number.")
            async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
                conversation, actor = await self.load(session)
                await svc.mark_read(session, conversation, actor, seq)
        elif kind == "end":
            async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
                conversation, actor = await self.load(session)
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
        await self.services.limiter.check(
            f"chat:msg:{self.conversation_id}:{self.actor.author_type.value}", MESSAGE_LIMIT,
            what="messages")
        async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
            _, actor = await self.load(session)
            message, _ = await svc.send_message(
                session, self.conversation_id, self.tenant_id, actor, text=body.text,
                client_id=body.client_id, kind=kind, attachment_ids=body.attachments)
            seq = message.seq
        # The unit of work has committed (and published): now it may be acknowledged.
        await self.send({"type": "ack", "client_id": body.client_id, "seq": seq})
