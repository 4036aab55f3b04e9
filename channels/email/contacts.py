"""Threads as routed contacts: a new thread is a new contact of the "email" channel,
routed through the routing service's own contact rules; a customer's reply to a thread
whose contact has ended routes a new contact for the same thread (sticky routing prefers
the agent who answered before), and a reply while it is still live only updates it."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.email.models import EmailThread, Mailbox
from plateaux.crm import matching as crm_matching
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import UnprocessableContent
from plateaux.routing import contact_service
from plateaux.routing.contact_schemas import ContactIn
from plateaux.routing.models import FINAL_STATUSES, Contact
from plateaux.tenants.models import Role

CHANNEL = "email"


class NoRoutingTarget(UnprocessableContent):
    pass


def _subject(tenant_id: uuid.UUID, source: uuid.UUID, label: str) -> Subject:
    """The channel as a creator of contacts: its tenant and nothing else (no scope)."""
    return Subject(tenant_id=tenant_id, kind="channel", principal_id=source, role=Role.AGENT,
                   scopes=frozenset(), label=label)


def target_of(queue_id: uuid.UUID | None, workflow_id: uuid.UUID | None) -> dict[str, Any]:
    if workflow_id is not None:
        return {"workflow_id": workflow_id}
    if queue_id is not None:
        return {"queue_id": queue_id}
    raise NoRoutingTarget("The mailbox is not connected to a queue or workflow.")


async def open_contact(session: AsyncSession, thread: EmailThread, *,
                       target: dict[str, Any], source: uuid.UUID,
                       extra: dict[str, Any] | None = None) -> Contact:
    """A routed contact for ``thread``, stored now and routed once the unit commits."""
    attributes: dict[str, Any] = {
        "email": thread.customer_address,
        "name": thread.customer_name or "",
        "subject": thread.subject[:500],
        "email_thread_id": str(thread.id),
        **(extra or {}),
    }
    try:
        body = ContactIn.model_validate({"channel": CHANNEL, "attributes": attributes,
                                         "customer_key": thread.customer_address, **target})
    except ValidationError as error:
        raise UnprocessableContent(
            "; ".join(str(e["msg"]) for e in error.errors())) from error
    contact = await contact_service.create_contact(
        session, _subject(thread.tenant_id, source, f"email:{source}"), body)
    # The CRM is where people live: the sender's address finds (or makes) their person.
    await crm_matching.match_contact(
        session, contact, email=thread.customer_address, name=thread.customer_name,
        visitor_id=attributes.get("visitor_id"), language=attributes.get("language"))
    thread.contact_id = contact.id
    session.add(thread)
    return contact


async def is_live(session: AsyncSession, thread: EmailThread) -> bool:
    """Whether the thread's contact is still being handled (queued, offered, with an
    agent or in wrap-up): the live routing state first, else the stored contact."""
    if thread.contact_id is None:
        return False
    router = await contact_service.routing_of(session).router(thread.tenant_id)
    if router.snapshot.contacts.get(str(thread.contact_id)) is not None:
        return True
    contact = await session.get(Contact, thread.contact_id)
    return (contact is not None and contact.tenant_id == thread.tenant_id
            and contact.status not in FINAL_STATUSES and contact.ended_at is None)


async def reopen_or_update(session: AsyncSession, thread: EmailThread,
                           mailbox: Mailbox) -> Contact | None:
    """A new contact when the thread's contact has ended; None when it is still live."""
    if await is_live(session, thread):
        return None
    return await open_contact(session, thread, target=target_of(mailbox.queue_id,
                                                                 mailbox.workflow_id),
                              source=mailbox.id, extra={"mailbox": mailbox.address,
                                                        "reopened": True})
