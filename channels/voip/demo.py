"""The demo tenant's voice: its website's call and callback buttons (shown once voice is
configured on the platform), a number and a bilingual IVR menu to the Sales and Support
queues."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from plateaux.channels.voip.ivr import IvrDefinition
from plateaux.channels.voip.models import IvrMenu, VoiceNumber
from plateaux.embed.models import Widget
from plateaux.routing.models import RoutingQueue, RoutingWorkflow

DEMO_NUMBER = "+33184880000"


async def seed_voice(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    queues = {name: queue_id for name, queue_id in (await session.execute(
        select(RoutingQueue.name, RoutingQueue.id).where(
            RoutingQueue.tenant_id == tenant_id))).all()}
    workflow = (await session.scalars(select(RoutingWorkflow.id).where(
        RoutingWorkflow.tenant_id == tenant_id, RoutingWorkflow.name == "Website"))).first()
    widget = (await session.scalars(select(Widget).where(Widget.tenant_id == tenant_id))).first()
    if widget is not None and workflow is not None:
        buttons = dict(widget.buttons or {})
        for kind in ("call", "callback"):
            if not (buttons.get(kind) or {}).get("enabled"):
                buttons[kind] = {"enabled": True, "workflow_id": str(workflow), "queue_id": None}
        widget.buttons = buttons
        session.add(widget)
    if "Sales" not in queues or "Support" not in queues:
        return
    if (await session.scalars(select(IvrMenu.id).where(IvrMenu.tenant_id == tenant_id))
            ).first() is not None:
        return
    definition = IvrDefinition.model_validate({
        "languages": ["fr", "en"], "queue_id": str(queues["Support"]),
        "greeting": {"fr": "Bonjour, bienvenue chez Demo Company.",
                     "en": "Hello, welcome to Demo Company."},
        "menu": {"fr": "Pour une commande, tapez 1. Pour le support, tapez 2. "
                       "Pour laisser un message, tapez 3.",
                 "en": "To order, press 1. For support, press 2. To leave a message, "
                       "press 3."},
        "options": [
            {"digit": "1", "label": "Sales", "queue_id": str(queues["Sales"]),
             "attributes": {"topic": "sales"}},
            {"digit": "2", "label": "Support", "attributes": {"topic": "support"}},
            {"digit": "3", "label": "Message", "action": "voicemail"}],
        "max_wait_seconds": 300, "overflow": "callback"})
    menu = IvrMenu(tenant_id=tenant_id, name="Accueil",
                   definition=definition.model_dump(mode="json"))
    session.add(menu)
    await session.flush()
    existing = (await session.scalars(select(VoiceNumber.id).where(
        VoiceNumber.e164 == DEMO_NUMBER))).first()
    if existing is None:
        session.add(VoiceNumber(tenant_id=tenant_id, e164=DEMO_NUMBER, label="Standard",
                                ivr_id=menu.id))
    await session.flush()
