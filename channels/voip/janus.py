"""Browser legs through Janus (Debian's ``janus``): its SIP plugin turns a WebRTC session
(ICE, DTLS-SRTP, Opus/G.722/G.711) into a plain SIP call to the switch.

The browser never talks to Janus: the platform relays the browser's SDP offer over its
own authenticated API, and Janus's answer back. Each browser leg is a Janus session with
one SIP-plugin handle registered as a guest (no REGISTER is sent) that calls the switch
at a per-leg address only the platform can make up (see ``service.leg_uri``). Janus is
reached over its WebSocket API on a private address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 20.0
ANSWER_TIMEOUT = 15.0


class JanusError(RuntimeError):
    pass


@dataclass
class JanusLeg:
    session_id: int
    handle_id: int
    answer: str = ""
    on_hangup: Callable[[str], None] | None = None
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


class JanusGateway:
    def __init__(self, url: str) -> None:
        self.url = url
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._legs: dict[int, JanusLeg] = {}  # handle id -> leg
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self._connect()
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def stop(self) -> None:
        for task in (self._keepalive, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    async def _connect(self) -> ClientConnection:
        async with self._lock:
            if self._socket is not None:
                return self._socket
            self._socket = await websockets.connect(
                self.url, subprotocols=[websockets.Subprotocol("janus-protocol")],
                open_timeout=5, max_size=2**22)
            self._reader = asyncio.create_task(self._read(self._socket))
            return self._socket

    async def _request(self, message: dict[str, Any], *, until: str | None = None,
                       timeout: float = 10.0) -> dict[str, Any]:
        """Send and wait for the answer to this transaction (past its "ack"; ``until``:
        past other answers too, up to an event of that kind)."""
        socket = await self._connect()
        transaction = uuid.uuid4().hex
        message["transaction"] = transaction
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        try:
            await socket.send(json.dumps(message))
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(transaction, None)
        if answer.get("janus") == "error":
            raise JanusError(answer.get("error", {}).get("reason", "Janus refused"))
        return answer

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                self._dispatch(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            # Janus is gone: every browser leg it carried is gone with it.
            if self._socket is socket:
                self._socket = None
            for transaction, future in list(self._pending.items()):
                if not future.done():
                    future.set_exception(JanusError("lost the connection to Janus"))
                self._pending.pop(transaction, None)
            for leg in list(self._legs.values()):
                self._hung_up(leg, "gateway lost")

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("janus")
        transaction = message.get("transaction")
        if kind == "ack":
            return
        if transaction and transaction in self._pending and kind in ("success", "error"):
            self._pending[transaction].set_result(message)
            return
        leg = self._legs.get(message.get("sender") or 0)
        if leg is None:
            if transaction and transaction in self._pending:
                self._pending[transaction].set_result(message)
            return
        if kind == "hangup":
            self._hung_up(leg, message.get("reason", "hangup"))
            return
        if kind == "event":
            result = message.get("plugindata", {}).get("data", {}).get("result", {})
            if result.get("event") == "hangup":
                self._hung_up(leg, result.get("reason", "hangup"))
                return
            leg.events.put_nowait(message)

    def _hung_up(self, leg: JanusLeg, reason: str) -> None:
        self._legs.pop(leg.handle_id, None)
        callback, leg.on_hangup = leg.on_hangup, None
        leg.events.put_nowait({"janus": "hangup", "reason": reason})
        if callback is not None:
            callback(reason)

    async def call(self, *, offer: str, uri: str, name: str,
                   on_hangup: Callable[[str], None]) -> JanusLeg:
        """Connect a browser's WebRTC offer to ``uri`` (the switch); the leg carries the
        SDP answer for the browser once the switch answered."""
        created = await self._request({"janus": "create"})
        session_id = int(created["data"]["id"])
        try:
            attached = await self._request({"janus": "attach", "session_id": session_id,
                                            "plugin": "janus.plugin.sip"})
            handle_id = int(attached["data"]["id"])
            leg = JanusLeg(session_id=session_id, handle_id=handle_id, on_hangup=on_hangup)
            self._legs[handle_id] = leg
            await self._message(leg, {"request": "register", "type": "guest",
                                      "username": f"sip:{name}@plateaux.invalid"},
                                expect="registered")
            socket = await self._connect()
            await socket.send(json.dumps({
                "janus": "message", "session_id": session_id, "handle_id": handle_id,
                "transaction": uuid.uuid4().hex,
                "body": {"request": "call", "uri": uri, "autoaccept_reinvites": True},
                "jsep": {"type": "offer", "sdp": offer}}))
            # The offer carries every candidate (the browser gathered before sending it).
            await socket.send(json.dumps({
                "janus": "trickle", "session_id": session_id, "handle_id": handle_id,
                "transaction": uuid.uuid4().hex, "candidate": {"completed": True}}))
            leg.answer = await self._answer(leg)
            return leg
        except BaseException:
            await self._destroy(session_id)
            raise

    async def _message(self, leg: JanusLeg, body: dict[str, Any], *, expect: str) -> None:
        socket = await self._connect()
        await socket.send(json.dumps({"janus": "message", "session_id": leg.session_id,
                                      "handle_id": leg.handle_id,
                                      "transaction": uuid.uuid4().hex, "body": body}))
        async with asyncio.timeout(10):
            while True:
                event = await leg.events.get()
                data = event.get("plugindata", {}).get("data", {})
                if event.get("janus") == "hangup" or "error" in data:
                    raise JanusError(data.get("error") or event.get("reason", "refused"))
                if data.get("result", {}).get("event") == expect:
                    return

    async def _answer(self, leg: JanusLeg) -> str:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            while True:
                event = await leg.events.get()
                data = event.get("plugindata", {}).get("data", {})
                if event.get("janus") == "hangup" or "error" in data:
                    raise JanusError(str(data.get("error") or event.get("reason", "refused")))
                jsep = event.get("jsep")
                if data.get("result", {}).get("event") == "accepted" and jsep:
                    return str(jsep["sdp"])

    async def hangup(self, leg: JanusLeg) -> None:
        self._legs.pop(leg.handle_id, None)
        leg.on_hangup = None
        with contextlib.suppress(Exception):
            await self._destroy(leg.session_id)

    async def _destroy(self, session_id: int) -> None:
        for handle_id, leg in list(self._legs.items()):
            if leg.session_id == session_id:
                self._legs.pop(handle_id, None)
        with contextlib.suppress(Exception):
            await self._request({"janus": "destroy", "session_id": session_id}, timeout=5)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            socket = self._socket
            if socket is None:
                continue
            # Answered by a bare "ack": nothing to wait for.
            for session_id in {leg.session_id for leg in self._legs.values()}:
                with contextlib.suppress(Exception):
                    await socket.send(json.dumps({"janus": "keepalive",
                                                  "session_id": session_id,
                                                  "transaction": uuid.uuid4().hex}))

    async def ping(self) -> bool:
        try:
            answer = await self._request({"janus": "ping"}, timeout=3)
        except Exception:
            return False
        return answer.get("janus") == "pong"
