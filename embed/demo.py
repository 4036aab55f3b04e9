"""The demo tenant's website widget, and a sample shop page that embeds its snippet, so
`make run` shows what a visitor sees next to the agent console.

Seeding is idempotent: a demo tenant that already has a widget keeps it as it is.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.embed.keys import new_public_key, new_widget_secret
from plateaux.embed.models import Widget
from plateaux.platform.deps import ServicesDep
from plateaux.platform.errors import NotFound
from plateaux.platform.security import encrypt_secret
from plateaux.routing.models import RoutingQueue, RoutingWorkflow
from plateaux.tenants import repository

DEMO_WIDGET = "Demo website"
DEMO_SLUG = "demo"

router = APIRouter(include_in_schema=False)
PAGES = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                    autoescape=select_autoescape(["html"], default=True))


async def seed_widget(session: AsyncSession, tenant_id: uuid.UUID, *, secret_key: str) -> None:
    """The demo website's widget: chat through the "Website" workflow, the email form to
    Support, on the platform's own loopback addresses."""
    if (await session.scalars(select(Widget.id).where(
            Widget.tenant_id == tenant_id))).first() is not None:
        return
    workflow = (await session.scalars(select(RoutingWorkflow.id).where(
        RoutingWorkflow.tenant_id == tenant_id, RoutingWorkflow.name == "Website"))).first()
    support = (await session.scalars(select(RoutingQueue.id).where(
        RoutingQueue.tenant_id == tenant_id, RoutingQueue.name == "Support"))).first()
    chat = {"enabled": workflow is not None, "workflow_id": str(workflow) if workflow else None,
            "queue_id": None}
    email = {"enabled": support is not None, "workflow_id": None,
             "queue_id": str(support) if support else None}
    disabled = {"enabled": False, "workflow_id": None, "queue_id": None}
    session.add(Widget(
        tenant_id=tenant_id, name=DEMO_WIDGET, public_key=new_public_key(tenant_id),
        secret_encrypted=encrypt_secret(secret_key, new_widget_secret()),
        allowed_domains=["localhost", "127.0.0.1"],
        theme={"color": "#2454d6", "position": "bottom-right"},
        greeting={"fr": "Bonjour ! Une question sur votre commande ?",
                  "en": "Hello! A question about your order?"},
        languages=["fr", "en"], default_language="fr",
        buttons={"chat": chat, "email": email, "callback": disabled, "call": disabled}))
    await session.flush()


@router.get("/demo/shop", response_class=HTMLResponse)
async def demo_shop(services: ServicesDep) -> HTMLResponse:
    """A tenant's web page as a visitor sees it, with the demo widget's snippet."""
    async with services.unit_of_work() as session:
        tenant = await repository.get_tenant_by_slug(session, DEMO_SLUG)
    if tenant is None:
        raise NotFound("There is no demo tenant: run `plateaux demo`.")
    async with services.unit_of_work(tenant_id=tenant.id) as session:
        widget = (await session.scalars(select(Widget).where(
            Widget.tenant_id == tenant.id).order_by(col(Widget.created_at)))).first()
    if widget is None:
        raise NotFound("The demo tenant has no widget: run `plateaux demo`.")
    page = PAGES.get_template("demo_shop.html").render(
        loader=f"{services.settings.base_url}/embed/v1/loader.js", key=widget.public_key)
    return HTMLResponse(page)
