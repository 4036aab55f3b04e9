"""The tenant's webhooks: subscriptions to CRM events, each delivery signed, sent by a job
and retried with backoff, every attempt logged for the admins."""

from __future__ import annotations

import time
import uuid

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.crm.events import EVENT_TYPES
from plateaux.crm.models import DeliveryStatus, Webhook, WebhookDelivery
from plateaux.crm.outbound import BlockedAddress, Guard, OutboundError, post
from plateaux.crm.schemas import WebhookIn, WebhookPatch
from plateaux.crm.signing import HEADER, new_secret, sign
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import UnprocessableContent
from plateaux.platform.security import decrypt_secret, encrypt_secret
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.tenants.service import audit

USER_AGENT = "Plateaux-Webhooks/1"
MAX_LOG = 20


def guard_of(services: Services) -> Guard:
    return Guard.from_settings(services.settings.crm_private_networks)


def _check_events(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in EVENT_TYPES]
    if unknown:
        raise UnprocessableContent(f"Unknown event '{unknown[0][:60]}'.")
    return list(dict.fromkeys(names))


async def create(session: AsyncSession, services: Services, subject: Subject,
                 body: WebhookIn) -> tuple[Webhook, str]:
    await guard_of(services).check_url(body.url)
    secret = new_secret()
    hook = Webhook(tenant_id=subject.tenant_id, url=body.url, description=body.description,
                   events=_check_events(body.events), active=body.active,
                   secret_encrypted=encrypt_secret(services.settings.secret_key, secret))
    session.add(hook)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="crm.webhook_created",
          target=str(hook.id))
    return hook, secret


async def update(session: AsyncSession, services: Services, subject: Subject, hook: Webhook,
                 body: WebhookPatch) -> Webhook:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        await guard_of(services).check_url(changes["url"])
        hook.url = changes["url"]
    if changes.get("events") is not None:
        hook.events = _check_events(changes["events"])
    if changes.get("description") is not None:
        hook.description = changes["description"]
    if changes.get("active") is not None:
        hook.active = changes["active"]
    hook.updated_at = utcnow()
    session.add(hook)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="crm.webhook_updated",
          target=str(hook.id))
    return hook


async def rotate_secret(session: AsyncSession, services: Services, subject: Subject,
                        hook: Webhook) -> str:
    secret = new_secret()
    hook.secret_encrypted = encrypt_secret(services.settings.secret_key, secret)
    session.add(hook)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label,
          action="crm.webhook_secret_rotated", target=str(hook.id))
    return secret


async def delete(session: AsyncSession, subject: Subject, hook: Webhook) -> None:
    audit(session, subject.tenant_id, actor=subject.label, action="crm.webhook_deleted",
          target=str(hook.id))
    await session.delete(hook)
    await session.flush()


async def redeliver(session: AsyncSession, delivery: WebhookDelivery) -> None:
    """Send a delivery again (an admin's "send again" after the receiver was fixed)."""
    delivery.status = DeliveryStatus.PENDING.value
    session.add(delivery)
    await session.flush()
    services = session.info.get("services")
    from plateaux.crm.tasks import DELIVER_JOB
    from plateaux.platform.database import after_commit

    async def enqueue() -> None:
        if services is not None:
            await services.jobs.enqueue(DELIVER_JOB, job_id=f"crm-hook:{delivery.id}",
                                        tenant_id=str(delivery.tenant_id),
                                        delivery_id=str(delivery.id))

    after_commit(session, enqueue)


class DeliveryFailed(Exception):
    """An attempt failed: the job system retries it with backoff."""


async def attempt(services: Services, tenant_id: uuid.UUID, delivery_id: uuid.UUID, *,
                  final: bool) -> str:
    """One attempt at a delivery; raises DeliveryFailed for the job to retry unless this
    was the last try (then the delivery is marked failed)."""
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.tenant_id != tenant_id:
            return "gone"
        if delivery.status == DeliveryStatus.DELIVERED.value:
            return "delivered"
        hook = await session.get(Webhook, delivery.webhook_id)
        if hook is None:
            return "gone"
        url = hook.url
        secret = decrypt_secret(services.settings.secret_key, hook.secret_encrypted)
        body = orjson.dumps(delivery.payload)
        event, event_id = delivery.event, delivery.event_id
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               HEADER: sign(secret, body), "Plateaux-Event": event,
               "Plateaux-Delivery": str(event_id)}
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        reply = await post(guard_of(services), url, content=body, headers=headers,
                           timeout=services.settings.crm_webhook_timeout_seconds)
        status_code = reply.status_code
        if not 200 <= reply.status_code < 300:
            error = f"HTTP {reply.status_code}"
    except BlockedAddress as blocked:
        error = blocked.detail
    except OutboundError as failure:
        error = str(failure)[:500]
    elapsed = round((time.monotonic() - started) * 1000)
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return "gone"
        delivery.attempts += 1
        entry = {"at": utcnow().isoformat(), "status_code": status_code, "error": error,
                 "ms": elapsed}
        delivery.log = [*(delivery.log or []), entry][-MAX_LOG:]
        if error is None:
            delivery.status = DeliveryStatus.DELIVERED.value
            delivery.delivered_at = utcnow()
        elif final:
            delivery.status = DeliveryStatus.FAILED.value
        session.add(delivery)
    if error is not None and not final:
        raise DeliveryFailed(error)
    return "delivered" if error is None else "failed"
