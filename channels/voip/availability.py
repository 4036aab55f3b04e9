"""Whether a site's call button should show: someone who takes calls could answer now.

Read from the tenant's live router, like the chat's availability: the queues the site's
call button reaches, whether one is open, and whether an available agent serving them has
room for a call (their capacity and call policy). Best effort: when the routing state
cannot be read, the button shows and routing decides.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.embed import service as embed
from plateaux.embed.models import Widget
from plateaux.platform.services import Services
from plateaux.routing.capacity import has_room, routable
from plateaux.routing.config import workflow_queue_ids
from plateaux.routing.models import RoutingWorkflow
from plateaux.routing.state import Channel

logger = logging.getLogger(__name__)


async def voice_availability(session: AsyncSession, services: Services,
                             widget: Widget) -> tuple[bool, bool]:
    """(an agent could take a call now, the service is open)."""
    if services.routing is None:
        return False, True
    try:
        router = await services.routing.router(widget.tenant_id)
        snapshot = router.snapshot
        target = embed.button_target(widget, "call") or embed.chat_target(widget)
        known = set(snapshot.queues)
        queues = known
        if "queue_id" in target:
            queues = {target["queue_id"]} & known
        elif "workflow_id" in target:
            workflow = await session.get(RoutingWorkflow, uuid.UUID(target["workflow_id"]))
            if workflow is not None and workflow.tenant_id == widget.tenant_id:
                queues = workflow_queue_ids(workflow.definition) & known
        if not queues:
            return False, True
        is_open = any(snapshot.queues[q].open for q in queues)
        available = any(
            routable(snapshot.agents[a]) and has_room(snapshot.agents[a], Channel.WEBCALL)
            for q in queues for a in snapshot.members(q) if a in snapshot.agents)
        return available, is_open
    except Exception:
        logger.exception("voice availability of widget %s could not be read", widget.id)
        return True, True
