"""CRM jobs: delivering a webhook (retried with backoff), the retention sweep, and the
clock that queues the sweep while the server runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from plateaux.crm import privacy, webhooks
from plateaux.platform.jobs import JobContext, registry
from plateaux.platform.services import Services

logger = logging.getLogger(__name__)

DELIVER_JOB = "crm.webhook.deliver"
RETENTION_JOB = "crm.retention"
DELIVER_MAX_TRIES = 6


@registry.job(DELIVER_JOB, max_tries=DELIVER_MAX_TRIES, timeout=120)
async def deliver_job(ctx: JobContext, *, tenant_id: str, delivery_id: str) -> None:
    services: Services = ctx.services["services"]
    await webhooks.attempt(services, uuid.UUID(tenant_id), uuid.UUID(delivery_id),
                           final=ctx.attempt >= DELIVER_MAX_TRIES)


@registry.job(RETENTION_JOB, max_tries=3, timeout=1800)
async def retention_job(ctx: JobContext) -> None:
    services: Services = ctx.services["services"]
    await privacy.apply_retention_everywhere(services)


class RetentionClock:
    """Queues the retention sweep every interval while the server runs (one job id, so
    several servers queue it once)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        interval = self.services.settings.crm_retention_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.services.jobs.enqueue(RETENTION_JOB, job_id="crm:retention")
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not queue the CRM retention sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
