"""Events leave the process only after the data they announce is committed."""

from __future__ import annotations

import httpx
import pytest

from plateaux.platform.publish import publish
from plateaux.platform.services import Services
from tests.support.factories import TenantFactory, bearer


async def test_a_committed_change_is_published_to_its_tenant_only(
    client: httpx.AsyncClient, services: Services, tenants: TenantFactory
) -> None:
    a = await tenants.create()
    b = await tenants.create()
    headers = await bearer(client, a)
    async with (
        services.bus.subscribe(a.tenant.id, ["tenant"]) as sub_a,
        services.bus.subscribe(b.tenant.id, ["tenant"]) as sub_b,
    ):
        created = await client.post(
            "/api/v1/users", headers=headers, json={"email": "new@example.com", "name": "New"}
        )
        assert created.status_code == 201
        event = await sub_a.get(timeout=5)
        assert event is not None and event.type == "user.created"
        assert event.payload["id"] == created.json()["id"]
        assert await sub_b.get(timeout=0.3) is None


async def test_a_rolled_back_change_publishes_nothing(
    services: Services, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    async with services.bus.subscribe(world.tenant.id, ["tenant"]) as sub:
        with pytest.raises(RuntimeError):
            async with services.unit_of_work(tenant_id=world.tenant.id) as session:
                publish(session, world.tenant.id, "probe", {"n": 1})
                # Nothing is out yet, even before the failure.
                assert await sub.get(timeout=0.2) is None
                raise RuntimeError("boom")
        assert await sub.get(timeout=0.3) is None
        async with services.unit_of_work(tenant_id=world.tenant.id) as session:
            publish(session, world.tenant.id, "probe", {"n": 2})
        event = await sub.get(timeout=5)
        assert event is not None and event.payload == {"n": 2}
