"""Help desk jobs: the sweep (SLA clocks of active cases, pending cases the customer
answered, chat ratings of solved cases, solved cases closed after the tenant's delay), and
the clock that queues it while the server runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta

from sqlmodel import col, select

from plateaux.helpdesk import cases, crm_hooks, quality, rules, sla_service  # noqa: F401
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.settings import helpdesk_settings
from plateaux.platform.database import savepoint, start_writing
from plateaux.platform.jobs import JobContext, registry
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Tenant, TenantStatus

logger = logging.getLogger(__name__)
SWEEP_JOB = "helpdesk.sweep"


async def sweep_tenant(services: Services, tenant_id: uuid.UUID, *,
                       now: datetime | None = None) -> dict[str, int]:
    """One tenant's pass, in its own unit of work (under its row-level security)."""
    now = now or utcnow()
    counts = {"checked": 0, "reopened": 0, "rated": 0, "closed": 0}
    batch = helpdesk_settings().sla_batch
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        # On SQLite, a writer from the start: its savepoints nest in this transaction, and
        # it waits for the write lock instead of being refused after reading.
        await start_writing(session)
        for case in await repo.cases_to_check(session, tenant_id, now, limit=batch):
            async with savepoint(session):
                if await rules.wake_pending(session, case):
                    counts["reopened"] += 1
                await sla_service.refresh(session, case, now=now)
            counts["checked"] += 1
        settings = await repo.settings_of(session, tenant_id)
        cutoff = now - timedelta(days=settings.auto_close_days)
        for case in await repo.solved_before(session, tenant_id, now, limit=batch):
            async with savepoint(session):
                if settings.csat_enabled and await quality.take_chat_rating(session, case):
                    counts["rated"] += 1
                if case.solved_at is not None and case.solved_at < cutoff:
                    await cases.close(session, case)
                    counts["closed"] += 1
    return counts


async def sweep(services: Services, *,
                now: datetime | None = None) -> dict[uuid.UUID, dict[str, int]]:
    async with services.unit_of_work() as session:
        tenant_ids = list((await session.scalars(select(col(Tenant.id)).where(
            col(Tenant.status) == TenantStatus.ACTIVE.value))).all())
    done: dict[uuid.UUID, dict[str, int]] = {}
    for tenant_id in tenant_ids:
        try:
            done[tenant_id] = await sweep_tenant(services, tenant_id, now=now)
        except Exception:
            logger.exception("help desk sweep failed for tenant %s", tenant_id)
    return done


@registry.job(SWEEP_JOB, max_tries=2, timeout=600)
async def sweep_job(ctx: JobContext) -> None:
    services: Services = ctx.services["services"]
    await sweep(services)


class SweepClock:
    """Queues the sweep every few seconds while the server runs (one job id, so several
    servers queue it once)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        interval = helpdesk_settings().sla_sweep_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.services.jobs.enqueue(SWEEP_JOB, job_id="helpdesk:sweep")
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not queue the help desk sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
