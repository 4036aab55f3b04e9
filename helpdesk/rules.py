"""Cases that open and move by themselves.

The tenant's rule (``auto_case_channels``, by default email and forms): every contact of
those channels opens a case, as a help desk treats each written request as a ticket;
chats and calls open one when the agent decides (most are settled while the customer is
there). Whatever the rule, the customer writing again on an email thread that belongs to
a case joins that case: it reopens it when it was solved (or waiting for them), and opens
a follow-up case when it was closed.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.helpdesk import cases, events, history, sla_service
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import Case, CaseStatus
from plateaux.helpdesk.schemas import CaseIn
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import after_commit
from plateaux.routing.models import Contact
from plateaux.tenants.models import Role

logger = logging.getLogger(__name__)
RULE = "Rule"
ENRICH_JOB = "helpdesk.case.enrich"


def rule_subject(tenant_id: uuid.UUID) -> Subject:
    return Subject(tenant_id=tenant_id, kind="rule", principal_id=tenant_id, role=Role.AGENT,
                   scopes=frozenset(), label="helpdesk:rule")


async def on_contact_created(session: AsyncSession, tenant_id: uuid.UUID,
                             data: dict[str, Any]) -> None:
    """The CRM's ``contact.created`` (the contact is matched to its person), inside the
    channel's transaction. A failure here must never cost the channel its contact: it is
    logged and the case is left for an agent to open."""
    try:
        contact_id = uuid.UUID(str(data.get("contact_id")))
    except ValueError:
        return
    try:
        async with session.begin_nested():
            await apply(session, tenant_id, contact_id)
    except Exception:
        logger.exception("could not apply the case rules to contact %s", contact_id)


async def apply(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Case | None:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.tenant_id != tenant_id:
        return None
    if await repo.link_of_contact(session, tenant_id, contact.id) is not None:
        return None
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    thread = attributes.get("email_thread_id")
    if thread:
        found = await repo.case_of_thread(session, tenant_id, uuid.UUID(str(thread)))
        if found is not None:
            return await _customer_wrote_again(session, found, contact)
    settings = await repo.settings_of(session, tenant_id)
    if cases.channel_key(contact) not in (settings.auto_case_channels or []):
        return None
    case = await cases.create_case(session, rule_subject(tenant_id),
                                   CaseIn(contact_id=contact.id), source="rule",
                                   actor=(None, RULE))
    if await cases.conversation_of(session, contact) is None and not thread:
        # A chat or a message left is matched before its conversation and first message
        # are stored (later in the same transaction): the case takes its subject from them
        # once it has committed.
        _enrich_after_commit(session, case)
    return case


def _enrich_after_commit(session: AsyncSession, case: Case) -> None:
    services = session.info.get("services")
    tenant_id, case_id = str(case.tenant_id), str(case.id)

    async def enqueue() -> None:
        if services is not None:
            await services.jobs.enqueue(ENRICH_JOB, job_id=f"helpdesk-enrich:{case_id}",
                                        tenant_id=tenant_id, case_id=case_id)

    after_commit(session, enqueue)


async def enrich(session: AsyncSession, case: Case) -> None:
    """The conversations of the case's contacts, and its subject from what the customer
    wrote when it was opened with a stand-in one (and nobody changed it since)."""
    links = await repo.links_of(session, case.tenant_id, case.id)
    first_contact: Contact | None = None
    for link in links:
        contact = await session.get(Contact, link.contact_id)
        if contact is None:
            continue
        first_contact = first_contact or contact
        if link.conversation_id is None:
            conversation = await cases.conversation_of(session, contact)
            if conversation is not None:
                link.conversation_id = conversation.id
                session.add(link)
    created = next((e for e in reversed(await repo.events_of(session, case.tenant_id, case.id))
                    if e.kind == "created"), None)
    provisional = (created.data or {}).get("provisional_subject") if created else None
    if provisional and case.subject == provisional and first_contact is not None:
        words = await cases.first_words(session, first_contact)
        if words:
            case.subject = words
            session.add(case)
    await session.flush()


async def _customer_wrote_again(session: AsyncSession, case: Case, contact: Contact) -> Case:
    if case.status == CaseStatus.CLOSED:
        follow_up = await cases.create_case(
            session, rule_subject(case.tenant_id),
            CaseIn(contact_id=contact.id, priority=case.priority, category=case.category,
                   team_id=case.team_id, level=case.level), source="rule",
            actor=(None, RULE), follow_up_of=case)
        return follow_up
    await cases.link_contact(session, case, contact, linked_by=RULE)
    events.record(session, case, "linked", actor_name=RULE, contact_id=str(contact.id),
                        channel=cases.channel_key(contact))
    await session.flush()
    if case.status in (CaseStatus.SOLVED, CaseStatus.PENDING):
        await cases.reopen(session, case, actor_id=None, actor_name=RULE, why="customer")
    else:
        await sla_service.refresh(session, case)
    return case


async def wake_pending(session: AsyncSession, case: Case) -> bool:
    """A pending case whose customer wrote since it was set pending is open again."""
    if case.status != CaseStatus.PENDING:
        return False
    found = await history.history_of(session, case)
    since = max((at for at, status in found.statuses if status == CaseStatus.PENDING),
                default=None)
    if since is None or not any(at > since for at in found.customer):
        return False
    await cases.reopen(session, case, actor_id=None, actor_name=RULE, why="customer")
    return True
