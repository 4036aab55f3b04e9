"""Billing in the consoles: operators define plans and read each tenant's billing; a tenant
admin reads the period's usage as Stripe will invoice it, with or without Stripe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from plateaux.billing import reporting, service
from plateaux.billing.gateway import StripeGateway
from plateaux.billing.metering import record_voice_leg
from plateaux.billing.models import Plan
from plateaux.platform.auth.models import Operator
from plateaux.platform.security import hash_password
from plateaux.platform.services import Services
from tests.support.console_pages import csrf_from, operator_sign_in, sign_in
from tests.support.factories import PASSWORD, TenantFactory


async def _operator(services: Services, client: httpx.AsyncClient) -> None:
    email = f"op-{uuid.uuid4().hex[:8]}@plateaux.example.com"
    async with services.unit_of_work() as session:
        session.add(Operator(email=email, name="Op", password_hash=hash_password(PASSWORD)))
    response = await operator_sign_in(client, email, PASSWORD)
    assert response.status_code == 303, response.text


async def test_an_operator_defines_a_plan(services: Services, client: httpx.AsyncClient) -> None:
    await _operator(services, client)
    page = await client.get("/operator/plans")
    assert page.status_code == 200
    code = f"pro-{uuid.uuid4().hex[:6]}"
    form = {"csrf_token": csrf_from(page.text), "code": code, "name": "Pro",
            "description": "For busy floors", "currency": "eur", "seat_price": "49.50",
            "trial_days": "30", "chat_conversations_included": "1000",
            "chat_conversations_price": "0.035", "voice_inbound_minutes_price": "0.012"}
    created = await client.post("/operator/plans", data=form)
    assert created.status_code == 303, created.text
    async with services.unit_of_work() as session:
        plan = await session.get(Plan, code)
    assert plan is not None and plan.seat_price_cents == 4950 and plan.trial_days == 30
    assert plan.usage["chat_conversations"] == {"included": 1000, "unit_price": "0.035"}
    assert plan.usage["voice_inbound_minutes"] == {"included": 0, "unit_price": "0.012"}
    listed = await client.get("/operator/plans")
    assert "1000 included, then 0.035 EUR per conversation" in listed.text
    bad = await client.post("/operator/plans", data={**form, "code": f"x-{code}",
                                                     "seat_price": "12.345"})
    assert bad.status_code == 422 and "at most 2 decimals" in bad.text
    again = await client.post("/operator/plans", data=form)
    assert again.status_code == 409


async def test_usage_reads_the_same_for_the_admin_and_the_operator(
        billing: Services, gateway: StripeGateway, tenants: TenantFactory,
        client: httpx.AsyncClient) -> None:
    world = await tenants.create()
    await service.sync_tenant(billing, gateway, world.tenant.id)
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        for n in range(3):
            await record_voice_leg(session, world.tenant.id, leg_id=f"leg-{n}",
                                   direction="inbound", seconds=90, ended_at=datetime.now(UTC))
    await reporting.report_tenant(billing, gateway, world.tenant.id)
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        await record_voice_leg(session, world.tenant.id, leg_id="leg-late", direction="inbound",
                               seconds=10, ended_at=datetime.now(UTC))

    async with httpx.AsyncClient(transport=client._transport,
                                 base_url="http://testserver") as admin:
        await sign_in(admin, world.slug, world.admin.email, PASSWORD)
        page = (await admin.get(f"/t/{world.slug}/admin/billing")).text
    await _operator(billing, client)
    tab = (await client.get(f"/operator/tenants/{world.slug}/billing")).text
    # 3 legs of 2 minutes reported, 1 of 1 minute waiting; starter: 0.02 EUR a minute.
    row = ('<tr data-meter="voice_inbound_minutes">', "<td>7 <span", "<td>6</td>",
           "<td>1</td>", "<td>0.02 EUR</td>", "<td>0.14 EUR</td>")
    for html in (page, tab):
        start = html.index(row[0])
        excerpt = html[start:html.index("</tr>", start)]
        for cell in row[1:]:
            assert cell in excerpt, (cell, excerpt)
    assert "Trial" in page and "plx_" in tab


async def test_without_stripe_billing_shows_as_not_configured(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient) -> None:
    assert not services.settings.billing_enabled
    world = await tenants.create()
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        await record_voice_leg(session, world.tenant.id, leg_id="leg", direction="browser",
                               seconds=30, ended_at=datetime.now(UTC))
    await sign_in(client, world.slug, world.admin.email, PASSWORD)
    page = await client.get(f"/t/{world.slug}/admin/billing")
    assert page.status_code == 200
    assert "Billing is not configured on this platform" in page.text
    assert '<tr data-meter="voice_browser_minutes">' in page.text
    assert (await client.get(f"/t/{world.slug}/admin/billing/portal")).status_code == 404
