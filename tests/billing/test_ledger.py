"""The usage ledger: one row per billable event, whatever happens to the event on its way
(transfers, a routing log recorded twice, a voice leg reported again)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import select

from plateaux.billing.metering import InvalidVoiceLeg, meter_finished_contacts, record_voice_leg
from plateaux.billing.meters import Meter
from plateaux.billing.models import UsageRecord
from plateaux.platform.services import Services
from tests.routing.test_live_routing import make_queue, serve
from tests.support.database import TestDatabase
from tests.support.factories import TenantFactory, TenantWorld, bearer
from tests.support.waiting import until

API = "/api/v1"


async def ledger_of(services: Services, world: TenantWorld) -> list[UsageRecord]:
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        return list((await session.scalars(select(UsageRecord).where(
            UsageRecord.tenant_id == world.tenant.id))).all())


async def _offered_to(client: httpx.AsyncClient, h: dict[str, str], contact_id: str,
                      agent_id: uuid.UUID) -> bool:
    found = (await client.get(f"{API}/contacts/{contact_id}", headers=h)).json()
    return bool(found["status"] == "offered")


async def test_a_contact_transferred_three_times_is_billed_once(
        client: httpx.AsyncClient, tenants: TenantFactory, services: Services) -> None:
    world = await tenants.create()
    sales, support = (await make_queue(services, world, "Sales"),
                      await make_queue(services, world, "Support"))
    ann, bob = await tenants.add_user(world, name="Ann"), await tenants.add_user(world, name="Bob")
    await serve(services, world, ann, sales)
    await serve(services, world, bob, support)
    admin = await bearer(client, world)
    agents = {ann.id: await bearer(client, world, ann.email),
              bob.id: await bearer(client, world, bob.email)}
    for h in agents.values():
        await client.put(f"{API}/me/presence", headers=h, json={"presence": "available"})

    abandoned = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "chat", "queue_id": str(support.id)})).json()["id"]
    # Bob is offered it first; the visitor leaves before anyone answers: not billed.
    await until(lambda: _offered_to(client, admin, abandoned, bob.id))
    cancelled = await client.post(f"{API}/contacts/{abandoned}/cancel", headers=admin,
                                  json={"reason": "abandoned"})
    assert cancelled.status_code == 200, cancelled.text

    contact_id = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "chat", "queue_id": str(sales.id)})).json()["id"]
    route = [(ann.id, support), (bob.id, sales), (ann.id, support), (bob.id, None)]
    for agent_id, onwards in route:
        await until(lambda a=agent_id: _offered_to(client, admin, contact_id, a))
        h = agents[agent_id]
        accepted = await client.post(f"{API}/contacts/{contact_id}/accept", headers=h)
        assert accepted.status_code == 200, accepted.text
        if onwards is None:
            done = await client.post(f"{API}/contacts/{contact_id}/complete", headers=h)
            assert done.status_code == 200, done.text
        else:
            moved = await client.post(f"{API}/contacts/{contact_id}/transfer", headers=h,
                                      json={"queue_id": str(onwards.id)})
            assert moved.status_code == 200, moved.text

    async def billed() -> list[UsageRecord] | None:
        rows = await ledger_of(services, world)
        return rows or None

    rows = await until(billed, what="the contact's ledger row")
    assert len(rows) == 1
    row = rows[0]
    assert row.key == f"contact:{contact_id}" and row.meter == Meter.CHAT.value
    assert row.quantity == 1 and row.details["transfers"] == 3
    # Recording the end again (a steward that stopped before saving its place) adds nothing.
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        again = await meter_finished_contacts(
            session, world.tenant.id, [uuid.UUID(contact_id), uuid.UUID(abandoned)])
    assert again == 0
    assert len(await ledger_of(services, world)) == 1


async def test_voice_legs_are_billed_per_leg_by_the_started_minute(
        tenants: TenantFactory, services: Services) -> None:
    world = await tenants.create()
    ended = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    contact = uuid.uuid4()
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        legs = [("sip-a", "inbound", 61), ("sip-b", "outbound", 60), ("rtc-c", "browser", 0),
                ("sip-a", "inbound", 61)]  # the first leg reported again
        added = [await record_voice_leg(session, world.tenant.id, leg_id=leg, direction=d,
                                        seconds=s, ended_at=ended, contact_id=contact)
                 for leg, d, s in legs]
        for bad in ({"leg_id": "", "direction": "inbound", "seconds": 1},
                    {"leg_id": "x", "direction": "sideways", "seconds": 1},
                    {"leg_id": "x", "direction": "inbound", "seconds": -1}):
            with pytest.raises(InvalidVoiceLeg):
                await record_voice_leg(session, world.tenant.id, ended_at=ended, **bad)  # type: ignore[arg-type]
    assert added == [True, True, True, False]
    rows = {row.key: row for row in await ledger_of(services, world)}
    assert {k: (r.meter, r.quantity, r.seconds) for k, r in rows.items()} == {
        "voice:sip-a": (Meter.VOICE_INBOUND.value, 2, 61),
        "voice:sip-b": (Meter.VOICE_OUTBOUND.value, 1, 60),
        "voice:rtc-c": (Meter.VOICE_BROWSER.value, 0, 0),
    }


@pytest.mark.postgres_only
async def test_the_ledger_is_append_only(tenants: TenantFactory, services: Services,
                                         test_database: TestDatabase) -> None:
    world = await tenants.create()
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        await record_voice_leg(session, world.tenant.id, leg_id="leg-1", direction="inbound",
                               seconds=30, ended_at=datetime.now(UTC))
    for statement in ("UPDATE usage_records SET quantity = 0",
                      "DELETE FROM usage_records"):
        with pytest.raises(Exception, match="append-only"):
            async with services.unit_of_work(tenant_id=world.tenant.id) as session:
                await session.execute(text(statement))
    # Deleting the tenant still takes its ledger with it.
    test_database.superuser_sql(f"DELETE FROM tenants WHERE id = '{world.tenant.id}'")
    assert test_database.superuser_sql(
        f"SELECT count(*) FROM usage_records WHERE tenant_id = '{world.tenant.id}'") == "0"
