"""What the SLA clocks read from the channels: when the customer wrote or called and when
an agent answered, across every contact of a case (chat messages, email in and out,
calls), and the tenant's business calendar."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat.models import Conversation, ConversationMessage
from plateaux.channels.email.models import EmailMessage
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.business_time import CALENDAR_TIME, Calendar
from plateaux.helpdesk.models import Case, SlaPolicy
from plateaux.helpdesk.sla import History
from plateaux.routing.models import Contact
from plateaux.tenants import admin_repository as tenant_repo
from plateaux.tenants.hours import Interval
from plateaux.tenants.models import Tenant

CUSTOMER_AUTHORS = ("visitor",)
AGENT_AUTHORS = ("agent", "supervisor")


async def calendar_for(session: AsyncSession, tenant_id: uuid.UUID,
                       policy: SlaPolicy | None) -> Calendar:
    if policy is None or not policy.business_hours:
        return CALENDAR_TIME
    # Read once per unit of work: a sweep asks for it for every case of the tenant.
    kept: dict[uuid.UUID, Calendar] = session.info.setdefault("helpdesk_calendars", {})
    if tenant_id not in kept:
        kept[tenant_id] = await _calendar(session, tenant_id)
    return kept[tenant_id]


async def _calendar(session: AsyncSession, tenant_id: uuid.UUID) -> Calendar:
    tenant = await session.get(Tenant, tenant_id)
    hours = tuple(Interval(h.weekday, h.opens, h.closes)
                  for h in await tenant_repo.weekly_hours(session, tenant_id))
    if tenant is None or not hours:
        return CALENDAR_TIME
    return Calendar(tenant.timezone, hours,
                    frozenset(await tenant_repo.holiday_days(session, tenant_id)))


def statuses_of(case: Case) -> list[tuple[datetime, str]]:
    found = [(datetime.fromisoformat(at), status) for at, status in case.status_log or []]
    return found or [(case.created_at, case.status)]


async def history_of(session: AsyncSession, case: Case) -> History:
    tenant_id = case.tenant_id
    links = await repo.links_of(session, tenant_id, case.id)
    customer: list[datetime] = []
    agent: list[datetime] = []
    contact_ids = [link.contact_id for link in links]
    contacts = list((await session.scalars(select(Contact).where(
        col(Contact.tenant_id) == tenant_id, col(Contact.id).in_(contact_ids))))
        .all()) if contact_ids else []
    conversations = {c.contact_id: c.id for c in (await session.scalars(select(Conversation)
                     .where(col(Conversation.tenant_id) == tenant_id,
                            col(Conversation.contact_id).in_(contact_ids)))).all()
                     } if contact_ids else {}
    thread_ids = {link.email_thread_id for link in links if link.email_thread_id}
    for contact in contacts:
        if contact.id in conversations or any(
                link.contact_id == contact.id and link.email_thread_id for link in links):
            continue
        # A call (or any contact without messages): the customer asked when it arrived
        # and was answered when an agent took it.
        customer.append(contact.created_at)
        if contact.answered_at is not None:
            agent.append(contact.answered_at)
    if conversations:
        rows = (await session.execute(select(
            ConversationMessage.author_type, ConversationMessage.created_at).where(
            col(ConversationMessage.tenant_id) == tenant_id,
            col(ConversationMessage.conversation_id).in_(list(conversations.values())),
            col(ConversationMessage.kind) == "message"))).all()
        for author, at in rows:
            if author in CUSTOMER_AUTHORS:
                customer.append(at)
            elif author in AGENT_AUTHORS:
                agent.append(at)
    if thread_ids:
        mails = (await session.execute(select(
            EmailMessage.direction, EmailMessage.kind, EmailMessage.auto_kind,
            EmailMessage.created_at).where(
            col(EmailMessage.tenant_id) == tenant_id,
            col(EmailMessage.thread_id).in_(list(thread_ids))))).all()
        for direction, kind, auto_kind, at in mails:
            if direction == "in" and auto_kind is None:
                customer.append(at)
            elif direction == "out" and kind == "message":
                agent.append(at)
    return History(created_at=case.created_at, statuses=statuses_of(case),
                   customer=sorted(customer), agent=sorted(agent))
