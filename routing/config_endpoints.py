"""The routing configuration API: queues, workflows, agents' routing profiles and away
reasons, under ``/routing``.

Routes stay thin: they check the caller's scope, look objects up within the caller's
tenant (another tenant's id is a 404) and hand over to the service. Reads need
``tenant:read``, changes ``tenant:write``. Every committed change reaches the live
routers of every server process (``routing.config.changed``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import col

from plateaux.api.idempotency import idempotent_create
from plateaux.api.pagination import Page, Pagination
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, require_scope
from plateaux.routing import config_repository as repo
from plateaux.routing import config_service as svc
from plateaux.routing.config import capacity_from
from plateaux.routing.config_schemas import (
    AwayReasonIn,
    AwayReasonOut,
    MembershipOut,
    ProfileIn,
    ProfileOut,
    QueueIn,
    QueueOut,
    QueuePatch,
    WorkflowIn,
    WorkflowOut,
    WorkflowPatch,
)
from plateaux.routing.models import AgentProfile, AwayReason, RoutingQueue, RoutingWorkflow
from plateaux.tenants import repository as people
from plateaux.tenants.admin_repository import list_owned
from plateaux.tenants.models import User

router = APIRouter(prefix="/routing", tags=["routing configuration"])
Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]


# --- queues ----------------------------------------------------------------------------


@router.get("/queues", response_model=Page[QueueOut])
async def list_queues(subject: Reader, session: DbSession, page: Pagination) -> Page[QueueOut]:
    rows, total = await list_owned(
        session, RoutingQueue, subject.tenant_id, order_by=col(RoutingQueue.name),
        offset=page.offset, limit=page.limit)
    return Page(items=[QueueOut.model_validate(q) for q in rows], total=total,
                offset=page.offset, limit=page.limit)


@router.post("/queues", response_model=QueueOut, status_code=201)
async def create_queue(body: QueueIn, request: Request, subject: Writer,
                       session: DbSession) -> Response:
    async def create() -> QueueOut:
        return QueueOut.model_validate(await svc.create_queue(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/queues/{queue_id}", response_model=QueueOut)
async def get_queue(queue_id: uuid.UUID, subject: Reader, session: DbSession) -> QueueOut:
    return QueueOut.model_validate(await repo.get_queue(session, subject.tenant_id, queue_id))


@router.patch("/queues/{queue_id}", response_model=QueueOut)
async def update_queue(queue_id: uuid.UUID, body: QueuePatch, subject: Writer,
                       session: DbSession) -> QueueOut:
    row = await repo.get_queue(session, subject.tenant_id, queue_id)
    return QueueOut.model_validate(await svc.update_queue(session, subject, row, body))


@router.delete("/queues/{queue_id}", status_code=204, response_class=Response)
async def delete_queue(queue_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    """Refused (409) while a workflow sends contacts to the queue."""
    row = await repo.get_queue(session, subject.tenant_id, queue_id)
    await svc.delete_queue(session, subject, row)
    return Response(status_code=204)


# --- workflows -------------------------------------------------------------------------


@router.get("/workflows", response_model=Page[WorkflowOut])
async def list_workflows(subject: Reader, session: DbSession,
                         page: Pagination) -> Page[WorkflowOut]:
    rows, total = await list_owned(
        session, RoutingWorkflow, subject.tenant_id, order_by=col(RoutingWorkflow.name),
        offset=page.offset, limit=page.limit)
    return Page(items=[WorkflowOut.model_validate(w) for w in rows], total=total,
                offset=page.offset, limit=page.limit)


@router.post("/workflows", response_model=WorkflowOut, status_code=201)
async def create_workflow(body: WorkflowIn, request: Request, subject: Writer,
                          session: DbSession) -> Response:
    """A workflow document is checked as a whole: its expressions (an error gives the
    position), its steps, and that every queue, skill and agent it names is yours."""

    async def create() -> WorkflowOut:
        return WorkflowOut.model_validate(await svc.create_workflow(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut)
async def get_workflow(workflow_id: uuid.UUID, subject: Reader,
                       session: DbSession) -> WorkflowOut:
    return WorkflowOut.model_validate(
        await repo.get_workflow(session, subject.tenant_id, workflow_id))


@router.patch("/workflows/{workflow_id}", response_model=WorkflowOut)
async def update_workflow(workflow_id: uuid.UUID, body: WorkflowPatch, subject: Writer,
                          session: DbSession) -> WorkflowOut:
    row = await repo.get_workflow(session, subject.tenant_id, workflow_id)
    return WorkflowOut.model_validate(await svc.update_workflow(session, subject, row, body))


@router.delete("/workflows/{workflow_id}", status_code=204, response_class=Response)
async def delete_workflow(workflow_id: uuid.UUID, subject: Writer,
                          session: DbSession) -> Response:
    row = await repo.get_workflow(session, subject.tenant_id, workflow_id)
    await svc.delete_workflow(session, subject, row)
    return Response(status_code=204)


# --- routing profiles ------------------------------------------------------------------


def profile_out(user: User, profile: AgentProfile | None) -> ProfileOut:
    return ProfileOut(
        user_id=user.id, name=user.name,
        capacity=capacity_from(profile.capacity if profile is not None else None),
        chats_beside_calls=profile is not None and profile.chats_beside_calls,
        queues={uuid.UUID(q): MembershipOut(priority=int(m.get("priority", 1)),
                                             delay=float(m.get("delay", 0.0)))
                for q, m in (profile.queues if profile is not None else {}).items()},
        updated_at=None if profile is None else profile.updated_at)


@router.get("/profiles", response_model=Page[ProfileOut])
async def list_profiles(subject: Reader, session: DbSession,
                        page: Pagination) -> Page[ProfileOut]:
    """Every person of the tenant with their routing profile (defaults when never set)."""
    users, total = await people.list_users(session, subject.tenant_id, offset=page.offset,
                                           limit=page.limit)
    profiles = await repo.profiles_of(session, subject.tenant_id, [u.id for u in users])
    return Page(items=[profile_out(u, profiles.get(u.id)) for u in users], total=total,
                offset=page.offset, limit=page.limit)


@router.get("/profiles/{user_id}", response_model=ProfileOut)
async def get_profile(user_id: uuid.UUID, subject: Reader, session: DbSession) -> ProfileOut:
    user = await svc.profile_user(session, subject, user_id)
    return profile_out(user, await repo.profile_of(session, subject.tenant_id, user.id))


@router.put("/profiles/{user_id}", response_model=ProfileOut)
async def put_profile(user_id: uuid.UUID, body: ProfileIn, subject: Writer,
                      session: DbSession) -> ProfileOut:
    """Replace the person's routing profile: capacity per channel, whether chats continue
    beside a call, and the queues served with a priority and a delay."""
    user = await svc.profile_user(session, subject, user_id)
    return profile_out(user, await svc.set_profile(session, subject, user, body))


# --- away reasons ----------------------------------------------------------------------


@router.get("/away-reasons", response_model=Page[AwayReasonOut])
async def list_reasons(subject: Reader, session: DbSession,
                       page: Pagination) -> Page[AwayReasonOut]:
    """The reasons agents may give when away. With none defined, the defaults apply:
    break, lunch, training, meeting."""
    rows, total = await list_owned(
        session, AwayReason, subject.tenant_id, order_by=col(AwayReason.code),
        offset=page.offset, limit=page.limit)
    return Page(items=[AwayReasonOut.model_validate(r) for r in rows], total=total,
                offset=page.offset, limit=page.limit)


@router.post("/away-reasons", response_model=AwayReasonOut, status_code=201)
async def create_reason(body: AwayReasonIn, request: Request, subject: Writer,
                        session: DbSession) -> Response:
    async def create() -> AwayReasonOut:
        return AwayReasonOut.model_validate(await svc.create_reason(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.delete("/away-reasons/{reason_id}", status_code=204, response_class=Response)
async def delete_reason(reason_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    row = await repo.get_reason(session, subject.tenant_id, reason_id)
    await svc.delete_reason(session, subject, row)
    return Response(status_code=204)
