"""Stripe's webhook: the signature checked by the official library, every event stored by
its id before it has any effect, in the same transaction as that effect."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.billing.gateway import gateway_for
from plateaux.billing.models import StripeEvent
from plateaux.billing.standing import apply_event, tenant_hint
from plateaux.platform.database import bind_tenant, savepoint
from plateaux.platform.deps import DbSession, ServicesDep
from plateaux.platform.errors import BadRequest, NotFound
from plateaux.platform.ratelimit import Limit
from plateaux.platform.services import Services
from plateaux.tenants.models import Tenant

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/billing/stripe/webhook"
WEBHOOK_LIMIT = Limit(count=1200, seconds=60)  # per address; Stripe sends bursts


async def _tenant_of(services: Services, obj: dict[str, Any]) -> uuid.UUID | None:
    hint = tenant_hint(obj)
    customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    if hint is None and isinstance(customer, str) and services.settings.billing_enabled:
        # An invoice names only its customer: the customer carries the tenant's id.
        try:
            hint = (await gateway_for(services.settings).customer_metadata(customer)).get(
                "tenant_id")
        except stripe.StripeError:
            logger.warning("could not read a Stripe customer named by an event")
    try:
        return uuid.UUID(hint) if hint else None
    except ValueError:
        return None


async def receive(session: AsyncSession, services: Services, event: dict[str, Any]) -> str:
    """Store the event once and apply it; a duplicate says what the first one did."""
    event_id = event["id"]
    stored = await session.get(StripeEvent, event_id)
    if stored is not None:
        return f"duplicate of an event already received ({stored.outcome})"
    obj = (event.get("data") or {}).get("object") or {}
    customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    row = StripeEvent(id=event_id, type=str(event.get("type") or "")[:100],
                      created=int(event.get("created") or 0),
                      customer=customer if isinstance(customer, str) else None, payload=event)
    try:
        async with savepoint(session):
            session.add(row)
    except IntegrityError:
        # The same event delivered twice at once: the other delivery has it.
        return "duplicate of an event being received"
    tenant_id = await _tenant_of(services, obj)
    tenant = await session.get(Tenant, tenant_id) if tenant_id else None
    if tenant is None:
        outcome = "not about a Plateaux tenant"
    else:
        await bind_tenant(session, tenant.id)
        outcome = await apply_event(session, event, tenant_id=tenant.id,
                                    grace_days=services.settings.billing_grace_days)
    row.outcome = outcome[:200]
    session.add(row)
    await session.flush()
    logger.info("stripe event received",
                extra={"event": event_id, "type": row.type, "outcome": row.outcome})
    return outcome


@router.post(WEBHOOK_PATH)
async def stripe_webhook(request: Request, session: DbSession,
                         services: ServicesDep) -> JSONResponse:
    secret = services.settings.stripe_webhook_secret
    if not secret:
        raise NotFound("Billing is not configured on this platform.")
    address = request.client.host if request.client else "unknown"
    await services.limiter.check(f"stripe-webhook:{address}", WEBHOOK_LIMIT)
    payload = await request.body()
    try:
        stripe.Webhook.construct_event(payload, request.headers.get("stripe-signature"), secret)
    except stripe.SignatureVerificationError as error:
        raise BadRequest("The Stripe signature is missing or does not match.") from error
    except ValueError as error:
        raise BadRequest("The body is not a Stripe event.") from error
    event = json.loads(payload)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise BadRequest("The body is not a Stripe event.")
    outcome = await receive(session, services, event)
    return JSONResponse({"received": True, "outcome": outcome})
