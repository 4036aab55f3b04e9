"""The current billing period as the tenant admin and the operator see it: usage counted
in the ledger, how much of it Stripe already has, and what the invoice will say."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.billing import ledger
from plateaux.billing.meters import METERS, Meter
from plateaux.billing.models import BillingAccount, Plan
from plateaux.billing.service import account_of, active_seats, plan_usage
from plateaux.billing.standing import console_notice, grace_ends
from plateaux.platform.settings import Settings
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Tenant


@dataclass
class MeterLine:
    meter: Meter
    label: str
    unit: str
    used: int
    reported: int
    waiting: int
    included: int
    unit_price: Decimal
    seconds: int

    @property
    def invoiced(self) -> int:
        """What Stripe will have counted for the period once the waiting part is sent."""
        return self.reported + self.waiting

    @property
    def billable(self) -> int:
        return max(0, self.invoiced - self.included)

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.billable


@dataclass
class BillingSummary:
    configured: bool
    currency: str
    period_start: datetime
    period_end: datetime
    seats: int
    seat_price: Decimal
    plan: Plan | None
    account: BillingAccount | None
    notice: str | None
    grace_ends: datetime | None
    lines: list[MeterLine] = field(default_factory=list)

    @property
    def seat_amount(self) -> Decimal:
        return self.seat_price * self.seats

    @property
    def usage_amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.seat_amount + self.usage_amount


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
        month=start.month + 1)
    return start, end


async def summarize(session: AsyncSession, settings: Settings, tenant: Tenant) -> BillingSummary:
    account = await account_of(session, tenant.id)
    plan = await session.get(Plan, tenant.plan_code)
    if account is not None and account.period_start and account.period_end:
        start, end = account.period_start, account.period_end
    else:
        start, end = calendar_month(utcnow())
    usage = await ledger.usage_between(session, tenant.id, start, end)
    waiting = await ledger.unreported(session, tenant.id)
    seats = account.seats if account is not None and account.seats else max(
        1, await active_seats(session, tenant.id))
    summary = BillingSummary(
        configured=settings.billing_enabled, currency=(plan.currency if plan else "eur"),
        period_start=start, period_end=end, seats=seats,
        seat_price=Decimal(plan.seat_price_cents if plan else 0) / 100, plan=plan,
        account=account, notice=await console_notice(session, tenant.id,
                                                      settings.billing_grace_days),
        grace_ends=grace_ends(account, settings.billing_grace_days) if account else None)
    for meter in Meter:
        info = METERS[meter]
        included, price = plan_usage(plan, meter) if plan else (0, Decimal(0))
        used = usage.meters[meter]
        summary.lines.append(MeterLine(
            meter=meter, label=info.label, unit=info.units, used=used.used,
            reported=used.reported, waiting=waiting[meter], included=included,
            unit_price=price, seconds=used.seconds))
    return summary


async def summary_for(session: AsyncSession, settings: Settings,
                      tenant_id: uuid.UUID) -> BillingSummary | None:
    tenant = await session.get(Tenant, tenant_id)
    return None if tenant is None else await summarize(session, settings, tenant)
