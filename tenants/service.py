"""Business rules for tenants and their people. Services flush; the caller commits."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.database import bind_tenant
from plateaux.platform.errors import BadRequest, Conflict, Gone, NotFound
from plateaux.platform.mail import queue_mail
from plateaux.platform.publish import publish
from plateaux.platform.security import hash_password, hash_token, new_token, password_problem
from plateaux.platform.settings import Settings
from plateaux.platform.types import utcnow
from plateaux.tenants import repository
from plateaux.tenants.models import AuditEntry, Invitation, Role, Tenant, TenantStatus, User

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = frozenset({"api", "admin", "operator", "static", "embed", "login", "www"})


def user_event_payload(user: User) -> dict[str, Any]:
    """What consoles need to update their view of a user (no secrets)."""
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": str(user.role),
        "is_active": user.is_active,
        "site_id": str(user.site_id) if user.site_id else None,
    }


def audit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    actor: str,
    action: str,
    target: str = "",
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            tenant_id=tenant_id,
            actor=actor[:200],
            action=action,
            target=target[:200],
            details=details,
        )
    )


async def create_tenant(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    plan_code: str = "starter",
    timezone: str = "Europe/Paris",
    actor: str = "system",
) -> Tenant:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise BadRequest("The tenant identifier must be lowercase letters, digits and dashes.")
    if await repository.get_tenant_by_slug(session, slug) is not None:
        raise Conflict(f"A tenant named '{slug}' already exists.")
    validate_timezone(timezone)
    tenant = Tenant(slug=slug, name=name.strip(), plan_code=plan_code, timezone=timezone)
    session.add(tenant)
    await session.flush()
    await bind_tenant(session, tenant.id)
    audit(session, tenant.id, actor=actor, action="tenant.created", target=slug)
    return tenant


def validate_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(f"Unknown time zone '{name}'.") from exc


async def set_tenant_status(
    session: AsyncSession,
    tenant: Tenant,
    status: TenantStatus,
    *,
    actor: str,
    reason: str | None = None,
) -> Tenant:
    tenant.status = status
    tenant.suspended_at = utcnow() if status == TenantStatus.SUSPENDED else None
    tenant.suspended_reason = reason if status == TenantStatus.SUSPENDED else None
    await bind_tenant(session, tenant.id)
    audit(
        session,
        tenant.id,
        actor=actor,
        action=f"tenant.{status.value}",
        target=tenant.slug,
        reason=reason or "",
    )
    await session.flush()
    return tenant


async def create_user(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    email: str,
    name: str,
    role: Role,
    password: str | None = None,
    actor: str,
    languages: list[str] | None = None,
) -> User:
    email = repository.normalise_email(email)
    if await repository.find_user_by_email(session, tenant_id, email) is not None:
        raise Conflict("A user with this email already exists.")
    if password is not None and (problem := password_problem(password)):
        raise BadRequest(problem)
    user = User(
        tenant_id=tenant_id,
        email=email,
        name=name.strip(),
        role=role,
        password_hash=hash_password(password) if password else None,
        password_changed_at=utcnow() if password else None,
        languages=languages or [],
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("A user with this email already exists.") from exc
    audit(session, tenant_id, actor=actor, action="user.created", target=email, role=str(role))
    publish(session, tenant_id, "user.created", user_event_payload(user), audience="tenant")
    return user


async def update_user(session: AsyncSession, user: User, *, actor: str, **changes: Any) -> User:
    allowed = {"name", "role", "is_active", "site_id", "languages"}
    for field, value in changes.items():
        if field not in allowed:
            raise BadRequest(f"'{field}' cannot be changed here.")
        if value is not None:
            setattr(user, field, value)
    publish(session, user.tenant_id, "user.updated", user_event_payload(user), audience="tenant")
    audit(
        session,
        user.tenant_id,
        actor=actor,
        action="user.updated",
        target=user.email,
        fields=sorted(k for k, v in changes.items() if v is not None),
    )
    await session.flush()
    return user


async def delete_user(session: AsyncSession, user: User, *, actor: str) -> None:
    audit(session, user.tenant_id, actor=actor, action="user.deleted", target=user.email)
    publish(session, user.tenant_id, "user.deleted", {"id": str(user.id)}, audience="tenant")
    await session.delete(user)
    await session.flush()


async def invite_user(
    session: AsyncSession,
    settings: Settings,
    tenant: Tenant,
    *,
    email: str,
    name: str,
    role: Role,
    invited_by: User | None,
    actor: str,
) -> Invitation:
    email = repository.normalise_email(email)
    if await repository.find_user_by_email(session, tenant.id, email) is not None:
        raise Conflict("This person already has an account.")
    token = new_token()
    invitation = Invitation(
        tenant_id=tenant.id,
        email=email,
        name=name.strip(),
        role=role,
        token_hash=hash_token(token),
        invited_by=invited_by.id if invited_by else None,
        expires_at=utcnow() + timedelta(seconds=settings.invitation_ttl_seconds),
    )
    session.add(invitation)
    await session.flush()
    link = f"{settings.base_url}/t/{tenant.slug}/invitation/{token}"
    inviter = invited_by.name if invited_by else tenant.name
    queue_mail(
        session,
        to=email,
        subject=f"{inviter} invites you to {tenant.name} on Plateaux",
        text=(
            f"Hello {name or email},\n\n{inviter} has invited you to join {tenant.name} "
            f"as {role.value}.\n\nChoose your password here (the link is valid for "
            f"{settings.invitation_ttl_seconds // 86400} days):\n{link}\n"
        ),
    )
    audit(session, tenant.id, actor=actor, action="user.invited", target=email, role=role.value)
    return invitation


async def accept_invitation(
    session: AsyncSession, tenant: Tenant, token: str, *, name: str, password: str
) -> User:
    invitation = await repository.find_invitation(session, tenant.id, hash_token(token))
    if invitation is None:
        raise NotFound("This invitation does not exist.")
    if invitation.accepted_at is not None or invitation.expires_at <= utcnow():
        raise Gone("This invitation has expired or was already used.")
    user = await create_user(
        session,
        tenant.id,
        email=invitation.email,
        name=name or invitation.name,
        role=Role(invitation.role),
        password=password,
        actor=f"invitation:{invitation.email}",
    )
    invitation.accepted_at = utcnow()
    await session.flush()
    return user
