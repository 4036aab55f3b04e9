"""The usage ledger: one row per billable event, written once.

Every write is an insert that does nothing when the event's key is already there, so a
retried job, a replayed routing log or a contact transferred three times is counted once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.billing.meters import Meter
from plateaux.billing.models import UsageRecord, UsageReport
from plateaux.platform.types import new_id, utcnow


async def record(session: AsyncSession, tenant_id: uuid.UUID, *, key: str, meter: Meter,
                 quantity: int, occurred_at: datetime, seconds: int | None = None,
                 contact_id: uuid.UUID | None = None,
                 details: dict[str, Any] | None = None) -> bool:
    """Add the event; False when an event with this key was already recorded."""
    values = {
        "id": new_id(), "tenant_id": tenant_id, "key": key, "meter": meter.value,
        "quantity": quantity, "seconds": seconds, "contact_id": contact_id,
        "details": details or {}, "occurred_at": occurred_at, "recorded_at": utcnow(),
        "report_id": None,
    }
    table = UsageRecord.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = maker(table).values(**values).on_conflict_do_nothing(
        index_elements=["tenant_id", "key"])
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class MeterUsage:
    """One usage kind over a period: what was used, and how much of it Stripe has."""

    used: int = 0
    records: int = 0
    reported: int = 0
    seconds: int = 0


@dataclass
class PeriodUsage:
    start: datetime | None
    end: datetime | None
    meters: dict[Meter, MeterUsage] = field(default_factory=dict)


async def usage_between(session: AsyncSession, tenant_id: uuid.UUID, start: datetime | None,
                        end: datetime | None) -> PeriodUsage:
    """Usage that occurred in [start, end), and what was reported for that period (a
    report counts in the period its timestamp falls in, as Stripe counts it)."""
    usage = PeriodUsage(start=start, end=end, meters={m: MeterUsage() for m in Meter})
    used = select(UsageRecord.meter, func.sum(UsageRecord.quantity), func.count(),
                  func.sum(func.coalesce(UsageRecord.seconds, 0))).where(
        UsageRecord.tenant_id == tenant_id)
    sent = select(UsageReport.meter, func.sum(UsageReport.quantity)).where(
        UsageReport.tenant_id == tenant_id, col(UsageReport.sent_at).is_not(None))
    if start is not None:
        used = used.where(col(UsageRecord.occurred_at) >= start)
        sent = sent.where(col(UsageReport.reported_for) >= start)
    if end is not None:
        used = used.where(col(UsageRecord.occurred_at) < end)
        sent = sent.where(col(UsageReport.reported_for) < end)
    for meter, quantity, count, seconds in (await session.execute(
            used.group_by(UsageRecord.meter))).all():
        if meter in usage.meters:
            entry = usage.meters[Meter(meter)]
            entry.used, entry.records, entry.seconds = int(quantity or 0), int(count), int(
                seconds or 0)
    for meter, quantity in (await session.execute(sent.group_by(UsageReport.meter))).all():
        if meter in usage.meters:
            usage.meters[Meter(meter)].reported = int(quantity or 0)
    return usage


async def unreported(session: AsyncSession, tenant_id: uuid.UUID) -> dict[Meter, int]:
    """Usage not yet sent to Stripe: not taken by a report, or in a report still to send."""
    waiting = {m: 0 for m in Meter}
    for meter, quantity in (await session.execute(
            select(UsageRecord.meter, func.sum(UsageRecord.quantity)).where(
                UsageRecord.tenant_id == tenant_id, col(UsageRecord.report_id).is_(None))
            .group_by(UsageRecord.meter))).all():
        waiting[Meter(meter)] += int(quantity or 0)
    for meter, quantity in (await session.execute(
            select(UsageReport.meter, func.sum(UsageReport.quantity)).where(
                UsageReport.tenant_id == tenant_id, col(UsageReport.sent_at).is_(None))
            .group_by(UsageReport.meter))).all():
        waiting[Meter(meter)] += int(quantity or 0)
    return waiting


async def records_of(session: AsyncSession, tenant_id: uuid.UUID, *,
                     limit: int = 50) -> list[UsageRecord]:
    return list((await session.scalars(
        select(UsageRecord).where(UsageRecord.tenant_id == tenant_id)
        .order_by(col(UsageRecord.occurred_at).desc()).limit(limit))).all())


async def reports_of(session: AsyncSession, tenant_id: uuid.UUID, *,
                     limit: int = 20) -> list[UsageReport]:
    return list((await session.scalars(
        select(UsageReport).where(UsageReport.tenant_id == tenant_id)
        .order_by(col(UsageReport.created_at).desc()).limit(limit))).all())
