"""Reporting the ledger to Stripe's meters.

Two steps, each safe to interrupt. First, in one transaction, the usage not yet reported
is taken by new report rows (one per usage kind): each ledger row is taken once, by the
``report_id IS NULL`` condition of the update that takes it. Then each report not yet sent
is sent as one meter event whose identifier and idempotency key are the report's own id,
and marked sent. A crash between Stripe's answer and the mark leaves the report unsent: it
is sent again with the same identifier, which Stripe counts once. A failure is retried on
the next run; nothing is ever reported under a second identifier.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from plateaux.billing.gateway import StripeError, StripeGateway
from plateaux.billing.meters import Meter, event_name
from plateaux.billing.models import UsageRecord, UsageReport
from plateaux.billing.service import account_of
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow

logger = logging.getLogger(__name__)

BATCH = 5000
# Stripe takes meter events up to 35 days old; a report failing for longer counts now.
OLDEST_TIMESTAMP = timedelta(days=30)


@dataclass
class ReportOutcome:
    made: int = 0
    sent: int = 0
    failed: int = 0


async def take_unreported(services: Services, tenant_id: uuid.UUID) -> int:
    """Make report rows for the usage no report has taken yet; how many were made."""
    made = 0
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        account = await account_of(session, tenant_id)
        if account is None or account.stripe_customer_id is None:
            return 0
        for meter in Meter:
            ids = list((await session.scalars(
                select(UsageRecord.id).where(
                    UsageRecord.tenant_id == tenant_id, col(UsageRecord.report_id).is_(None),
                    UsageRecord.meter == meter.value).limit(BATCH))).all())
            if not ids:
                continue
            report = UsageReport(tenant_id=tenant_id, meter=meter.value, quantity=0,
                                 stripe_customer_id=account.stripe_customer_id)
            session.add(report)
            await session.flush()
            await session.execute(
                update(UsageRecord).where(
                    col(UsageRecord.tenant_id) == tenant_id, col(UsageRecord.id).in_(ids),
                    col(UsageRecord.report_id).is_(None)).values(report_id=report.id)
                .execution_options(synchronize_session=False))
            quantity, count = (await session.execute(
                select(func.sum(UsageRecord.quantity), func.count()).where(
                    UsageRecord.tenant_id == tenant_id,
                    UsageRecord.report_id == report.id))).one()
            if not count:  # another run took them first
                await session.execute(delete(UsageReport).where(
                    col(UsageReport.id) == report.id))
                continue
            report.quantity, report.records = int(quantity or 0), int(count)
            if report.quantity == 0:
                report.sent_at = utcnow()  # only zero-minute legs: nothing to bill
            session.add(report)
            made += 1
    return made


async def send_pending(services: Services, gateway: StripeGateway,
                       tenant_id: uuid.UUID) -> ReportOutcome:
    outcome = ReportOutcome()
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        pending = [(r.id, r.meter, r.quantity, r.stripe_customer_id, r.reported_for,
                    r.identifier) for r in (await session.scalars(
                        select(UsageReport).where(UsageReport.tenant_id == tenant_id,
                                                  col(UsageReport.sent_at).is_(None))
                        .order_by(col(UsageReport.created_at)))).all()]
    for report_id, meter, quantity, customer_id, reported_for, identifier in pending:
        timestamp = max(reported_for, utcnow() - OLDEST_TIMESTAMP)
        try:
            await gateway.report_usage(
                event_name=event_name(Meter(meter)), customer_id=customer_id, value=quantity,
                identifier=identifier, timestamp=timestamp)
        except StripeError as error:
            outcome.failed += 1
            logger.warning("usage report failed; retried on the next run",
                           extra={"report": identifier, "error": str(error)})
            async with services.unit_of_work(tenant_id=tenant_id) as session:
                report = await session.get(UsageReport, report_id)
                if report is not None:
                    report.attempts += 1
                    report.last_error = f"{type(error).__name__}: {error}"[:500]
                    session.add(report)
            continue
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            report = await session.get(UsageReport, report_id)
            if report is not None:
                report.attempts += 1
                report.last_error = None
                report.sent_at = utcnow()
                session.add(report)
        outcome.sent += 1
    return outcome


async def report_tenant(services: Services, gateway: StripeGateway,
                        tenant_id: uuid.UUID) -> ReportOutcome:
    made = await take_unreported(services, tenant_id)
    outcome = await send_pending(services, gateway, tenant_id)
    outcome.made = made
    return outcome
