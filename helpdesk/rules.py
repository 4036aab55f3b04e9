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

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col, select

from plateaux.channels.chat.models import Conversation, ConversationMessage
from plateaux.helpdesk import cases, events, history, sla_service
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import Case, CaseContact, CaseStatus
from plateaux.helpdesk.schemas import CaseIn
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.routing.models import Contact
from plateaux.tenants.models import Role

logger = logging.getLogger(__name__)
RULE = "Rule"


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
        async with savepoint(session):
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
        provisional = case.subject
        # A chat or a message left is matched before its conversation and first message
        # are stored (later in the same transaction): the case takes its subject from them
        # when that transaction commits.
        event.listen(session.sync_session, "before_commit",
                     _AtCommit(tenant_id, case.id, contact.id, provisional))
    return case


class _AtCommit:
    """At the commit of the channel's transaction (run by SQLAlchemy inside it, so the
    synchronous API is the one to use): the conversation of the case's contact, and the
    subject from the customer's first words unless someone changed it meanwhile. Savepoints
    committing on the way (this rule's own) are not that commit."""

    def __init__(self, tenant_id: uuid.UUID, case_id: uuid.UUID, contact_id: uuid.UUID,
                 provisional: str) -> None:
        self.args = (tenant_id, case_id, contact_id, provisional)
        self.done = False

    def __call__(self, session: Session) -> None:
        if self.done or session.in_nested_transaction():
            return
        self.done = True
        _complete(*self.args, session)


def _complete(tenant_id: uuid.UUID, case_id: uuid.UUID, contact_id: uuid.UUID,
              provisional: str, session: Session) -> None:
    conversation_id = session.execute(select(Conversation.id).where(
        col(Conversation.tenant_id) == tenant_id,
        col(Conversation.contact_id) == contact_id)).scalar()
    if conversation_id is None:
        return
    session.execute(update(CaseContact).where(
        col(CaseContact.tenant_id) == tenant_id, col(CaseContact.case_id) == case_id,
        col(CaseContact.contact_id) == contact_id).values(conversation_id=conversation_id)
        .execution_options(synchronize_session=False))
    first = session.execute(select(ConversationMessage.text).where(
        col(ConversationMessage.tenant_id) == tenant_id,
        col(ConversationMessage.conversation_id) == conversation_id,
        col(ConversationMessage.author_type) == "visitor",
        col(ConversationMessage.kind) == "message")
        .order_by(col(ConversationMessage.seq)).limit(1)).scalar()
    words = cases.shorten(first or "")
    if words:
        session.execute(update(Case).where(
            col(Case.tenant_id) == tenant_id, col(Case.id) == case_id,
            col(Case.subject) == provisional).values(subject=words)
            .execution_options(synchronize_session=False))


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
