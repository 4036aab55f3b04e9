"""Where a tenant stands with its payments, from Stripe's events, and what follows.

Payment failed: a warning in the tenant's consoles. Subscription unpaid or cancelled: a
grace period, then the tenant is suspended (the platform's own suspension: people keep
reading, nothing is changed or deleted, visitors are told new requests are not taken).
Paid again: the warning goes, and a suspension made by billing is lifted.

Each kind of state remembers the Stripe creation time of the event that set it; an older
event arriving later is stored but changes nothing, so the order of delivery never matters.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from plateaux.billing.models import BillingAccount, Plan
from plateaux.billing.service import GOOD, SUSPENDING, account_of, apply_subscription
from plateaux.platform.errors import Forbidden
from plateaux.platform.types import utcnow
from plateaux.tenants import service as tenant_service
from plateaux.tenants.models import Tenant, TenantStatus

logger = logging.getLogger(__name__)

ACTOR = "billing"
SUSPENSION_REASON = "Unpaid subscription: pay the open invoices from the Billing page."


class NotTakingContacts(Forbidden):
    title = "Not available"


async def ensure_taking_contacts(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Refuse a visitor's new request to a suspended tenant, in words a visitor reads."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is not None and tenant.status != TenantStatus.ACTIVE:
        raise NotTakingContacts(
            f"{tenant.name} is not taking new requests here at the moment. "
            "Please try again later.")


def grace_ends(account: BillingAccount, grace_days: float) -> datetime | None:
    if account.delinquent_since is None:
        return None
    return account.delinquent_since + timedelta(days=grace_days)


async def suspend(session: AsyncSession, tenant: Tenant, account: BillingAccount) -> bool:
    if tenant.status != TenantStatus.ACTIVE:
        return False  # already suspended (perhaps by an operator, for another reason)
    await tenant_service.set_tenant_status(session, tenant, TenantStatus.SUSPENDED,
                                           actor=ACTOR, reason=SUSPENSION_REASON)
    account.suspended_by_billing = True
    session.add(account)
    logger.warning("tenant suspended for an unpaid subscription", extra={"tenant": tenant.slug})
    return True


async def restore(session: AsyncSession, tenant: Tenant, account: BillingAccount) -> bool:
    """Back in good standing: clear the delinquency; lift only billing's own suspension."""
    account.delinquent_since = None
    account.payment_failed_at = None
    account.payment_failure = None
    lifted = False
    if account.suspended_by_billing:
        account.suspended_by_billing = False
        if tenant.status == TenantStatus.SUSPENDED:
            await tenant_service.set_tenant_status(session, tenant, TenantStatus.ACTIVE,
                                                   actor=ACTOR)
            lifted = True
    session.add(account)
    return lifted


async def apply_grace(session: AsyncSession, tenant_id: uuid.UUID, grace_days: float) -> bool:
    """Suspend the tenant when its grace period is over; True when it was suspended now."""
    account = await account_of(session, tenant_id)
    tenant = await session.get(Tenant, tenant_id)
    if account is None or tenant is None or account.suspended_by_billing:
        return False
    ends = grace_ends(account, grace_days)
    if ends is None or ends > utcnow():
        return False
    return await suspend(session, tenant, account)


# --- events ------------------------------------------------------------------------------


def tenant_hint(obj: dict[str, Any]) -> str | None:
    """The tenant id Plateaux put in the metadata, wherever this kind of object shows it."""
    candidates = [
        obj.get("metadata"),
        ((obj.get("parent") or {}).get("subscription_details") or {}).get("metadata"),
        (obj.get("subscription_details") or {}).get("metadata"),
    ]
    for metadata in candidates:
        if isinstance(metadata, dict) and metadata.get("tenant_id"):
            return str(metadata["tenant_id"])
    return None


async def apply_event(session: AsyncSession, event: dict[str, Any], *,
                      tenant_id: uuid.UUID, grace_days: float) -> str:
    """The effect of one Stripe event on the tenant's standing; what it did, in words."""
    kind = str(event.get("type") or "")
    created = int(event.get("created") or 0)
    obj = (event.get("data") or {}).get("object") or {}
    account = await account_of(session, tenant_id)
    tenant = await session.get(Tenant, tenant_id)
    if account is None or tenant is None:
        return "no billing account for this tenant"
    customer = obj.get("customer") if obj.get("object") != "customer" else obj.get("id")
    if customer and account.stripe_customer_id and customer != account.stripe_customer_id:
        return "the customer is not this tenant's"
    if kind.startswith("customer.subscription."):
        if account.stripe_subscription_id and obj.get("id") != account.stripe_subscription_id:
            return "another subscription than the tenant's current one; ignored"
        if created < account.subscription_event_at:
            return "older than the subscription state already applied; ignored"
        account.subscription_event_at = created
        plans = list((await session.scalars(select(Plan))).all())
        apply_subscription(account, obj, plans)
        status = account.subscription_status or ""
        if status in SUSPENDING:
            if account.delinquent_since is None:
                account.delinquent_since = utcnow()
            session.add(account)
            ends = grace_ends(account, grace_days)
            return f"subscription {status}: suspension after {ends:%Y-%m-%d %H:%M} UTC"
        if status in GOOD and account.delinquent_since is not None:
            lifted = await restore(session, tenant, account)
            return f"subscription {status}: " + ("reactivated" if lifted else "in good standing")
        session.add(account)
        return f"subscription {status}"
    if kind == "invoice.payment_failed":
        if created < account.payment_event_at:
            return "older than the payment state already applied; ignored"
        account.payment_event_at = created
        account.payment_failed_at = utcnow()
        amount = int(obj.get("amount_due") or 0) / 100
        currency = str(obj.get("currency") or "").upper()
        number = obj.get("number") or obj.get("id")
        account.payment_failure = (
            f"the payment of invoice {number} ({amount:.2f} {currency}) failed")[:500]
        session.add(account)
        return "payment failed: tenant warned"
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        if created < account.payment_event_at:
            return "older than the payment state already applied; ignored"
        account.payment_event_at = created
        if account.payment_failed_at is None and account.delinquent_since is None \
                and not account.suspended_by_billing:
            session.add(account)
            return "paid"
        lifted = await restore(session, tenant, account)
        return "paid: " + ("tenant reactivated" if lifted else "warning cleared")
    return "not handled"


# --- what the consoles show ----------------------------------------------------------------


async def console_notice(session: AsyncSession, tenant_id: uuid.UUID,
                         grace_days: float) -> str | None:
    """A warning for every console of the tenant while a payment problem lasts."""
    account = await account_of(session, tenant_id)
    if account is None:
        return None
    tenant = await session.get(Tenant, tenant_id)
    if account.suspended_by_billing and tenant is not None \
            and tenant.status == TenantStatus.SUSPENDED:
        return ("This workspace is suspended because its subscription is unpaid: visitors "
                "cannot start new conversations. An admin can pay the open invoices from "
                "the Billing page to reactivate it; nothing has been deleted.")
    if account.suspended_by_billing:  # an operator let it work again before payment
        return ("The subscription is unpaid. An admin can pay the open invoices from the "
                "Billing page.")
    ends = grace_ends(account, grace_days)
    if ends is not None:
        return (f"The subscription is unpaid: this workspace will be suspended on "
                f"{ends:%Y-%m-%d} unless the open invoices are paid. An admin can pay "
                "them from the Billing page.")
    if account.payment_failed_at is not None:
        return (f"Billing: {account.payment_failure or 'a payment failed'}. An admin can "
                "update the payment method from the Billing page.")
    return None
