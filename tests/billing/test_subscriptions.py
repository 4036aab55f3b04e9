"""Each tenant is a Stripe customer with one subscription: seats follow its active people,
a plan change is handed to Stripe to prorate, and what is in Stripe reads well there."""

from __future__ import annotations

from plateaux.billing import service
from plateaux.billing.gateway import StripeGateway
from plateaux.billing.meters import Meter
from plateaux.billing.models import Plan
from plateaux.platform.services import Services
from plateaux.tenants import service as tenant_service
from plateaux.tenants.models import Tenant, User
from tests.support.factories import TenantFactory
from tests.support.localstripe_helper import LocalStripe


async def test_a_tenant_becomes_a_customer_with_a_trial_subscription(
        billing: Services, gateway: StripeGateway, tenants: TenantFactory,
        localstripe: LocalStripe) -> None:
    world = await tenants.create(name="Maison Dupont & Fils")
    await tenants.add_user(world)
    await tenants.add_user(world)

    outcome = await service.sync_tenant(billing, gateway, world.tenant.id)
    assert outcome.created_customer and outcome.created_subscription

    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        account = await service.account_of(session, world.tenant.id)
        plan = await session.get(Plan, world.tenant.plan_code)
    assert account is not None and plan is not None
    customer = localstripe.get(f"/v1/customers/{account.stripe_customer_id}")
    assert customer["name"] == "Maison Dupont & Fils"
    assert customer["metadata"] == {"tenant_id": str(world.tenant.id),
                                    "tenant_slug": world.slug}
    assert world.slug in customer["description"]

    subscription = localstripe.get(f"/v1/subscriptions/{account.stripe_subscription_id}")
    assert subscription["status"] == "trialing" == account.subscription_status
    assert subscription["metadata"]["tenant_id"] == str(world.tenant.id)
    assert account.trial_ends_at is not None and account.period_end is not None
    items = {item["plan"]["id"]: item for item in subscription["items"]["data"]}
    assert set(items) == set(plan.stripe_ids.values())
    assert items[plan.stripe_ids["seat"]]["quantity"] == 3 == account.seats  # admin + 2
    assert set(account.stripe_items) == {"seat", *[m.value for m in Meter]}

    # Readable in the dashboard: products say what is billed, plans say the terms.
    seat_plan = localstripe.get(f"/v1/plans/{plan.stripe_ids['seat']}")
    assert seat_plan["amount"] == plan.seat_price_cents and seat_plan["interval"] == "month"
    assert seat_plan["nickname"] == f"{plan.name} — agent seat, monthly"
    assert localstripe.get(f"/v1/products/{seat_plan['product']}")["name"] == "Agent seats"
    chat = localstripe.get(f"/v1/plans/{plan.stripe_ids[Meter.CHAT.value]}")
    assert chat["usage_type"] == "metered" and chat["meter"].startswith("mtr_")
    assert chat["nickname"] == "Starter — chat conversations, first 500 conversations " \
                               "included, then 0.05 EUR per conversation"
    # (Form-encoded, so the stand-in keeps them as strings.)
    assert {k: str(v) for k, v in chat["tiers"][0].items()} == {"up_to": "500",
                                                               "unit_amount": "0"}
    assert chat["tiers"][1]["unit_amount_decimal"] == "5"
    assert localstripe.get(f"/v1/products/{chat['product']}")["name"] == "Chat conversations"

    # Nothing changed: nothing is sent.
    before = len(localstripe.requests())
    again = await service.sync_tenant(billing, gateway, world.tenant.id)
    assert not (again.created_customer or again.created_subscription or again.seats_changed)
    assert len(localstripe.requests()) == before


async def test_seats_follow_active_people_and_a_plan_change_is_prorated(
        billing: Services, gateway: StripeGateway, tenants: TenantFactory,
        localstripe: LocalStripe) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world)
    await service.sync_tenant(billing, gateway, world.tenant.id)

    await tenants.add_user(world)
    assert (await service.sync_tenant(billing, gateway, world.tenant.id)).seats_changed
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        user = await session.get(User, agent.id)
        assert user is not None
        user.is_active = False
        session.add(user)
    assert (await service.sync_tenant(billing, gateway, world.tenant.id)).seats_changed
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        account = await service.account_of(session, world.tenant.id)
        tenant = await session.get(Tenant, world.tenant.id)
        assert account is not None and tenant is not None
        assert account.seats == 2
        tenant.plan_code = "business"
        session.add(tenant)
        tenant_service.audit(session, world.tenant.id, actor="test", action="plan")
    changes = [r for r in localstripe.requests(
        f"/v1/subscriptions/{account.stripe_subscription_id}")]
    assert [c["form"]["items[0][quantity]"] for c in changes] == ["3", "2"]
    assert all(c["form"]["proration_behavior"] == "create_prorations" for c in changes)
    # Each change has its own idempotency key (3 -> 2 -> 3 again would not be swallowed).
    assert len({c["idempotency_key"] for c in changes}) == 2

    outcome = await service.sync_tenant(billing, gateway, world.tenant.id)
    assert outcome.plan_changed
    async with billing.unit_of_work(tenant_id=world.tenant.id) as session:
        account = await service.account_of(session, world.tenant.id)
        business = await session.get(Plan, "business")
    assert account is not None and business is not None and account.plan_code == "business"
    subscription = localstripe.get(f"/v1/subscriptions/{account.stripe_subscription_id}")
    assert {i["plan"]["id"] for i in subscription["items"]["data"]} == set(
        business.stripe_ids.values())
    assert subscription["metadata"]["plan"] == "business"
    change = localstripe.requests(f"/v1/subscriptions/{account.stripe_subscription_id}")[-1]
    assert change["form"]["proration_behavior"] == "create_prorations"
