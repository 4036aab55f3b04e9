"""The supervisor console's live connection: every routing state change of the tenant
(``routing.state`` on the supervisors' audience), so its figures refresh when something
happens rather than on a timer alone."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from plateaux.platform.auth.subject import Scope
from plateaux.platform.services import Services
from plateaux.routing.contact_endpoints import _websocket_subject
from plateaux.routing.router import SUPERVISORS

router = APIRouter(tags=["console"])


@router.websocket("/supervisor/connection")
async def supervisor_connection(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    subject = await _websocket_subject(websocket, services)
    # Accepted before refusing, as the agent's connection does: the console can then tell
    # "not allowed" (4401/4403) from a network failure worth retrying.
    await websocket.accept()
    if subject is None:
        await websocket.close(code=4401)
        return
    if not subject.has(Scope.CONTACTS_WRITE):
        await websocket.close(code=4403)
        return
    async with services.bus.subscribe(subject.tenant_id, [SUPERVISORS]) as events:

        async def forward() -> None:
            async for event in events:
                await websocket.send_json({"type": event.type, "payload": event.payload})

        sender = asyncio.create_task(forward())
        try:
            await websocket.send_json({"type": "connected", "payload": {}})
            while True:
                message = await websocket.receive_json()
                if isinstance(message, dict) and message.get("type") == "ping":
                    await websocket.send_json({"type": "pong", "payload": {}})
        except (WebSocketDisconnect, ValueError, RuntimeError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
