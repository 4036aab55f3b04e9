"""Calls the Stripe stand-in cannot answer for real, checked against the exchanges Stripe's
API reference documents: the request the official library sends, and what we make of the
documented answer."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import stripe

from plateaux.billing.gateway import StripeGateway, install_gateway
from plateaux.billing.models import BillingAccount
from plateaux.platform.services import Services
from tests.support.console_pages import sign_in
from tests.support.factories import PASSWORD, TenantFactory

EXCHANGES = Path(__file__).parent / "exchanges"


class RecordedExchange(stripe.HTTPClient):
    """Answers one recorded exchange after checking the request matches it."""

    name = "recorded"

    def __init__(self, name: str, **placeholders: str) -> None:
        super().__init__()
        text = (EXCHANGES / f"{name}.json").read_text()
        for key, value in placeholders.items():
            text = text.replace(key, value)
        self.exchange: dict[str, Any] = json.loads(text)
        self.used = False

    async def request_async(self, method: str, url: str, headers: Any,
                            post_data: Any = None) -> tuple[bytes, int, dict[str, str]]:
        expected = self.exchange["request"]
        assert not self.used, "one exchange, one request"
        self.used = True
        assert method == expected["method"]
        assert urlsplit(url).path == expected["path"]
        body = post_data.decode() if isinstance(post_data, bytes) else post_data or ""
        assert dict(parse_qsl(body)) == expected["form"]
        if expected["idempotency_key"] is not None:  # else the library's own random one
            assert headers.get("Idempotency-Key") == expected["idempotency_key"]
        assert headers["Authorization"].startswith("Bearer sk_")
        answer = self.exchange["response"]
        return json.dumps(answer["body"]).encode(), answer["status"], {}

    async def close_async(self) -> None:
        return None


async def test_usage_is_sent_as_one_meter_event(billing: Services) -> None:
    client = RecordedExchange("meter_event")
    gateway = StripeGateway(billing.settings, http_client=client, max_network_retries=0)
    identifier = "plx_0f4b6e1c2d3a4b5c8d9e0f1a2b3c4d5e"
    answer = await gateway.report_usage(
        event_name="plateaux_chat_conversations", customer_id="cus_NciAYcXfLnqBoz", value=25,
        identifier=identifier, timestamp=datetime.fromtimestamp(1796600000, UTC))
    assert client.used and answer["identifier"] == identifier


async def test_an_admin_opens_the_customer_portal(
        billing: Services, tenants: TenantFactory, client: httpx.AsyncClient) -> None:
    world = await tenants.create()
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        session.add(BillingAccount(tenant_id=world.tenant.id,
                                   stripe_customer_id="cus_NciAYcXfLnqBoz", stripe_items={}))
    back = f"{billing.settings.base_url}/t/{world.slug}/admin/billing"
    exchange = RecordedExchange("portal_session", RETURN_URL=back)
    install_gateway(billing.settings, StripeGateway(billing.settings, http_client=exchange,
                                                    max_network_retries=0))
    await sign_in(client, world.slug, world.admin.email, PASSWORD)
    page = await client.get(f"/t/{world.slug}/admin/billing")
    assert 'href="/t/' + world.slug + '/admin/billing/portal"' in page.text
    opened = await client.get(f"/t/{world.slug}/admin/billing/portal")
    assert opened.status_code == 303
    assert opened.headers["location"].startswith("https://billing.stripe.com/p/session/")
    assert exchange.used
    # Only admins open it.
    agent = await tenants.add_user(world, email=f"agent-{uuid.uuid4().hex[:6]}@example.com")
    async with httpx.AsyncClient(transport=client._transport,
                                 base_url="http://testserver") as other:
        await sign_in(other, world.slug, agent.email, PASSWORD)
        assert (await other.get(f"/t/{world.slug}/admin/billing/portal")).status_code == 403
