"""Requests that hold a database connection while a tenant's router loads must not starve
the load: the routing service has connections of its own."""

from __future__ import annotations

import asyncio

import httpx

from plateaux.platform.app import create_app
from plateaux.platform.settings import Settings
from tests.routing.test_live_routing import API, make_queue
from tests.support.factories import TenantFactory, bearer


async def test_a_cold_router_loads_while_every_request_connection_is_taken(
    settings: Settings, tenants: TenantFactory, services: object
) -> None:
    world = await tenants.create()
    queue = await make_queue(services, world, "Line")  # type: ignore[arg-type]
    # One pooled connection (and one overflow) for requests: two requests waiting for the
    # router hold both while it loads.
    small = settings.model_copy(update={"db_pool_size": 1})
    app = create_app(small)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            h = await bearer(c, world)
            created = await c.post(f"{API}/contacts", headers=h, json={
                "channel": "email", "queue_id": str(queue.id)})
            assert created.status_code == 201, created.text
            contact_id = created.json()["id"]
            # A fresh process would load the router on these reads; here it is loaded by
            # the create, so start from a cold router again.
            routing = app.state.services.routing
            routing.routers.clear()
            answers = await asyncio.wait_for(asyncio.gather(*(
                c.get(f"{API}/contacts/{contact_id}", headers=h) for _ in range(6))), 30)
    assert [a.status_code for a in answers] == [200] * 6
