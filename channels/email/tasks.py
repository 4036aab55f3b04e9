"""Email jobs: fetching one mailbox, sending one message (ids only, idempotent)."""

from __future__ import annotations

import uuid

from plateaux.channels.email.fetcher import sync_mailbox
from plateaux.channels.email.outbound import SEND_JOB
from plateaux.channels.email.sending import send_message
from plateaux.platform.jobs import JobContext, registry
from plateaux.platform.services import Services

FETCH_JOB = "email.fetch"
SEND_MAX_TRIES = 6


def fetch_job_id(mailbox_id: uuid.UUID | str) -> str:
    # One fetch per mailbox queued or running at a time.
    return f"email-fetch:{mailbox_id}"


@registry.job(FETCH_JOB, max_tries=1, timeout=1800)
async def fetch_mailbox_job(ctx: JobContext, *, tenant_id: str, mailbox_id: str) -> None:
    """Errors are recorded on the mailbox; the scheduler comes back on its own."""
    services: Services = ctx.services["services"]
    await sync_mailbox(services, uuid.UUID(tenant_id), uuid.UUID(mailbox_id))


@registry.job(SEND_JOB, max_tries=SEND_MAX_TRIES, timeout=180)
async def send_message_job(ctx: JobContext, *, tenant_id: str, message_id: str) -> None:
    services: Services = ctx.services["services"]
    await send_message(services, uuid.UUID(tenant_id), uuid.UUID(message_id),
                       final_attempt=ctx.attempt >= SEND_MAX_TRIES)
