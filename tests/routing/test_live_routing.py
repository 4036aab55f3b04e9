"""The live routing service through the API: a contact is stored, offered, accepted,
transferred (still one contact) and completed, and every state change is recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from plateaux.platform.services import Services
from plateaux.routing.models import AgentProfile, RoutingQueue
from plateaux.routing.records import decode_contact
from plateaux.tenants.models import Role, User
from tests.support.factories import TenantFactory, TenantWorld, bearer
from tests.support.waiting import until

API = "/api/v1"


async def make_queue(services: Services, world: TenantWorld, name: str) -> RoutingQueue:
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        queue = RoutingQueue(tenant_id=world.tenant.id, name=name, accept_timeout_seconds=60)
        session.add(queue)
    return queue


async def serve(services: Services, world: TenantWorld, user: User, *queues: RoutingQueue) -> None:
    """The agent serves these queues and has a console open (an agent without one has
    their offers taken back at once)."""
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        session.add(AgentProfile(tenant_id=world.tenant.id, user_id=user.id,
                                 queues={str(q.id): {"priority": 1, "delay": 0} for q in queues}))
    assert services.routing is not None
    # What saving a routing profile through the API announces to the routers.
    await services.routing.refresh_agents(world.tenant.id, [user.id])
    await services.routing.connection_opened(world.tenant.id, user.id, f"console-{user.id}")


async def one_agent_line(client: httpx.AsyncClient, tenants: TenantFactory,
                         services: Services) -> tuple[RoutingQueue, User, dict[str, str],
                                                      dict[str, str]]:
    """A tenant with one queue and Ann serving it, available: the queue, Ann, and the
    admin's and Ann's headers."""
    world = await tenants.create()
    line = await make_queue(services, world, "Line")
    ann = await tenants.add_user(world, name="Ann")
    await serve(services, world, ann, line)
    admin = await bearer(client, world)
    ann_h = await bearer(client, world, ann.email)
    await client.put(f"{API}/me/presence", headers=ann_h, json={"presence": "available"})
    return line, ann, admin, ann_h


async def status_of(client: httpx.AsyncClient, h: dict[str, str], contact_id: str) -> str:
    response = await client.get(f"{API}/contacts/{contact_id}", headers=h)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def test_a_contact_is_offered_accepted_transferred_and_completed(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    sales = await make_queue(services, world, "Sales")
    support = await make_queue(services, world, "Support")
    ann = await tenants.add_user(world, name="Ann")
    bob = await tenants.add_user(world, name="Bob")
    await serve(services, world, ann, sales)
    await serve(services, world, bob, support)
    admin = await bearer(client, world)
    ann_h = await bearer(client, world, ann.email)
    bob_h = await bearer(client, world, bob.email)

    response = await client.put(f"{API}/me/presence", headers=ann_h,
                                json={"presence": "available"})
    assert response.status_code == 200, response.text
    assert response.json()["presence"] == "available"

    created = await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "chat", "queue_id": str(sales.id), "attributes": {"language": "fr"},
        "customer_key": "visitor-1"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    await until(lambda: _is(client, admin, contact_id, "offered"))

    # Bob is not offered it: he cannot accept.
    refused = await client.post(f"{API}/contacts/{contact_id}/accept", headers=bob_h)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    accepted = await client.post(f"{API}/contacts/{contact_id}/accept", headers=ann_h)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "assigned"
    assert accepted.json()["agent_id"] == str(ann.id)

    # Transferred to the support queue, where Bob becomes available: the same contact.
    moved = await client.post(f"{API}/contacts/{contact_id}/transfer", headers=ann_h,
                              json={"queue_id": str(support.id)})
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "queued"
    await client.put(f"{API}/me/presence", headers=bob_h, json={"presence": "available"})
    await until(lambda: _is(client, admin, contact_id, "offered"))
    taken = await client.post(f"{API}/contacts/{contact_id}/accept", headers=bob_h)
    assert taken.status_code == 200, taken.text
    done = await client.post(f"{API}/contacts/{contact_id}/complete", headers=bob_h)
    assert done.status_code == 200, done.text

    async def history() -> list[dict[str, Any]] | None:
        events = (await client.get(f"{API}/contacts/{contact_id}/events", headers=admin)).json()
        return events if events and events[-1]["kind"] == "completed" else None

    events = await until(history)
    assert [e["kind"] for e in events] == [
        "queued", "offered", "assigned", "transferred", "offered", "assigned", "completed"]
    stored = (await client.get(f"{API}/contacts/{contact_id}", headers=admin)).json()
    assert stored["status"] == "completed" and stored["transfers"] == 1
    assert stored["agent_id"] == str(bob.id) and stored["ended_at"] is not None

    presence = (await client.get(f"{API}/presence", headers=admin)).json()
    states = {p["agent_id"]: p for p in presence}
    assert states[str(ann.id)]["presence"] == "available"
    assert states[str(bob.id)]["load"] == {}


async def _is(client: httpx.AsyncClient, h: dict[str, str], contact_id: str,
              status: str) -> bool:
    return await status_of(client, h, contact_id) == status


async def test_decline_requeues_and_a_waiting_contact_knows_its_position(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    queue, _, admin, ann_h = await one_agent_line(client, tenants, services)
    first = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "phone", "queue_id": str(queue.id)})).json()["id"]
    await until(lambda: _is(client, admin, first, "offered"))
    second = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "phone", "queue_id": str(queue.id)})).json()["id"]
    waiting = (await client.get(f"{API}/contacts/{second}", headers=admin)).json()
    assert waiting["status"] == "queued" and waiting["position"] == 1

    declined = await client.post(f"{API}/contacts/{first}/decline", headers=ann_h)
    assert declined.status_code == 200, declined.text
    # Declined, the first contact waits again ahead of the second (its age is kept).
    first_now = (await client.get(f"{API}/contacts/{first}", headers=admin)).json()
    assert first_now["status"] == "queued" and first_now["position"] == 1
    await client.post(f"{API}/contacts/{first}/cancel", headers=admin,
                      json={"reason": "abandoned"})
    await client.post(f"{API}/contacts/{second}/cancel", headers=admin,
                      json={"reason": "abandoned"})


async def test_bad_requests_are_problems_and_other_tenants_ids_are_refused(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    other = await tenants.create()
    foreign = await make_queue(services, other, "Theirs")
    admin = await bearer(client, world)
    for body in [{"channel": "chat"}, {"channel": "fax", "queue_id": str(foreign.id)},
                 {"channel": "chat", "queue_id": str(foreign.id)},
                 {"channel": "chat", "queue_id": str(uuid.uuid4()), "priority": 1000}]:
        response = await client.post(f"{API}/contacts", headers=admin, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    agent = await tenants.add_user(world, role=Role.AGENT)
    agent_h = await bearer(client, world, agent.email)
    away = await client.put(f"{API}/me/presence", headers=agent_h,
                            json={"presence": "away", "reason": "nap"})
    assert away.status_code == 422
    ok = await client.put(f"{API}/me/presence", headers=agent_h,
                          json={"presence": "away", "reason": "lunch"})
    assert ok.status_code == 200 and ok.json()["reason"] == "lunch"
    # Agents cannot create contacts or read the supervisors' board.
    assert (await client.post(f"{API}/contacts", headers=agent_h,
                              json={"channel": "chat"})).status_code == 403
    assert (await client.get(f"{API}/presence", headers=agent_h)).status_code == 403


async def test_a_contact_transferred_with_a_pause_is_offered_to_nobody_before_its_time(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    """What a callback does between two attempts: the same contact back in its queue, held
    back until a time (kept in the shared state, so any process honours it), then offered."""
    queue, _, admin, ann_h = await one_agent_line(client, tenants, services)
    contact_id = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "callback", "queue_id": str(queue.id)})).json()["id"]
    await until(lambda: _is(client, admin, contact_id, "offered"))
    assert (await client.post(f"{API}/contacts/{contact_id}/accept",
                              headers=ann_h)).status_code == 200

    routing = services.routing
    assert routing is not None
    held_until = datetime.now(UTC) + timedelta(seconds=2)
    await routing.transfer(queue.tenant_id, uuid.UUID(contact_id), by_agent=None,
                           not_before=held_until)
    router = await routing.router(queue.tenant_id)
    stored = await router.store.fetch(router.tenant, [f"c:{contact_id}"])
    assert decode_contact(stored[f"c:{contact_id}"][1])[0].not_before == \
        held_until.timestamp()
    # Ann is free and serves the queue, yet nothing is offered before the time.
    assert await status_of(client, admin, contact_id) == "queued"
    await until(lambda: _is(client, admin, contact_id, "offered"), timeout=15)
    assert datetime.now(UTC) >= held_until
    await client.post(f"{API}/contacts/{contact_id}/cancel", headers=admin,
                      json={"reason": "abandoned"})
