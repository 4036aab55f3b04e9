"""Users and invitations of the caller's tenant."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from plateaux.api.idempotency import idempotent_create
from plateaux.api.pagination import Page, Pagination
from plateaux.api.schemas import InvitationCreate, InvitationOut, UserCreate, UserOut, UserUpdate
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, ServicesDep, require_scope
from plateaux.platform.errors import BadRequest
from plateaux.tenants import repository, service
from plateaux.tenants.models import Role, Tenant, User

router = APIRouter(tags=["users"])
Reader = Annotated[Subject, Depends(require_scope(Scope.USERS_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.USERS_WRITE))]


@router.get("/users", response_model=Page[UserOut])
async def list_users(
    subject: Reader, session: DbSession, page: Pagination, role: Role | None = None
) -> Page[UserOut]:
    users, total = await repository.list_users(
        session, subject.tenant_id, offset=page.offset, limit=page.limit, role=role
    )
    return Page(
        items=[UserOut.model_validate(u) for u in users],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: UserCreate, request: Request, subject: Writer, session: DbSession
) -> Response:
    async def create() -> UserOut:
        user = await service.create_user(
            session,
            subject.tenant_id,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            actor=subject.label,
            languages=body.languages,
        )
        return UserOut.model_validate(user)

    return await idempotent_create(request, session, subject, body, create)


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: uuid.UUID, subject: Reader, session: DbSession) -> UserOut:
    return UserOut.model_validate(await repository.get_user(session, subject.tenant_id, user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, subject: Writer, session: DbSession
) -> UserOut:
    user = await repository.get_user(session, subject.tenant_id, user_id)
    if body.site_id is not None:
        from plateaux.tenants.models import Site

        site = await session.get(Site, body.site_id)
        if site is None or site.tenant_id != subject.tenant_id:
            raise BadRequest("Unknown site.")
    if user.id == subject.user_id and (
        body.role not in (None, Role.ADMIN) or body.is_active is False
    ):
        raise BadRequest("You cannot demote or deactivate yourself.")
    user = await service.update_user(
        session, user, actor=subject.label, **body.model_dump(exclude_unset=True)
    )
    return UserOut.model_validate(user)


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(user_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    user = await repository.get_user(session, subject.tenant_id, user_id)
    if user.id == subject.user_id:
        raise BadRequest("You cannot delete yourself.")
    await service.delete_user(session, user, actor=subject.label)
    return Response(status_code=204)


@router.post("/invitations", response_model=InvitationOut, status_code=201)
async def invite(
    body: InvitationCreate,
    request: Request,
    subject: Writer,
    session: DbSession,
    services: ServicesDep,
) -> Response:
    tenant = await session.get(Tenant, subject.tenant_id)
    assert tenant is not None
    inviter = await session.get(User, subject.user_id) if subject.user_id else None

    async def create() -> InvitationOut:
        invitation = await service.invite_user(
            session,
            services.settings,
            tenant,
            email=body.email,
            name=body.name,
            role=body.role,
            invited_by=inviter,
            actor=subject.label,
        )
        return InvitationOut.model_validate(invitation)

    return await idempotent_create(request, session, subject, body, create)


@router.get("/invitations", response_model=list[InvitationOut])
async def list_invitations(subject: Reader, session: DbSession) -> list[InvitationOut]:
    return [
        InvitationOut.model_validate(i)
        for i in await repository.list_invitations(session, subject.tenant_id)
    ]
