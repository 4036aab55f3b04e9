"""What the widget tells a visitor before they ask: is the service open, is anyone there,
and about how long would they wait.

Read from the tenant's live router (the routing state every process shares): the queues
the site's chat button can reach, whether they are open now (business hours, as the router
applies them), whether an agent serving them is available, and the estimated wait of a
contact arriving now. Best effort by nature: a visitor is never refused because the
estimate could not be made.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from plateaux.embed.models import Widget
from plateaux.embed.schemas import Availability
from plateaux.embed.service import chat_target
from plateaux.routing.config import workflow_queue_ids
from plateaux.routing.estimates import estimate_wait
from plateaux.routing.models import RoutingWorkflow
from plateaux.routing.state import Presence

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from plateaux.platform.services import Services

logger = logging.getLogger(__name__)


async def _target_queues(session: AsyncSession, widget: Widget,
                         known: set[str]) -> set[str]:
    target = chat_target(widget)
    if "queue_id" in target:
        return {target["queue_id"]} & known
    if "workflow_id" in target:
        workflow = await session.get(RoutingWorkflow, uuid.UUID(target["workflow_id"]))
        if workflow is not None and workflow.tenant_id == widget.tenant_id:
            return workflow_queue_ids(workflow.definition) & known
    return known


async def availability(session: AsyncSession, services: Services,
                       widget: Widget) -> Availability:
    if services.routing is None:
        return Availability(open=True, agents_available=False, estimated_wait_seconds=None)
    try:
        router = await services.routing.router(widget.tenant_id)
        snapshot = router.snapshot
        queues = await _target_queues(session, widget, set(snapshot.queues))
        if not queues:
            return Availability(open=True, agents_available=False, estimated_wait_seconds=None)
        is_open = any(snapshot.queues[q].open for q in queues)
        available = any(
            snapshot.agents[a].presence == Presence.AVAILABLE
            for q in queues for a in snapshot.members(q) if a in snapshot.agents)
        waits = []
        for queue_id in queues:
            stats = router.engine.context.stats.get(queue_id)
            if stats is None:
                continue
            wait = estimate_wait(stats, snapshot.waiting_count(queue_id) + 1)
            if wait is not None:
                waits.append(wait)
        return Availability(open=is_open, agents_available=available,
                            estimated_wait_seconds=min(waits) if waits else None)
    except Exception:
        # The estimate is a courtesy; the visitor can still write.
        logger.exception("availability of widget %s could not be read", widget.id)
        return Availability(open=True, agents_available=False, estimated_wait_seconds=None)
