"""The long-lived services one application process holds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.database import Database
from plateaux.platform.ratelimit import RateLimiter
from plateaux.platform.settings import Settings

if TYPE_CHECKING:
    from plateaux.platform.events import EventBus
    from plateaux.platform.jobs import JobQueue
    from plateaux.routing.live import RoutingService


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    jobs: JobQueue
    limiter: RateLimiter
    routing: RoutingService | None = None

    @asynccontextmanager
    async def unit_of_work(
        self, *, tenant_id: uuid.UUID | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A committed-on-success session outside a request (CLI, jobs)."""
        async with self.db.session(tenant_id=tenant_id) as session:
            attach(session, self)
            yield session


def attach(session: object, services: Services) -> None:
    """Let code deep in a unit of work reach the services (mail, events, jobs)."""
    info = getattr(session, "info", None)
    if isinstance(info, dict):
        info["services"] = services
