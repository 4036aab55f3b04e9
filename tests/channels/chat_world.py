"""A tenant ready to chat: a queue, a site whose chat button feeds it, a visitor, and
agents who serve the queue; built through the real services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx

from plateaux.embed import service as embed
from plateaux.embed.keys import new_public_key, new_widget_secret
from plateaux.embed.models import Visitor, Widget
from plateaux.platform.security import encrypt_secret
from plateaux.platform.services import Services
from plateaux.routing.models import RoutingQueue
from plateaux.tenants.models import User
from tests.routing.test_live_routing import make_queue, serve
from tests.support.factories import TenantFactory, TenantWorld, bearer
from tests.support.waiting import until

API = "/api/v1"


@dataclass
class ChatWorld:
    world: TenantWorld
    queue: RoutingQueue
    widget: Widget
    visitor: Visitor
    visitor_token: str
    agent: User
    admin_headers: dict[str, str] = field(default_factory=dict)
    agent_headers: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.widget.public_key

    @property
    def visitor_headers(self) -> dict[str, str]:
        return {"X-Visitor-Token": self.visitor_token}

    def site(self, path: str = "") -> str:
        return f"/embed/v1/sites/{self.key}{path}"


async def add_widget(services: Services, world: TenantWorld, queue: RoutingQueue) -> Widget:
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        widget = Widget(
            tenant_id=world.tenant.id, name="Shop", public_key=new_public_key(world.tenant.id),
            secret_encrypted=encrypt_secret(services.settings.secret_key, new_widget_secret()),
            allowed_domains=["shop.example.com"], languages=["en", "fr"],
            buttons={"chat": {"enabled": True, "queue_id": str(queue.id)},
                     "email": {"enabled": True, "queue_id": str(queue.id)}})
        session.add(widget)
    return widget


async def add_visitor(services: Services, widget: Widget, *,
                      url: str = "https://shop.example.com/pricing") -> tuple[Visitor, str]:
    async with services.unit_of_work(tenant_id=widget.tenant_id) as session:
        visitor, token = await embed.open_visitor(
            session, widget, secret_key=services.settings.secret_key, visitor_token=None,
            identity_token=None, language="en",
            page=embed.Page(url=url, title="Pricing"))
    return visitor, token


async def chat_world(services: Services, tenants: TenantFactory,
                     client: httpx.AsyncClient | None = None) -> ChatWorld:
    world = await tenants.create()
    queue = await make_queue(services, world, f"Chat {uuid.uuid4().hex[:6]}")
    widget = await add_widget(services, world, queue)
    visitor, token = await add_visitor(services, widget)
    agent = await tenants.add_user(world, name="Ann Agent")
    found = ChatWorld(world=world, queue=queue, widget=widget, visitor=visitor,
                      visitor_token=token, agent=agent)
    if client is not None:
        found.admin_headers = await bearer(client, world)
        found.agent_headers = await bearer(client, world, agent.email)
    return found


async def assigned_conversation(services: Services, client: httpx.AsyncClient,
                                chat: ChatWorld, *, text: str = "Hello") -> dict[str, str]:
    """A conversation the visitor started and the world's agent accepted (in-process)."""
    await serve(services, chat.world, chat.agent, chat.queue)
    response = await client.put(f"{API}/me/presence", headers=chat.agent_headers,
                                json={"presence": "available"})
    assert response.status_code == 200, response.text
    created = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": text})
    assert created.status_code == 201, created.text
    conversation_id = created.json()["conversation_id"]
    detail = await client.get(f"{API}/conversations/{conversation_id}",
                              headers=chat.admin_headers)
    assert detail.status_code == 200, detail.text
    contact_id = detail.json()["contact"]["id"]

    async def accepted() -> bool:
        answer = await client.post(f"{API}/contacts/{contact_id}/accept",
                                   headers=chat.agent_headers)
        return answer.status_code == 200

    await until(accepted)
    return {"conversation_id": conversation_id, "contact_id": contact_id}
