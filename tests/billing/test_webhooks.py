"""Stripe's webhook: signatures checked by the official library; each event has one effect
however often and in whatever order it comes; payment problems reach the consoles, an
unpaid subscription suspends the tenant after its grace period, a payment lifts it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import select

from plateaux.billing import service, standing
from plateaux.billing.gateway import StripeGateway
from plateaux.billing.models import BillingAccount, StripeEvent
from plateaux.billing.webhooks import WEBHOOK_PATH
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Tenant
from tests.billing.conftest import WEBHOOK_SECRET
from tests.channels.chat_world import chat_world
from tests.support.console_pages import sign_in
from tests.support.factories import PASSWORD, TenantFactory, TenantWorld
from tests.support.localstripe_helper import LocalStripe


def signed(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's signature header: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    at = at or int(time.time())
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def event(kind: str, obj: dict[str, Any], *, created: int) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": kind,
            "created": created, "api_version": "2026-10-28.endive", "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj}}


async def deliver(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    payload = json.dumps(body).encode()
    return await client.post(WEBHOOK_PATH, content=payload, headers={
        "Stripe-Signature": signed(payload), "Content-Type": "application/json"})


def invoice(account: BillingAccount, *, with_metadata: bool = True) -> dict[str, Any]:
    """An invoice as Stripe sends it (newer API versions name the subscription's metadata
    under ``parent``; without it the tenant is found through the customer)."""
    found: dict[str, Any] = {
        "id": f"in_{uuid.uuid4().hex[:14]}", "object": "invoice",
        "customer": account.stripe_customer_id, "number": "PLX-0042", "amount_due": 8700,
        "currency": "eur", "status": "open"}
    if with_metadata:
        found["parent"] = {"type": "subscription_details", "subscription_details": {
            "subscription": account.stripe_subscription_id,
            "metadata": {"tenant_id": str(account.tenant_id)}}}
    return found


async def subscribed(billing: Services, gateway: StripeGateway,
                     world: TenantWorld) -> BillingAccount:
    await service.sync_tenant(billing, gateway, world.tenant.id)
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        account = await service.account_of(session, world.tenant.id)
    assert account is not None
    return account


async def test_unsigned_forged_or_stale_deliveries_are_refused(
        billing: Services, client: httpx.AsyncClient) -> None:
    body = json.dumps(event("invoice.paid", {"object": "invoice"}, created=1)).encode()
    for headers in ({}, {"Stripe-Signature": signed(body, secret="whsec_someone_else")},
                    {"Stripe-Signature": signed(body, at=int(time.time()) - 3600)}):
        response = await client.post(WEBHOOK_PATH, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    garbage = b"not json"
    response = await client.post(WEBHOOK_PATH, content=garbage,
                                 headers={"Stripe-Signature": signed(garbage)})
    assert response.status_code == 400


async def test_a_failed_payment_warns_every_console_once_and_order_does_not_matter(
        billing: Services, gateway: StripeGateway, tenants: TenantFactory,
        client: httpx.AsyncClient) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world)
    account = await subscribed(billing, gateway, world)
    now = int(time.time())
    failed = event("invoice.payment_failed", invoice(account, with_metadata=False),
                   created=now)
    for _ in range(3):  # Stripe retries deliveries; a replay is the same event
        response = await deliver(client, failed)
        assert response.status_code == 200, response.text
    async with billing.unit_of_work() as session:
        stored = (await session.scalars(select(StripeEvent).where(
            StripeEvent.id == failed["id"]))).all()
    assert len(stored) == 1 and stored[0].outcome == "payment failed: tenant warned"
    assert "duplicate" in response.json()["outcome"]

    await sign_in(client, world.slug, agent.email, PASSWORD)
    for path in ("/agent/", "/agent/account/"):
        page = await client.get(f"/t/{world.slug}{path}")
        assert "the payment of invoice PLX-0042 (87.00 EUR) failed" in page.text, path

    # The payment that followed arrives, then a late copy of an older failure: paid wins.
    paid = event("invoice.paid", invoice(account), created=now + 5)
    stale = event("invoice.payment_failed", invoice(account), created=now - 5)
    assert (await deliver(client, paid)).json()["outcome"] == "paid: warning cleared"
    assert "ignored" in (await deliver(client, stale)).json()["outcome"]
    page = await client.get(f"/t/{world.slug}/agent/")
    assert "failed" not in page.text


async def test_unpaid_suspends_after_grace_and_paying_reactivates(
        billing: Services, gateway: StripeGateway, tenants: TenantFactory,
        client: httpx.AsyncClient, localstripe: LocalStripe) -> None:
    chat = await chat_world(billing, tenants)
    world = chat.world
    account = await subscribed(billing, gateway, world)
    subscription = localstripe.get(f"/v1/subscriptions/{account.stripe_subscription_id}")
    now = int(time.time())

    unpaid = event("customer.subscription.updated", {**subscription, "status": "unpaid"},
                   created=now)
    outcome = (await deliver(client, unpaid)).json()["outcome"]
    assert outcome.startswith("subscription unpaid: suspension after")
    # An older "active" arriving late does not undo it.
    late = event("customer.subscription.updated", {**subscription, "status": "active"},
                 created=now - 60)
    assert "ignored" in (await deliver(client, late)).json()["outcome"]

    # Within the grace period: warned, still working.
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        assert not await standing.apply_grace(session, world.tenant.id, 7)
    await sign_in(client, world.slug, world.admin.email, PASSWORD)
    page = await client.get(f"/t/{world.slug}/admin/")
    assert "will be suspended on" in page.text

    # Grace over: suspended by billing.
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        found = await service.account_of(session, world.tenant.id)
        assert found is not None and found.delinquent_since is not None
        found.delinquent_since = utcnow() - timedelta(days=8)
        session.add(found)
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        assert await standing.apply_grace(session, world.tenant.id, 7)
    refused = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": "Hello?"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (f"{world.tenant.name} is not taking new requests "
                                        "here at the moment. Please try again later.")
    page = await client.get(f"/t/{world.slug}/admin/users")
    assert page.status_code == 200 and "suspended because its subscription is unpaid" in page.text
    billing_page = await client.get(f"/t/{world.slug}/admin/billing")
    assert billing_page.status_code == 200 and "Unpaid" in billing_page.text

    paid = event("invoice.paid", invoice(account), created=now + 10)
    assert (await deliver(client, paid)).json()["outcome"] == "paid: tenant reactivated"
    async with billing.unit_of_work() as session:
        tenant = await session.get(Tenant, world.tenant.id)
    assert tenant is not None and tenant.status == "active"
    started = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": "Hello again"})
    assert started.status_code == 201, started.text
