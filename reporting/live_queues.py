"""Each queue's live figures for the supervisor console: who waits now and for how long
(from the routing state), how many agents serve it, and today's service level against the
queue's target (from the stored contacts, "today" in the tenant's time zone)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.reporting.schemas import QueueLiveOut
from plateaux.reporting.service_level import ContactTimes, service_level
from plateaux.routing.contact_service import routing_of
from plateaux.routing.models import Contact, RoutingQueue
from plateaux.routing.state import ContactStatus, Presence
from plateaux.tenants.models import Tenant

WAITING = frozenset({ContactStatus.QUEUED, ContactStatus.OFFERED})


def start_of_day(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.astimezone(UTC)


async def _today(session: AsyncSession, tenant_id: uuid.UUID,
                 since: datetime) -> dict[uuid.UUID, list[ContactTimes]]:
    rows = (await session.execute(
        select(col(Contact.queue_id), col(Contact.created_at), col(Contact.answered_at),
               col(Contact.ended_at))
        .where(col(Contact.tenant_id) == tenant_id, col(Contact.created_at) >= since,
               col(Contact.queue_id).is_not(None)))).all()
    by_queue: dict[uuid.UUID, list[ContactTimes]] = defaultdict(list)
    for queue_id, created_at, answered_at, ended_at in rows:
        if queue_id is not None:
            by_queue[queue_id].append(ContactTimes(created_at, answered_at, ended_at))
    return by_queue


async def live_queues(session: AsyncSession, tenant_id: uuid.UUID, *,
                      now: datetime | None = None) -> list[QueueLiveOut]:
    tenant = await session.get(Tenant, tenant_id)
    zone = ZoneInfo(tenant.timezone if tenant is not None else "UTC")
    moment = now or datetime.now(UTC)
    queues = (await session.scalars(select(RoutingQueue).where(
        col(RoutingQueue.tenant_id) == tenant_id).order_by(col(RoutingQueue.name)))).all()
    today = await _today(session, tenant_id, start_of_day(moment, zone))
    router = await routing_of(session).router(tenant_id)
    clock = router.clock()
    waits: dict[str, list[float]] = defaultdict(list)
    for contact in router.snapshot.contacts.values():
        if contact.status in WAITING and contact.queue_id is not None:
            waits[contact.queue_id].append(max(0.0, clock - contact.created_at))
    out = []
    for queue in queues:
        key = str(queue.id)
        level = service_level(today.get(queue.id, []),
                              threshold_seconds=queue.sla_threshold_seconds, now=moment)
        members = [router.snapshot.agents[m] for m in router.snapshot.members(key)
                   if m in router.snapshot.agents]
        out.append(QueueLiveOut(
            queue_id=queue.id, name=queue.name, waiting=len(waits[key]),
            longest_wait_seconds=max(waits[key]) if waits[key] else None,
            agents_available=sum(1 for a in members if a.presence == Presence.AVAILABLE),
            agents_signed_in=sum(1 for a in members if a.presence != Presence.OFFLINE),
            offered_today=level.offered, answered_today=level.answered,
            answered_within_today=level.answered_within, abandoned_today=level.abandoned,
            service_level_today=level.value, sla_target=queue.sla_target,
            sla_threshold_seconds=queue.sla_threshold_seconds))
    return out
