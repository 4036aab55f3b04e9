"""Overflow through the live router and the API: a closed queue (business hours, a
holiday), an estimated wait over the workflow's limit, and the visitor's view of the
wait (position and an estimate from the observed answer rate)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from plateaux.platform.services import Services
from plateaux.routing.models import RoutingQueue, RoutingWorkflow
from plateaux.tenants.models import Holiday
from tests.routing.test_live_routing import API, make_queue, one_agent_line, serve
from tests.support.factories import TenantFactory, TenantWorld, bearer
from tests.support.waiting import until


async def make_workflow(services: Services, world: TenantWorld, queue: RoutingQueue, *,
                        overflow: dict[str, Any], max_wait: float | None = None,
                        ) -> RoutingWorkflow:
    definition: dict[str, Any] = {
        "filters": [], "default_steps": [{"queue_id": str(queue.id)}], "overflow": overflow}
    if max_wait is not None:
        definition["max_estimated_wait"] = max_wait
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        workflow = RoutingWorkflow(tenant_id=world.tenant.id, name=f"wf-{uuid.uuid4().hex[:6]}",
                                   definition=definition)
        session.add(workflow)
    return workflow


async def close_today(services: Services, world: TenantWorld) -> None:
    """A holiday today, in the tenant's time zone: every queue following the hours is shut."""
    today = datetime.now(ZoneInfo(world.tenant.timezone)).date()
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        session.add(Holiday(tenant_id=world.tenant.id, day=today, name="Closed for the test"))


async def finished(client: httpx.AsyncClient, h: dict[str, str],
                   contact_id: str) -> dict[str, Any] | None:
    found = (await client.get(f"{API}/contacts/{contact_id}", headers=h)).json()
    return found if found["ended_at"] is not None else None


async def events_of(client: httpx.AsyncClient, h: dict[str, str], contact_id: str,
                    last: str) -> list[dict[str, Any]]:
    async def recorded() -> list[dict[str, Any]] | None:
        events: list[dict[str, Any]] = (
            await client.get(f"{API}/contacts/{contact_id}/events", headers=h)).json()
        return events if events and events[-1]["kind"] == last else None

    found: list[dict[str, Any]] = await until(recorded)
    return found


async def test_outside_business_hours_the_overflow_offers_a_callback(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    support = await make_queue(services, world, "Support")
    ann = await tenants.add_user(world, name="Ann")
    await serve(services, world, ann, support)
    workflow = await make_workflow(services, world, support,
                                   overflow={"action": "offer_callback"})
    await close_today(services, world)
    admin = await bearer(client, world)
    ann_h = await bearer(client, world, ann.email)
    # Even with an agent available, a closed queue takes no new contact.
    await client.put(f"{API}/me/presence", headers=ann_h, json={"presence": "available"})

    created = await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "chat", "workflow_id": str(workflow.id)})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    ended = await until(lambda: finished(client, admin, contact_id))
    assert ended["outcome"] == "offer_callback"
    assert ended["agent_id"] is None

    events = await events_of(client, admin, contact_id, "overflowed")
    assert [e["kind"] for e in events] == ["queued", "overflowed"]
    assert events[-1]["details"]["reason"] == "closed"
    assert events[-1]["details"]["action"] == "offer_callback"


async def test_a_queue_that_ignores_business_hours_stays_open_on_a_holiday(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        hotline = RoutingQueue(tenant_id=world.tenant.id, name="Hotline",
                               follow_business_hours=False, accept_timeout_seconds=60)
        session.add(hotline)
    ann = await tenants.add_user(world, name="Ann")
    await serve(services, world, ann, hotline)
    workflow = await make_workflow(services, world, hotline,
                                   overflow={"action": "take_message"})
    await close_today(services, world)
    admin = await bearer(client, world)
    ann_h = await bearer(client, world, ann.email)
    await client.put(f"{API}/me/presence", headers=ann_h, json={"presence": "available"})

    contact_id = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "phone", "workflow_id": str(workflow.id)})).json()["id"]

    async def offered() -> bool:
        found = (await client.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
        return bool(found["status"] == "offered")

    await until(offered)
    accepted = await client.post(f"{API}/contacts/{contact_id}/accept", headers=ann_h)
    assert accepted.status_code == 200, accepted.text
    await client.post(f"{API}/contacts/{contact_id}/complete", headers=ann_h)


async def test_a_wait_over_the_limit_overflows_to_another_queue(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    main = await make_queue(services, world, "Main")
    backup = await make_queue(services, world, "Backup")
    ann = await tenants.add_user(world, name="Ann")
    # Ann serves only the backup queue: nobody serves the main one, so its wait is endless.
    await serve(services, world, ann, backup)
    workflow = await make_workflow(
        services, world, main, max_wait=120,
        overflow={"action": "transfer_queue", "queue_id": str(backup.id)})
    admin = await bearer(client, world)
    ann_h = await bearer(client, world, ann.email)
    await client.put(f"{API}/me/presence", headers=ann_h, json={"presence": "available"})

    contact_id = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "email", "workflow_id": str(workflow.id)})).json()["id"]

    async def offered_in_backup() -> dict[str, Any] | None:
        found: dict[str, Any] = (
            await client.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
        return found if found["status"] == "offered" else None

    offered = await until(offered_in_backup)
    assert offered["queue_id"] == str(backup.id)
    accepted = await client.post(f"{API}/contacts/{contact_id}/accept", headers=ann_h)
    assert accepted.status_code == 200, accepted.text
    await client.post(f"{API}/contacts/{contact_id}/complete", headers=ann_h)
    events = await events_of(client, admin, contact_id, "completed")
    assert [e["kind"] for e in events] == [
        "queued", "overflowed", "offered", "assigned", "completed"]
    overflowed = events[1]
    assert overflowed["status"] == "queued" and overflowed["queue_id"] == str(backup.id)
    assert overflowed["details"]["action"] == "transfer_queue"
    assert overflowed["details"]["reason"] == "wait_too_long"


async def test_waiting_contacts_see_their_position_and_a_measured_wait(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    line, _, admin, ann_h = await one_agent_line(client, tenants, services)

    async def serve_one(contact_id: str) -> None:
        async def offered() -> bool:
            found = (await client.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
            return bool(found["status"] == "offered")

        await until(offered)
        assert (await client.post(f"{API}/contacts/{contact_id}/accept",
                                  headers=ann_h)).status_code == 200

    first = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "phone", "queue_id": str(line.id)})).json()["id"]
    await serve_one(first)
    waiting = [(await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "phone", "queue_id": str(line.id)})).json()["id"] for _ in range(3)]
    views = [(await client.get(f"{API}/contacts/{c}", headers=admin)).json() for c in waiting]
    assert [v["position"] for v in views] == [1, 2, 3]
    # Nothing completed yet: the pace is unknown, and no wait is made up.
    assert [v["estimated_wait_seconds"] for v in views] == [None, None, None]

    # Completing the first lets the next one in; the queue's pace is now observed.
    assert (await client.post(f"{API}/contacts/{first}/complete",
                              headers=ann_h)).status_code == 200
    await serve_one(waiting[0])

    async def estimated() -> list[dict[str, Any]] | None:
        found = [(await client.get(f"{API}/contacts/{c}", headers=admin)).json()
                 for c in waiting[1:]]
        return found if all(v["estimated_wait_seconds"] for v in found) else None

    later = await until(estimated)
    assert [v["position"] for v in later] == [1, 2]
    # One completion seen: the second in line waits about twice as long as the first.
    first_wait, second_wait = (v["estimated_wait_seconds"] for v in later)
    assert second_wait == pytest.approx(2 * first_wait, rel=0.2)
    for contact_id in waiting[1:]:
        await client.post(f"{API}/contacts/{contact_id}/cancel", headers=admin,
                          json={"reason": "abandoned"})
    await client.post(f"{API}/contacts/{waiting[0]}/complete", headers=ann_h)


async def test_a_skill_raised_by_the_admin_reaches_the_live_router(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    line, ann, admin, ann_h = await one_agent_line(client, tenants, services)
    german = (await client.post(f"{API}/skills", headers=admin,
                                json={"name": "German"})).json()["id"]
    contact_id = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "chat", "queue_id": str(line.id),
        "required_skills": {german: 4}})).json()["id"]
    waiting = (await client.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
    assert waiting["status"] == "queued"

    raised = await client.put(f"{API}/users/{ann.id}/skills", headers=admin,
                              json={"skills": [{"skill_id": german, "level": 5}]})
    assert raised.status_code == 200, raised.text

    async def offered() -> bool:
        found = (await client.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
        return bool(found["status"] == "offered" and found["agent_id"] is None)

    await until(offered)
    assert (await client.post(f"{API}/contacts/{contact_id}/accept",
                              headers=ann_h)).status_code == 200
    await client.post(f"{API}/contacts/{contact_id}/complete", headers=ann_h)


async def test_an_offer_taken_away_leaves_the_agents_console(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    line, ann, admin, _ = await one_agent_line(client, tenants, services)
    async with services.bus.subscribe(ann.tenant_id, [f"user:{ann.id}"]) as events:
        contact_id = (await client.post(f"{API}/contacts", headers=admin, json={
            "channel": "phone", "queue_id": str(line.id)})).json()["id"]

        async def next_of(kind: str) -> dict[str, Any]:
            async for event in events:
                if event.type == kind:
                    return dict(event.payload)
            raise AssertionError("the subscription ended")

        offer = await asyncio.wait_for(next_of("routing.offer"), 10)
        assert offer["contact_id"] == contact_id
        # The caller hangs up while it rings: the offer is withdrawn from Ann's console.
        await client.post(f"{API}/contacts/{contact_id}/cancel", headers=admin,
                          json={"reason": "abandoned"})
        withdrawn = await asyncio.wait_for(next_of("routing.offer.withdrawn"), 10)
    assert withdrawn["contact_id"] == contact_id and withdrawn["kind"] == "abandoned"
