"""The events a tenant's webhooks can subscribe to, and how services emit them.

The list is open: another package registers its own (the help desk's case events) with
:func:`register_event_type` at import, and they are offered and delivered like these.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
