"""The events a tenant's webhooks can subscribe to, and how services emit them.

The list is open: another package registers its own (the help desk's case events) with
:func:`register_event_type` at import, and they are offered and delivered like these.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.database import after_commit
from plateaux.platform.types import utcnow

EVENT_TYPES: dict[str, str] = {
    "contact.created": "A contact request arrived (chat, email, call, callback, form) and "
                       "was matched to a person",
    "person.created": "A person was created (by a contact request, by hand or by import)",
    "person.updated": "A person's name, company, owner, tags, custom fields or identities "
                      "changed",
    "person.merged": "Two people were merged into one",
    "person.erased": "A person was erased (privacy request or retention)",
    "note.created": "A note was added to a person",
    "contact.ended": "A contact request ended (completed, abandoned or cancelled), with its "
                     "outcome, times and transfers",
}


# Other packages act on an event inside the transaction that emits it (the help desk opens
# a case for a new contact): ``async def listener(session, tenant_id, data)``.
Listener = Callable[[AsyncSession, uuid.UUID, dict[str, Any]], Awaitable[None]]
LISTENERS: dict[str, list[Listener]] = {}


def listen(event: str, listener: Listener) -> None:
    LISTENERS.setdefault(event, []).append(listener)


def register_event_type(name: str, description: str) -> None:
    if not name or len(name) > 60 or "." not in name:
        raise ValueError("event names are 'object.action', at most 60 characters")
    EVENT_TYPES[name] = description


async def emit(session: AsyncSession, tenant_id: uuid.UUID, event: str,
               data: dict[str, Any], *, person_id: uuid.UUID | None = None) -> None:
    """A delivery for every active webhook of the tenant that takes ``event``, stored in
    this transaction and sent by a job once it commits."""
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown CRM event {event!r}")
    for listener in LISTENERS.get(event, []):
        await listener(session, tenant_id, data)
    from plateaux.crm import repository as repo
    from plateaux.crm.models import WebhookDelivery

    hooks = [h for h in await repo.webhooks(session, tenant_id, active_only=True)
             if event in (h.events or [])]
    if not hooks:
        return
    event_id = uuid.uuid4()
    body = {"id": str(event_id), "type": event, "created_at": utcnow().isoformat(),
            "tenant_id": str(tenant_id), "data": data}
    deliveries = []
    for hook in hooks:
        delivery = WebhookDelivery(tenant_id=tenant_id, webhook_id=hook.id,
                                   event_id=event_id, event=event, person_id=person_id,
                                   payload=body)
        session.add(delivery)
        deliveries.append(delivery.id)
    services = session.info.get("services")

    async def enqueue() -> None:
        if services is None:
            return
        from plateaux.crm.tasks import DELIVER_JOB

        for delivery_id in deliveries:
            await services.jobs.enqueue(DELIVER_JOB, job_id=f"crm-hook:{delivery_id}",
                                        tenant_id=str(tenant_id),
                                        delivery_id=str(delivery_id))

    after_commit(session, enqueue)


async def contacts_ended(session: AsyncSession, tenant_id: uuid.UUID,
                         contact_ids: list[uuid.UUID]) -> None:
    """Webhooks hear of contacts that ended. Called in the transaction that records the
    end (the routing steward's), which a second recording of the same log rolls back whole:
    each end is announced once."""
    if not contact_ids:
        return
    from plateaux.crm import repository as repo
    from plateaux.routing.models import Contact

    hooks = await repo.webhooks(session, tenant_id, active_only=True)
    if not any("contact.ended" in (hook.events or []) for hook in hooks):
        return
    ended = (await session.scalars(select(Contact).where(
        col(Contact.tenant_id) == tenant_id, col(Contact.id).in_(contact_ids)))).all()
    for contact in ended:
        await emit(session, tenant_id, "contact.ended", {
            "contact_id": str(contact.id), "channel": contact.channel,
            "status": contact.status, "outcome": contact.outcome,
            "person_id": str(contact.person_id) if contact.person_id else None,
            "queue_id": str(contact.queue_id) if contact.queue_id else None,
            "agent_id": str(contact.agent_id) if contact.agent_id else None,
            "transfers": contact.transfers,
            "created_at": contact.created_at.isoformat(),
            "answered_at": contact.answered_at.isoformat() if contact.answered_at else None,
            "ended_at": contact.ended_at.isoformat() if contact.ended_at else None,
        }, person_id=contact.person_id)
