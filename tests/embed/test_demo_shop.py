"""The demo tenant comes with a website widget, and the sample shop page embeds its
snippet (what `make run` shows beside the consoles)."""

from __future__ import annotations

import re

import httpx
from sqlmodel import select

from plateaux.embed.models import Widget
from plateaux.platform.demo import seed_demo
from plateaux.platform.services import Services
from plateaux.platform.settings import Settings
from plateaux.tenants import repository


async def test_the_demo_shop_embeds_the_demo_widget(client: httpx.AsyncClient,
                                                   services: Services,
                                                   settings: Settings) -> None:
    await seed_demo(settings)
    await seed_demo(settings)  # idempotent: still one widget
    async with services.unit_of_work() as session:
        tenant = await repository.get_tenant_by_slug(session, "demo")
    assert tenant is not None
    async with services.unit_of_work(tenant_id=tenant.id) as session:
        widgets = (await session.scalars(select(Widget).where(
            Widget.tenant_id == tenant.id))).all()
    assert len(widgets) == 1
    widget = widgets[0]
    assert widget.buttons["chat"]["enabled"] and widget.buttons["chat"]["workflow_id"]

    page = await client.get("/demo/shop")
    assert page.status_code == 200
    script = re.search(r'<script async src="([^"]+)" data-site="([^"]+)"></script>', page.text)
    assert script is not None
    assert script.group(1) == f"{settings.base_url}/embed/v1/loader.js"
    assert script.group(2) == widget.public_key
    assert (await client.get(script.group(1).removeprefix(settings.base_url))).status_code == 200
