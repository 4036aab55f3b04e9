"""Every call Plateaux makes to Stripe, through the official library.

Creates carry idempotency keys derived from what they are about, so a retried job never
makes a second object; objects we can name (products, plans) get ids of our own, so even a
retry after Stripe forgot the key finds the first one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import stripe

from plateaux.platform.settings import Settings

logger = logging.getLogger(__name__)

StripeError = stripe.StripeError


class BillingNotConfigured(RuntimeError):
    pass


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain JSON values (what we store and test against)."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


class StripeGateway:
    def __init__(self, settings: Settings, *, http_client: stripe.HTTPClient | None = None,
                 max_network_retries: int = 2) -> None:
        if not settings.stripe_api_key:
            raise BillingNotConfigured("PLATEAUX_STRIPE_API_KEY is not set")
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self.client = stripe.StripeClient(
            settings.stripe_api_key, base_addresses=base,  # type: ignore[arg-type]
            http_client=http_client or stripe.HTTPXClient(),
            max_network_retries=max_network_retries)

    @staticmethod
    def _params(params: dict[str, Any]) -> Any:
        # Built from our own values; the library's TypedDicts would only restate them.
        return params

    @staticmethod
    def _options(idempotency_key: str | None) -> Any:
        return {"idempotency_key": idempotency_key} if idempotency_key else {}

    # --- objects shared by the platform --------------------------------------------------

    async def find_meter(self, event_name: str) -> str | None:
        meters = await self.client.v1.billing.meters.list_async(
            {"status": "active", "limit": 100})
        for meter in meters.data:
            if meter.event_name == event_name:
                return str(meter.id)
        return None

    async def create_meter(self, *, event_name: str, display_name: str) -> str:
        meter = await self.client.v1.billing.meters.create_async(
            {"display_name": display_name, "event_name": event_name,
             "default_aggregation": {"formula": "sum"},
             "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
             "value_settings": {"event_payload_key": "value"}},
            self._options(f"plx-meter-{event_name}"))
        return str(meter.id)

    async def ensure_product(self, product_id: str, params: dict[str, Any]) -> str:
        try:
            product = await self.client.v1.products.create_async(
                self._params({"id": product_id, **params}),
                self._options(f"plx-product-{product_id}"))
            return str(product.id)
        except stripe.StripeError:
            # Made by an earlier run whose key Stripe no longer remembers.
            return str((await self.client.v1.products.retrieve_async(product_id)).id)

    async def ensure_plan(self, plan_id: str, params: dict[str, Any]) -> str:
        try:
            plan = await self.client.v1.plans.create_async(
                self._params({"id": plan_id, **params}), self._options(f"plx-plan-{plan_id}"))
            return str(plan.id)
        except stripe.StripeError:
            return str((await self.client.v1.plans.retrieve_async(plan_id)).id)

    # --- customers and subscriptions -----------------------------------------------------

    async def create_customer(self, params: dict[str, Any], *, key: str) -> str:
        customer = await self.client.v1.customers.create_async(self._params(params),
                                                               self._options(key))
        return str(customer.id)

    async def update_customer(self, customer_id: str, params: dict[str, Any]) -> None:
        await self.client.v1.customers.update_async(customer_id, self._params(params))

    async def customer_metadata(self, customer_id: str) -> dict[str, str]:
        customer = _plain(await self.client.v1.customers.retrieve_async(customer_id))
        return {str(k): str(v) for k, v in (customer.get("metadata") or {}).items()}

    async def create_subscription(self, params: dict[str, Any], *, key: str) -> dict[str, Any]:
        return _plain(await self.client.v1.subscriptions.create_async(
            self._params(params), self._options(key)))

    async def update_subscription(self, subscription_id: str, params: dict[str, Any], *,
                                  key: str) -> dict[str, Any]:
        return _plain(await self.client.v1.subscriptions.update_async(
            subscription_id, self._params(params), self._options(key)))

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return _plain(await self.client.v1.subscriptions.retrieve_async(subscription_id))

    # --- usage and the customer portal ---------------------------------------------------

    async def report_usage(self, *, event_name: str, customer_id: str, value: int,
                           identifier: str, timestamp: datetime) -> dict[str, Any]:
        """One meter event. ``identifier`` is also the idempotency key: Stripe counts an
        identifier once, so resending after a crash adds nothing."""
        event = await self.client.v1.billing.meter_events.create_async(
            {"event_name": event_name, "identifier": identifier,
             "timestamp": int(timestamp.timestamp()),
             "payload": {"stripe_customer_id": customer_id, "value": str(value)}},
            self._options(identifier))
        return _plain(event)

    async def portal_session(self, *, customer_id: str, return_url: str) -> str:
        session = await self.client.v1.billing_portal.sessions.create_async(
            {"customer": customer_id, "return_url": return_url})
        return str(session.url)


_gateways: dict[tuple[str, str], StripeGateway] = {}


def gateway_for(settings: Settings) -> StripeGateway:
    """The platform's gateway (one per configuration, so its connections are reused)."""
    key = (settings.stripe_api_key or "", settings.stripe_api_base or "")
    if key not in _gateways:
        _gateways[key] = StripeGateway(settings)
    return _gateways[key]


def install_gateway(settings: Settings, gateway: StripeGateway | None) -> None:
    """Use ``gateway`` for this configuration (another HTTP client, e.g. for a recorded
    exchange); ``None`` goes back to the default."""
    key = (settings.stripe_api_key or "", settings.stripe_api_base or "")
    if gateway is None:
        _gateways.pop(key, None)
    else:
        _gateways[key] = gateway
