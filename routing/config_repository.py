"""Queries for the tenant's routing configuration: queues, workflows, routing profiles and
away reasons.

Every function takes the caller's tenant id and filters on it, so another tenant's id is
simply not found; row-level security checks the same again on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.models import TenantOwned
from plateaux.routing.config import workflow_queue_ids
from plateaux.routing.models import AgentProfile, AwayReason, RoutingQueue, RoutingWorkflow
from plateaux.tenants.admin_repository import get_owned

Named = type[RoutingQueue] | type[RoutingWorkflow]


async def get_queue(session: AsyncSession, tenant_id: uuid.UUID,
                    queue_id: uuid.UUID) -> RoutingQueue:
    return await get_owned(session, RoutingQueue, tenant_id, queue_id, what="Queue")


async def get_workflow(session: AsyncSession, tenant_id: uuid.UUID,
                       workflow_id: uuid.UUID) -> RoutingWorkflow:
    return await get_owned(session, RoutingWorkflow, tenant_id, workflow_id, what="Workflow")


async def get_reason(session: AsyncSession, tenant_id: uuid.UUID,
                     reason_id: uuid.UUID) -> AwayReason:
    return await get_owned(session, AwayReason, tenant_id, reason_id, what="Away reason")


async def name_taken(session: AsyncSession, model: Named, tenant_id: uuid.UUID, name: str, *,
                     except_id: uuid.UUID | None = None) -> bool:
    """Whether another queue (or workflow) of the tenant has this name, ignoring case."""
    query = select(model.id).where(
        col(model.tenant_id) == tenant_id, func.lower(col(model.name)) == name.lower())
    if except_id is not None:
        query = query.where(col(model.id) != except_id)
    return (await session.scalars(query.limit(1))).first() is not None


async def reason_with_code(session: AsyncSession, tenant_id: uuid.UUID,
                           code: str) -> AwayReason | None:
    return (await session.scalars(select(AwayReason).where(
        col(AwayReason.tenant_id) == tenant_id, col(AwayReason.code) == code))).first()


async def owned_ids(session: AsyncSession, model: type[TenantOwned], tenant_id: uuid.UUID,
                    ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` are rows of ``model`` belonging to the tenant."""
    wanted = list(set(ids))
    if not wanted:
        return set()
    found = await session.scalars(select(model.id).where(
        col(model.tenant_id) == tenant_id, col(model.id).in_(wanted)))
    return set(found.all())


async def all_queues(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[RoutingQueue]:
    rows = await session.scalars(select(RoutingQueue).where(
        col(RoutingQueue.tenant_id) == tenant_id).order_by(col(RoutingQueue.name)))
    return rows.all()


async def all_workflows(session: AsyncSession,
                        tenant_id: uuid.UUID) -> Sequence[RoutingWorkflow]:
    rows = await session.scalars(select(RoutingWorkflow).where(
        col(RoutingWorkflow.tenant_id) == tenant_id).order_by(col(RoutingWorkflow.name)))
    return rows.all()


async def all_reasons(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[AwayReason]:
    rows = await session.scalars(select(AwayReason).where(
        col(AwayReason.tenant_id) == tenant_id).order_by(col(AwayReason.code)))
    return rows.all()


async def workflows_naming_queue(session: AsyncSession, tenant_id: uuid.UUID,
                                 queue_id: uuid.UUID) -> list[str]:
    """Names of the tenant's workflows that send contacts to this queue. Definitions are
    JSON documents: read in Python, so one query works on both databases."""
    target = str(queue_id)
    names = []
    for workflow in await all_workflows(session, tenant_id):
        try:
            ids = workflow_queue_ids(workflow.definition)
        except (KeyError, TypeError, AttributeError):
            continue  # a document no rule could read names nothing reliably
        if target in ids:
            names.append(workflow.name)
    return names


async def profile_of(session: AsyncSession, tenant_id: uuid.UUID,
                     user_id: uuid.UUID) -> AgentProfile | None:
    return (await session.scalars(select(AgentProfile).where(
        col(AgentProfile.tenant_id) == tenant_id,
        col(AgentProfile.user_id) == user_id))).first()


async def profiles_of(session: AsyncSession, tenant_id: uuid.UUID,
                      user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AgentProfile]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(AgentProfile).where(
        col(AgentProfile.tenant_id) == tenant_id,
        col(AgentProfile.user_id).in_(list(user_ids))))
    return {p.user_id: p for p in rows.all()}


async def profiles_serving(session: AsyncSession, tenant_id: uuid.UUID,
                           queue_id: uuid.UUID) -> list[AgentProfile]:
    rows = await session.scalars(select(AgentProfile).where(
        col(AgentProfile.tenant_id) == tenant_id))
    return [p for p in rows.all() if str(queue_id) in p.queues]
