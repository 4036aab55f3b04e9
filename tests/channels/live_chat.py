"""Chat clients over real WebSockets against live server processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.channels.chat_world import ChatWorld
from tests.support.servers import own_address


async def open_conversation(server: str, chat: ChatWorld, text: str | None = None) -> str:
    """The visitor starts a conversation (with a first message, if ``text``); its id."""
    async with httpx.AsyncClient(base_url=server, timeout=30, headers=own_address()) as http:
        created = await http.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                  json={} if text is None else {"text": text})
        assert created.status_code == 201, created.text
        return str(created.json()["conversation_id"])


def ws_base(url: str) -> str:
    return url.replace("http://", "ws://")


def visitor_url(server: str, chat: ChatWorld, conversation_id: str, after: int) -> str:
    return (f"{ws_base(server)}/embed/v1/sites/{chat.key}/conversations/{conversation_id}/ws"
            f"?visitor_token={chat.visitor_token}&after={after}")


def agent_url(server: str, conversation_id: str, after: int) -> str:
    return f"{ws_base(server)}/api/v1/conversations/{conversation_id}/ws?after={after}"


@dataclass
class ChatSocket:
    """One side's connection; remembers the message numbers it received."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    frames: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    seqs: list[int] = field(default_factory=list)
    socket: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None

    async def open(self) -> ChatSocket:
        self.frames = asyncio.Queue()
        self.socket = await connect(self.url, additional_headers=self.headers, open_timeout=20)
        self._reader = asyncio.create_task(self._read(self.socket))
        await self.expect("status")
        return self

    async def _read(self, socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in socket:
                frame = json.loads(raw)
                if frame["type"] == "message":
                    self.seqs.append(frame["seq"])
                await self.frames.put(frame)
        await self.frames.put({"type": "closed"})

    async def expect(self, kind: str, *, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frames.get()
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame
                assert frame["type"] != "closed", f"closed while waiting for {kind}"

    async def until_seq(self, seq: int, *, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.seqs or self.seqs[-1] < seq:
                frame = await self.frames.get()
                assert frame["type"] != "closed", f"closed while waiting for seq {seq}"

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(frame))

    async def say(self, client_id: str, text: str) -> int:
        """Send a message and wait for its acknowledgement; its number."""
        await self.send({"type": "message", "client_id": client_id, "text": text})
        ack = await self.expect("ack", client_id=client_id)
        return int(ack["seq"])

    def drop(self) -> None:
        """The network goes: no closing handshake."""
        assert self.socket is not None
        self.socket.transport.abort()

    async def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
