"""What the live router reads from and writes to the database: the tenant's routing
configuration, the contacts not finished (to restore the routing state), and the
recording of the state store's log as history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.billing.metering import meter_finished_contacts
from plateaux.crm.events import contacts_ended
from plateaux.routing.config import (
    ConfigError,
    agent_from_profile,
    queue_from_row,
    workflow_from_definition,
)
from plateaux.routing.models import (
    FINAL_STATUSES,
    AgentProfile,
    AgentStateEvent,
    Contact,
    ContactEvent,
    RoutingQueue,
    RoutingWorkflow,
)
from plateaux.routing.state import AgentState, ContactState, Queue
from plateaux.routing.store import LogEntry
from plateaux.routing.workflows import Workflow
from plateaux.tenants.hours import Interval
from plateaux.tenants.models import BusinessHours, Holiday, Tenant, User, UserSkill


@dataclass
class TenantRouting:
    queues: list[Queue]
    follows_hours: set[str]
    wrap_up_seconds: dict[str, float]
    sticky_seconds: dict[str, float]
    workflows: dict[str, Workflow]
    timezone: str
    hours: list[Interval]
    holidays: list[date]
    broken_workflows: dict[str, str] = field(default_factory=dict)


async def load_configuration(session: AsyncSession, tenant_id: uuid.UUID) -> TenantRouting:
    tenant = await session.get(Tenant, tenant_id)
    queues = (await session.scalars(
        select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id))).all()
    workflows: dict[str, Workflow] = {}
    broken: dict[str, str] = {}
    for row in (await session.scalars(
            select(RoutingWorkflow).where(RoutingWorkflow.tenant_id == tenant_id))).all():
        try:
            workflows[str(row.id)] = workflow_from_definition(str(row.id), row.definition)
        except ConfigError as error:  # saved before a rule existed: route around it
            broken[str(row.id)] = str(error)
    hours = (await session.scalars(
        select(BusinessHours).where(BusinessHours.tenant_id == tenant_id))).all()
    holidays = (await session.scalars(
        select(Holiday).where(Holiday.tenant_id == tenant_id))).all()
    return TenantRouting(
        queues=[queue_from_row(q) for q in queues],
        follows_hours={str(q.id) for q in queues if q.follow_business_hours},
        wrap_up_seconds={str(q.id): q.wrap_up_seconds for q in queues},
        sticky_seconds={str(q.id): q.sticky_seconds for q in queues},
        workflows=workflows,
        timezone=tenant.timezone if tenant is not None else "UTC",
        hours=[Interval(h.weekday, h.opens, h.closes) for h in hours],
        holidays=[h.day for h in holidays], broken_workflows=broken)


async def load_agents(session: AsyncSession, tenant_id: uuid.UUID,
                      user_ids: Sequence[uuid.UUID] | None = None) -> list[AgentState]:
    """Every active user of the tenant as an agent (offline until their console
    connects), or only ``user_ids``."""
    query = select(User).where(User.tenant_id == tenant_id, col(User.is_active).is_(True))
    if user_ids is not None:
        query = query.where(col(User.id).in_(list(user_ids)))
    users = (await session.scalars(query)).all()
    ids = [u.id for u in users]
    profiles = {p.user_id: p for p in (await session.scalars(
        select(AgentProfile).where(AgentProfile.tenant_id == tenant_id,
                                   col(AgentProfile.user_id).in_(ids)))).all()}
    skills: dict[uuid.UUID, dict[str, int]] = {}
    for row in (await session.scalars(
            select(UserSkill).where(UserSkill.tenant_id == tenant_id,
                                    col(UserSkill.user_id).in_(ids)))).all():
        skills.setdefault(row.user_id, {})[str(row.skill_id)] = row.level
    return [agent_from_profile(
        user_id=str(u.id), profile=profiles.get(u.id), skills=skills.get(u.id, {}),
        site=None if u.site_id is None else str(u.site_id), languages=u.languages)
        for u in users]


def epoch(at: datetime) -> float:
    return at.timestamp()


def contact_state(row: Contact, *, sticky_agent: str | None = None,
                  sticky_until: float = 0.0) -> ContactState:
    """A stored contact as the core routes it: waiting, at its original age."""
    return ContactState(
        id=str(row.id), channel=row.channel, created_at=epoch(row.created_at),
        attributes=dict(row.attributes), priority=row.priority,
        queue_id=None if row.queue_id is None else str(row.queue_id),
        required_skills=dict(row.required_skills),
        workflow_id=None if row.workflow_id is None else str(row.workflow_id),
        target_agent=None if row.requested_agent_id is None else str(row.requested_agent_id),
        sticky_agent=sticky_agent, sticky_until=sticky_until)


def _unfinished(tenant_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return col(Contact.tenant_id) == tenant_id, col(Contact.status).not_in(FINAL_STATUSES)


async def unfinished_contacts(session: AsyncSession, tenant_id: uuid.UUID,
                              ids: Iterable[uuid.UUID] | None = None) -> list[Contact]:
    query = select(Contact).where(*_unfinished(tenant_id))
    if ids is not None:
        query = query.where(col(Contact.id).in_(list(ids)))
    return list((await session.scalars(query.order_by(col(Contact.created_at)))).all())


async def unfinished_contact_times(session: AsyncSession,
                                   tenant_id: uuid.UUID) -> list[tuple[uuid.UUID, datetime]]:
    """(id, created at) of every unfinished contact: what a sweep compares with the
    routing state every few seconds, read as two columns (the whole rows, built as
    objects, cost the event loop about 20 ms per thousand waiting contacts)."""
    query = select(Contact.id, Contact.created_at).where(*_unfinished(tenant_id))
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def last_agent_of(session: AsyncSession, tenant_id: uuid.UUID,
                        customer_key: str) -> uuid.UUID | None:
    """The agent who last answered this customer (sticky routing)."""
    return (await session.scalars(
        select(Contact.agent_id).where(
            Contact.tenant_id == tenant_id, Contact.customer_key == customer_key,
            col(Contact.agent_id).is_not(None), col(Contact.answered_at).is_not(None))
        .order_by(col(Contact.answered_at).desc()).limit(1))).first()


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _at(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def _repeat_id(entry_id: str, key: tuple[str, str], repeats: dict[tuple[str, str], int]) -> str:
    count = repeats.get(key, 0)
    repeats[key] = count + 1
    return entry_id if count == 0 else f"{entry_id}.{count}"


async def record(session: AsyncSession, tenant_id: uuid.UUID,
                 entries: Sequence[LogEntry]) -> None:
    """Write the log's events as history and bring the contacts' rows up to date. Entries
    already recorded (a steward that stopped before saving its cursor) are skipped."""
    if not entries:
        return
    ids = [entry.id for entry in entries]
    done = set((await session.scalars(select(ContactEvent.log_id).where(
        ContactEvent.tenant_id == tenant_id, col(ContactEvent.log_id).in_(ids)))).all())
    done |= set((await session.scalars(select(AgentStateEvent.log_id).where(
        AgentStateEvent.tenant_id == tenant_id, col(AgentStateEvent.log_id).in_(ids)))).all())
    contact_rows: list[dict[str, Any]] = []
    agent_rows: list[dict[str, Any]] = []
    changes: dict[uuid.UUID, dict[str, Any]] = {}
    transfers: dict[uuid.UUID, int] = {}
    for entry in entries:
        if entry.id in done:
            continue
        # One log entry can hold several operations committed together, so one contact
        # can be offered twice in it (offered, declined, offered to another): repeats get
        # a suffixed id, the first keeps the entry's own (which says it was recorded).
        repeats: dict[tuple[str, str], int] = {}
        for event in entry.events:
            at = _at(event["at"])
            if event.get("k") == "presence":
                user_id = _uuid(event.get("a"))
                if user_id is None:
                    continue
                agent_rows.append({
                    "id": uuid.uuid4(), "tenant_id": tenant_id, "user_id": user_id,
                    "log_id": _repeat_id(entry.id, ("presence", str(user_id)), repeats),
                    "presence": event["p"], "reason": event.get("r"),
                    "previous": event.get("prev"), "previous_seconds": event.get("secs"),
                    "at": at})
                continue
            contact_id = _uuid(event.get("c"))
            if contact_id is None:
                continue
            kind = str(event["k"])
            contact_rows.append({
                "id": uuid.uuid4(), "tenant_id": tenant_id, "contact_id": contact_id,
                "log_id": _repeat_id(entry.id, (kind, str(contact_id)), repeats),
                "kind": kind, "status": event.get("s") or kind,
                "agent_id": _uuid(event.get("a")), "queue_id": _uuid(event.get("q")),
                "details": event.get("d") or {}, "at": at})
            change = changes.setdefault(contact_id, {})
            change["status"] = event.get("s") or kind
            change["updated_at"] = at
            if event.get("q") is not None:
                change["queue_id"] = _uuid(event["q"])
            if kind == "offered":
                change.setdefault("offered_at", at)
            elif kind == "assigned":
                change["answered_at"] = at
                change["agent_id"] = _uuid(event.get("a"))
            elif kind == "transferred":
                transfers[contact_id] = transfers.get(contact_id, 0) + 1
            elif change["status"] in FINAL_STATUSES:
                change["ended_at"] = at
                details = event.get("d") or {}
                change["outcome"] = str(details.get("action") or kind)[:40]
    if contact_rows:
        existing = set((await session.scalars(select(Contact.id).where(
            Contact.tenant_id == tenant_id, col(Contact.id).in_(list(changes))))).all())
        contact_rows = [row for row in contact_rows if row["contact_id"] in existing]
        if contact_rows:
            await session.execute(ContactEvent.__table__.insert(), contact_rows)  # type: ignore[attr-defined]
    if agent_rows:
        await session.execute(AgentStateEvent.__table__.insert(), agent_rows)  # type: ignore[attr-defined]
    for contact_id, change in changes.items():
        values: dict[str, Any] = dict(change)
        offered_at = values.pop("offered_at", None)
        if "outcome" in values:
            # An outcome set before the end is recorded (a wrap-up code, the result of a
            # callback's dialling) says more than how the contact left routing: kept.
            values["outcome"] = func.coalesce(Contact.outcome, values["outcome"])
        statement = update(Contact).where(
            col(Contact.tenant_id) == tenant_id, col(Contact.id) == contact_id).values(**values)
        if contact_id in transfers:
            statement = statement.values(transfers=Contact.transfers + transfers[contact_id])
        await session.execute(statement)
        if offered_at is not None:
            await session.execute(update(Contact).where(
                col(Contact.tenant_id) == tenant_id, col(Contact.id) == contact_id,
                col(Contact.offered_at).is_(None)).values(offered_at=offered_at))
    # A contact that ended is metered for billing and announced to the tenant's webhooks
    # in this same transaction: a second recording of the same entries rolls back whole.
    ended = [contact_id for contact_id, change in changes.items()
             if change["status"] in FINAL_STATUSES]
    await meter_finished_contacts(session, tenant_id, ended)
    await contacts_ended(session, tenant_id, ended)
