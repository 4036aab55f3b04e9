"""Publish real-time events from services, after the transaction commits.

Services call :func:`publish` while they work; nothing leaves the process until the unit
of work has committed, and nothing leaves at all if it rolls back (DESIGN.md decision 4:
a client must never hear of data that does not exist).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.database import after_commit
from plateaux.platform.events import Event


def publish(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    *,
    audience: str = "tenant",
) -> Event:
    event = Event(tenant_id=tenant_id, type=event_type, audience=audience, payload=payload)
    services = session.info.get("services")

    async def _send() -> None:
        if services is not None:
            await services.bus.publish(event)

    after_commit(session, _send)
    return event
