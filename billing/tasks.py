"""Billing's jobs and the clock that schedules them.

``billing.tick`` runs every ``PLATEAUX_BILLING_INTERVAL_SECONDS``: for each tenant it brings
Stripe up to date (customer, subscription, seats, plan), reports new usage and ends grace
periods. Its fixed job id keeps one tick queued or running at a time across every process;
each step is idempotent, so a tick interrupted anywhere is completed by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.billing import reporting, service, standing
from plateaux.billing.gateway import StripeGateway, gateway_for
from plateaux.platform.database import after_commit
from plateaux.platform.jobs import JobContext, registry
from plateaux.platform.services import Services
from plateaux.tenants.models import Tenant

logger = logging.getLogger(__name__)

TICK = "billing.tick"
SYNC = "billing.sync_tenant"


async def tenant_ids(services: Services) -> list[uuid.UUID]:
    async with services.unit_of_work() as session:
        return list((await session.scalars(
            select(Tenant.id).order_by(col(Tenant.created_at)))).all())


async def run_tenant(services: Services, gateway: StripeGateway, tenant_id: uuid.UUID) -> None:
    """Every billing duty for one tenant; one failing does not stop the others."""
    try:
        await service.sync_tenant(services, gateway, tenant_id)
    except Exception as error:
        logger.exception("billing sync failed", extra={"tenant_id": str(tenant_id)})
        await service.note_error(services, tenant_id, error)
    await reporting.report_tenant(services, gateway, tenant_id)
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        await standing.apply_grace(session, tenant_id, services.settings.billing_grace_days)


async def run_billing(services: Services, gateway: StripeGateway | None = None) -> None:
    if not services.settings.billing_enabled:
        return
    gateway = gateway or gateway_for(services.settings)
    for tenant_id in await tenant_ids(services):
        try:
            await run_tenant(services, gateway, tenant_id)
        except Exception:
            logger.exception("billing duties failed", extra={"tenant_id": str(tenant_id)})


def _services(ctx: JobContext) -> Services:
    services: Services = ctx.services["services"]
    return services


@registry.job(TICK, max_tries=1, timeout=900)
async def tick(ctx: JobContext) -> None:
    await run_billing(_services(ctx))


@registry.job(SYNC, max_tries=5, timeout=120)
async def sync_tenant(ctx: JobContext, tenant_id: str) -> None:
    services = _services(ctx)
    if services.settings.billing_enabled:
        await run_tenant(services, gateway_for(services.settings), uuid.UUID(tenant_id))


def request_sync(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Bring the tenant's subscription up to date once this transaction commits (a plan
    change is prorated from the moment it is made, not at the next tick)."""
    services: Services | None = session.info.get("services")
    if services is None or not services.settings.billing_enabled:
        return

    async def enqueue() -> None:
        await services.jobs.enqueue(SYNC, job_id=f"billing:sync:{tenant_id}",
                                    tenant_id=str(tenant_id))

    after_commit(session, enqueue)


class BillingClock:
    """Queues a tick every interval while the server runs (only with Stripe configured)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.services.settings.billing_enabled:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        interval = self.services.settings.billing_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.services.jobs.enqueue(TICK, job_id="billing:tick")
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not queue the billing tick")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
