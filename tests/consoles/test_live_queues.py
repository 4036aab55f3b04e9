"""Live queue figures: the service level worked out by hand, and the endpoint reading the
stored contacts of today and the routing state of now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import select

from plateaux.platform.services import Services
from plateaux.reporting.live_queues import start_of_day
from plateaux.reporting.service_level import ContactTimes, service_level
from plateaux.routing.models import Contact, RoutingQueue
from plateaux.tenants.models import Role, Tenant
from tests.routing.test_live_routing import _is, serve
from tests.support.factories import TenantFactory, bearer
from tests.support.waiting import until

API = "/api/v1"
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(seconds_before_noon: float) -> datetime:
    return NOON - timedelta(seconds=seconds_before_noon)


def test_service_level_worked_by_hand() -> None:
    """Threshold 20 s. Answered after 10 s and after 20 s: within. Answered after 30 s: not.
    Abandoned after 40 s: offered, not answered. Waiting 60 s so far: offered (it already
    missed the threshold). Waiting 5 s: not counted yet. 5 offered, 2 within: 40 %."""
    contacts = [
        ContactTimes(at(3600), at(3590), at(3000)),  # 10 s
        ContactTimes(at(3000), at(2980), at(2500)),  # 20 s: on the threshold counts
        ContactTimes(at(2000), at(1970), at(1500)),  # 30 s
        ContactTimes(at(1000), None, at(960)),  # abandoned after 40 s
        ContactTimes(at(60), None, None),  # still waiting, past the threshold
        ContactTimes(at(5), None, None),  # still waiting, under it
    ]
    level = service_level(contacts, threshold_seconds=20, now=NOON)
    assert (level.offered, level.answered, level.answered_within, level.abandoned) == (5, 3, 2, 1)
    assert level.value == 0.4
    assert service_level([], threshold_seconds=20, now=NOON).value is None


def test_today_starts_at_midnight_in_the_tenants_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 00:30 in Paris on 10 March is 23:30 UTC on 9 March (winter time, UTC+1).
    moment = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert start_of_day(moment, paris) == datetime(2026, 3, 9, 23, 0, tzinfo=UTC)
    assert start_of_day(moment, ZoneInfo("UTC")) == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)


def _zone_away_from_midnight(now: datetime) -> str:
    """A time zone where it is not close to midnight, so 'an hour ago' is still today."""
    for name in ("UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata"):
        if 2 <= now.astimezone(ZoneInfo(name)).hour <= 21:
            return name
    raise AssertionError("no zone found")


async def test_live_queue_figures(client: httpx.AsyncClient, tenants: TenantFactory,
                                  services: Services) -> None:
    world = await tenants.create()
    now = datetime.now(UTC)
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        tenant = (await session.scalars(select(Tenant).where(Tenant.id == world.tenant.id))).one()
        tenant.timezone = _zone_away_from_midnight(now)
        sales = RoutingQueue(tenant_id=world.tenant.id, name="Sales", sla_threshold_seconds=20,
                             sla_target=0.8, accept_timeout_seconds=60)
        other = RoutingQueue(tenant_id=world.tenant.id, name="Other")
        session.add_all([sales, other])
        await session.flush()

        def stored(created: float, answered: float | None, ended: float | None, *,
                   queue: RoutingQueue = sales, status: str = "completed") -> Contact:
            base = now - timedelta(seconds=created)
            return Contact(
                tenant_id=world.tenant.id, channel="chat", status=status, queue_id=queue.id,
                created_at=base,
                answered_at=None if answered is None else base + timedelta(seconds=answered),
                ended_at=None if ended is None else base + timedelta(seconds=ended))

        session.add_all([
            stored(3000, 5, 600),  # answered within 20 s
            stored(2500, 45, 900),  # answered late
            stored(2000, None, 30, status="abandoned"),
            stored(1500, 12, 300, queue=other),  # another queue
            stored(2 * 86400, 1, 60),  # two days ago: not today
        ])
    agent = await tenants.add_user(world, name="Ann")
    await serve(services, world, agent, sales)
    admin_h = await bearer(client, world)
    agent_h = await bearer(client, world, agent.email)

    # A contact waiting now: Ann is away, so it stays in the queue.
    waiting = await client.post(f"{API}/contacts", headers=admin_h,
                                json={"channel": "chat", "queue_id": str(sales.id)})
    assert waiting.status_code == 201, waiting.text

    response = await client.get(f"{API}/reporting/queues/live", headers=admin_h)
    assert response.status_code == 200, response.text
    figures = {q["name"]: q for q in response.json()}
    s = figures["Sales"]
    assert s["waiting"] == 1 and s["longest_wait_seconds"] is not None
    assert s["agents_available"] == 0
    # The contact waiting now has not reached the threshold: not counted yet.
    assert (s["offered_today"], s["answered_today"], s["answered_within_today"],
            s["abandoned_today"]) == (3, 2, 1, 1)
    assert abs(s["service_level_today"] - 1 / 3) < 1e-9
    assert s["sla_target"] == 0.8 and s["sla_threshold_seconds"] == 20
    o = figures["Other"]
    assert (o["waiting"], o["offered_today"], o["service_level_today"]) == (0, 1, 1.0)

    # Ann becomes available and accepts: nobody waits any more, she is busy.
    await client.put(f"{API}/me/presence", headers=agent_h, json={"presence": "available"})
    contact_id = waiting.json()["id"]
    await until(lambda: _is(client, admin_h, contact_id, "offered"))
    assert (await client.post(f"{API}/contacts/{contact_id}/accept",
                              headers=agent_h)).status_code == 200

    async def answered() -> dict[str, object] | None:
        rows = (await client.get(f"{API}/reporting/queues/live", headers=admin_h)).json()
        sales_now: dict[str, object] = next(q for q in rows if q["name"] == "Sales")
        # The answer is recorded in the contacts table within a moment of happening.
        return sales_now if sales_now["answered_today"] == 3 else None

    after = await until(answered)
    assert after["waiting"] == 0 and after["offered_today"] == 4

    # Agents do not see the supervisors' figures; another tenant sees its own (none).
    assert (await client.get(f"{API}/reporting/queues/live", headers=agent_h)).status_code == 403
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR)
    sup_h = await bearer(client, world, supervisor.email)
    assert (await client.get(f"{API}/reporting/queues/live", headers=sup_h)).status_code == 200
    other_h = await bearer(client, await tenants.create())
    assert (await client.get(f"{API}/reporting/queues/live", headers=other_h)).json() == []
