"""Tenants and people made through the real services, each test with its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx

from plateaux.platform.services import Services
from plateaux.tenants import service
from plateaux.tenants.models import Role, Tenant, User

PASSWORD = "correct-horse-battery"


@dataclass
class TenantWorld:
    tenant: Tenant
    admin: User
    users: dict[str, User] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return self.tenant.slug


class TenantFactory:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def create(self, *, name: str | None = None) -> TenantWorld:
        slug = f"t-{uuid.uuid4().hex[:12]}"
        async with self.services.unit_of_work() as session:
            tenant = await service.create_tenant(
                session, slug=slug, name=name or slug.upper(), actor="test"
            )
            admin = await service.create_user(
                session,
                tenant.id,
                email=f"admin-{slug}@example.com",
                name="Admin",
                role=Role.ADMIN,
                password=PASSWORD,
                actor="test",
            )
        return TenantWorld(tenant=tenant, admin=admin)

    async def add_user(
        self,
        world: TenantWorld,
        *,
        role: Role = Role.AGENT,
        email: str | None = None,
        name: str = "Someone",
    ) -> User:
        email = email or f"{role.value}-{uuid.uuid4().hex[:6]}-{world.slug}@example.com"
        async with self.services.unit_of_work(tenant_id=world.tenant.id) as session:
            user = await service.create_user(
                session,
                world.tenant.id,
                email=email,
                name=name,
                role=role,
                password=PASSWORD,
                actor="test",
            )
        world.users[email] = user
        return user


async def api_token(
    client: httpx.AsyncClient,
    world: TenantWorld,
    email: str | None = None,
    password: str = PASSWORD,
) -> str:
    response = await client.post(
        "/api/v1/auth/token",
        json={"workspace": world.slug, "email": email or world.admin.email, "password": password},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def bearer(
    client: httpx.AsyncClient, world: TenantWorld, email: str | None = None
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await api_token(client, world, email)}"}
