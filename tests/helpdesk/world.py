"""A tenant ready for the help desk: the chat world (queue, site, visitor, an agent who
serves the queue), a supervisor, and their API headers."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from plateaux.platform.services import Services
from plateaux.tenants.models import Role, User
from tests.channels.chat_world import ChatWorld, chat_world
from tests.support.factories import TenantFactory, bearer

API = "/api/v1"
DESK = "/api/v1/helpdesk"


@dataclass
class Desk:
    chat: ChatWorld
    supervisor: User
    supervisor_headers: dict[str, str]

    @property
    def admin(self) -> dict[str, str]:
        return self.chat.admin_headers

    @property
    def agent(self) -> dict[str, str]:
        return self.chat.agent_headers

    @property
    def tenant_id(self):  # type: ignore[no-untyped-def]
        return self.chat.world.tenant.id


async def desk_world(services: Services, tenants: TenantFactory,
                     client: httpx.AsyncClient) -> Desk:
    chat = await chat_world(services, tenants, client)
    supervisor = await tenants.add_user(chat.world, role=Role.SUPERVISOR, name="Sue Supervisor")
    return Desk(chat=chat, supervisor=supervisor,
                supervisor_headers=await bearer(client, chat.world, supervisor.email))


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    return body
