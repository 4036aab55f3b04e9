"""Keeping Stripe in step with the platform: plans, the tenant as a customer, its one
subscription (seats follow the active agents; a plan change is prorated by Stripe).

Services flush; the caller commits. Calls to Stripe happen between short transactions, so
no database transaction waits on the network.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.billing.gateway import StripeGateway
from plateaux.billing.meters import METERS, SEAT_LABEL, Meter, event_name
from plateaux.billing.models import BillingAccount, Plan, StripeObject
from plateaux.platform.errors import UnprocessableContent
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Tenant, User

logger = logging.getLogger(__name__)

SEAT = "seat"
PRODUCT_PREFIX = "plx_"
CANCELLED = frozenset({"canceled", "incomplete_expired"})
SUSPENDING = frozenset({"unpaid", "canceled", "incomplete_expired"})
GOOD = frozenset({"active", "trialing"})


# --- plans -------------------------------------------------------------------------------


def parse_price(text: str) -> Decimal:
    """A unit price as typed by an operator (currency units, up to 4 decimals)."""
    try:
        value = Decimal(text.strip().replace(",", ".") or "0")
    except InvalidOperation as error:
        raise UnprocessableContent(f"'{text}' is not a price.") from error
    if value < 0 or value != value.quantize(Decimal("0.0001")) or value > 10000:
        raise UnprocessableContent("Prices are between 0 and 10000 with at most 4 decimals.")
    return value.normalize() if value else Decimal(0)


def plan_usage(plan: Plan, meter: Meter) -> tuple[int, Decimal]:
    """(units included per month, price per further unit) of a meter on a plan."""
    entry = (plan.usage or {}).get(meter.value) or {}
    return int(entry.get("included") or 0), Decimal(str(entry.get("unit_price") or "0"))


def money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(Decimal('0.01'))} {currency.upper()}"


def _usage_nickname(plan: Plan, meter: Meter) -> str:
    info = METERS[meter]
    included, price = plan_usage(plan, meter)
    text = f"{plan.name} — {info.label.lower()}"
    if included:
        text += f", first {info.quantity(included)} included"
    unit_price = f"{price.normalize():f} {plan.currency.upper()}"
    return f"{text}, then {unit_price} per {info.unit}" if price else f"{text}, included"


def _tiers(plan: Plan, meter: Meter) -> list[dict[str, Any]]:
    included, price = plan_usage(plan, meter)
    cents = f"{(price * 100).normalize():f}"
    tiers: list[dict[str, Any]] = []
    if included:
        tiers.append({"up_to": included, "unit_amount": 0})
    tiers.append({"up_to": "inf", "unit_amount_decimal": cents})
    return tiers


async def ensure_platform_objects(session: AsyncSession, gateway: StripeGateway) -> dict[str, str]:
    """One product per thing billed (read on invoices: "12 × Agent seats") and one meter
    per usage kind, made once and remembered."""
    known = {row.key: row.stripe_id for row in (await session.scalars(select(StripeObject)))}
    wanted: list[tuple[str, str | None]] = [(f"product:{SEAT}", None)]
    wanted += [(f"meter:{m.value}", None) for m in Meter]
    wanted += [(f"product:{m.value}", None) for m in Meter]
    for key, _ in wanted:
        if key in known:
            continue
        kind, _, name = key.partition(":")
        if kind == "meter":
            meter = Meter(name)
            found = await gateway.find_meter(event_name(meter))
            known[key] = found or await gateway.create_meter(
                event_name=event_name(meter), display_name=f"Plateaux — {METERS[meter].label}")
        elif name == SEAT:
            known[key] = await gateway.ensure_product(f"{PRODUCT_PREFIX}{SEAT}", {
                "name": SEAT_LABEL, "unit_label": "seat",
                "description": "Monthly price per active agent of the contact center",
                "metadata": {"plateaux_component": SEAT}})
        else:
            meter = Meter(name)
            info = METERS[meter]
            known[key] = await gateway.ensure_product(f"{PRODUCT_PREFIX}{meter.value}", {
                "name": info.label, "unit_label": info.unit, "description": info.description,
                "metadata": {"plateaux_component": meter.value}})
        session.add(StripeObject(key=key, stripe_id=known[key]))
        await session.flush()
    return known


async def ensure_plan(session: AsyncSession, gateway: StripeGateway, plan: Plan) -> dict[str, str]:
    """The plan's Stripe plans (prices): a licensed one per seat and a metered one per
    usage kind, graduated so the included units cost nothing."""
    wanted = [SEAT, *[m.value for m in Meter]]
    ids = dict(plan.stripe_ids or {})
    if all(component in ids for component in wanted):
        return ids
    known = await ensure_platform_objects(session, gateway)
    base = {"currency": plan.currency, "interval": "month"}
    for component in wanted:
        if component in ids:
            continue
        metadata = {"plateaux_plan": plan.code, "plateaux_component": component}
        if component == SEAT:
            params: dict[str, Any] = {
                **base, "product": known[f"product:{SEAT}"], "usage_type": "licensed",
                "amount": plan.seat_price_cents,
                "nickname": f"{plan.name} — agent seat, monthly", "metadata": metadata}
        else:
            meter = Meter(component)
            params = {
                **base, "product": known[f"product:{component}"], "usage_type": "metered",
                "meter": known[f"meter:{component}"], "billing_scheme": "tiered",
                "tiers_mode": "graduated", "tiers": _tiers(plan, meter),
                "nickname": _usage_nickname(plan, meter), "metadata": metadata}
        ids[component] = await gateway.ensure_plan(f"plx_{plan.code}_{component}", params)
    plan.stripe_ids = ids
    plan.stripe_synced_at = utcnow()
    session.add(plan)
    await session.flush()
    return ids


# --- accounts ----------------------------------------------------------------------------


async def account_of(session: AsyncSession, tenant_id: uuid.UUID) -> BillingAccount | None:
    return (await session.scalars(
        select(BillingAccount).where(BillingAccount.tenant_id == tenant_id))).first()


async def get_or_create_account(session: AsyncSession, tenant_id: uuid.UUID) -> BillingAccount:
    account = await account_of(session, tenant_id)
    if account is None:
        account = BillingAccount(tenant_id=tenant_id, stripe_items={})
        session.add(account)
        await session.flush()
    return account


async def active_seats(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Every active person of the tenant takes contacts (the routing engine treats each
    as an agent), so each is a seat."""
    return int(await session.scalar(select(func.count()).select_from(User).where(
        User.tenant_id == tenant_id, col(User.is_active).is_(True))) or 0)


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def apply_subscription(account: BillingAccount, subscription: dict[str, Any],
                       plans: list[Plan]) -> None:
    """Take the subscription's state as Stripe has it: status, period, trial, items."""
    account.stripe_subscription_id = str(subscription["id"])
    account.subscription_status = str(subscription.get("status") or "")
    items = (subscription.get("items") or {}).get("data") or []
    # Newer API versions keep the period on each item, older ones on the subscription.
    first = items[0] if items else {}
    account.period_start = _when(first.get("current_period_start")
                                 or subscription.get("current_period_start"))
    account.period_end = _when(first.get("current_period_end")
                               or subscription.get("current_period_end"))
    account.trial_ends_at = _when(subscription.get("trial_end"))
    components = {stripe_id: component for plan in plans
                  for component, stripe_id in (plan.stripe_ids or {}).items()}
    mapping: dict[str, str] = {}
    for item in items:
        plan = item.get("plan") or item.get("price") or {}
        component = components.get(str(plan.get("id")))
        if component is not None:
            mapping[component] = str(item["id"])
            if component == SEAT:
                account.seats = int(item.get("quantity") or 0)
    account.stripe_items = mapping


@dataclass
class SyncOutcome:
    created_customer: bool = False
    created_subscription: bool = False
    seats_changed: bool = False
    plan_changed: bool = False


async def _plans(session: AsyncSession) -> list[Plan]:
    return list((await session.scalars(select(Plan))).all())


async def sync_tenant(services: Services, gateway: StripeGateway,
                      tenant_id: uuid.UUID) -> SyncOutcome:
    """Bring the tenant's customer and subscription up to date with the platform. Each
    step is committed as it succeeds; a failure leaves the rest for the next run."""
    outcome = SyncOutcome()
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            return outcome
        plan = await session.get(Plan, tenant.plan_code)
        if plan is None:
            raise LookupError(f"the tenant's plan {tenant.plan_code!r} does not exist")
        await ensure_plan(session, gateway, plan)
        account = await get_or_create_account(session, tenant_id)
        name, slug, plan_code = tenant.name, tenant.slug, tenant.plan_code
        customer_id = account.stripe_customer_id
        base_url = services.settings.base_url
    metadata = {"tenant_id": str(tenant_id), "tenant_slug": slug}
    customer_params = {
        "name": name, "metadata": metadata,
        "description": f"Plateaux tenant {slug} — {base_url}/t/{slug}/admin/"}
    if customer_id is None:
        customer_id = await gateway.create_customer(
            customer_params, key=f"plx-customer-{tenant_id}")
        outcome.created_customer = True
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            account = await get_or_create_account(session, tenant_id)
            account.stripe_customer_id = customer_id
            session.add(account)
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        account = await get_or_create_account(session, tenant_id)
        plans = await _plans(session)
        plan = next(p for p in plans if p.code == plan_code)
        seats = max(1, await active_seats(session, tenant_id))
        needs_subscription = (account.stripe_subscription_id is None
                              or account.subscription_status in CANCELLED)
        subscription_id = account.stripe_subscription_id
        item_ids = dict(account.stripe_items or {})
        current_plan, current_seats = account.plan_code, account.seats
        changes = account.changes
        delinquent = account.delinquent_since is not None or account.suspended_by_billing
    sub_metadata = {**metadata, "plan": plan.code}
    if needs_subscription:
        if subscription_id is not None and delinquent:
            # A subscription cancelled for want of payment is replaced only once the
            # tenant has paid what it owed (the payment clears the delinquency).
            return outcome
        items: list[dict[str, Any]] = [{"plan": plan.stripe_ids[SEAT], "quantity": seats,
                                        "metadata": {"plateaux_component": SEAT}}]
        items += [{"plan": plan.stripe_ids[m.value],
                   "metadata": {"plateaux_component": m.value}} for m in Meter]
        params: dict[str, Any] = {"customer": customer_id, "items": items,
                                  "metadata": sub_metadata}
        if plan.trial_days and subscription_id is None:
            params["trial_period_days"] = plan.trial_days
        subscription = await gateway.create_subscription(
            params, key=f"plx-subscription-{tenant_id}-after-{subscription_id or 'none'}")
        outcome.created_subscription = True
    elif current_plan != plan.code or current_seats != seats:
        assert subscription_id is not None
        outcome.plan_changed = current_plan != plan.code
        outcome.seats_changed = current_seats != seats
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            account = await get_or_create_account(session, tenant_id)
            account.changes = changes = account.changes + 1
            session.add(account)
        update_items: list[dict[str, Any]] = [
            {"id": item_ids[SEAT], "plan": plan.stripe_ids[SEAT], "quantity": seats}]
        if outcome.plan_changed:
            update_items += [{"id": item_ids[m.value], "plan": plan.stripe_ids[m.value]}
                             for m in Meter if m.value in item_ids]
        subscription = await gateway.update_subscription(
            subscription_id, {"items": update_items, "proration_behavior": "create_prorations",
                              "metadata": sub_metadata},
            key=f"plx-change-{subscription_id}-{changes}")
    else:
        return outcome
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        account = await get_or_create_account(session, tenant_id)
        apply_subscription(account, subscription, await _plans(session))
        account.plan_code = plan.code
        account.synced_at = utcnow()
        account.last_error = None
        session.add(account)
    return outcome


async def note_error(services: Services, tenant_id: uuid.UUID, error: BaseException) -> None:
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        account = await get_or_create_account(session, tenant_id)
        account.last_error = f"{type(error).__name__}: {error}"[:500]
        session.add(account)
