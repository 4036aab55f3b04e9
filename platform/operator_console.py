"""The operator console: the platform's own staff create, review, suspend and delete tenants.

Operators are not tenant users, and tenant tables are row-level secured: every read of one
tenant's people or activity happens in a session bound to that tenant (one per request), and
the tenants list counts users in one short session per tenant shown. Nothing here bypasses
row-level security.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.billing.models import Plan
from plateaux.billing.tasks import request_sync
from plateaux.platform.auth.models import Operator, OperatorSession
from plateaux.platform.database import bind_tenant
from plateaux.platform.deps import DbSession, ServicesDep, get_operator
from plateaux.platform.errors import NotFound, ProblemError, Unauthorized
from plateaux.platform.security import csrf_token, password_problem
from plateaux.platform.services import Services
from plateaux.platform.web import LoginRedirect, redirect, render
from plateaux.tenants import repository
from plateaux.tenants import service as tenant_service
from plateaux.tenants.models import Role, Tenant, TenantStatus

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)

PAGE_SIZE = 25
USERS_PAGE_SIZE = 50
ACTIVITY_LIMIT = 200
COMMON_TIMEZONES = [
    "Europe/Paris",
    "Europe/London",
    "Europe/Brussels",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Zurich",
    "America/Montreal",
    "America/New_York",
    "America/Los_Angeles",
    "Africa/Casablanca",
    "Africa/Dakar",
    "Indian/Reunion",
    "Asia/Singapore",
    "UTC",
]
NOTICES = {
    "created": "The tenant has been created.",
    "invited": "The tenant has been created and its first admin has been sent an invitation.",
    "plan": "The plan has been changed.",
    "suspended": "The tenant is suspended: its people can read but not change anything.",
    "reactivated": "The tenant is active again.",
    "deleted": "The tenant and all of its data have been deleted.",
}


@dataclass(frozen=True, slots=True)
class OperatorView:
    """The signed-in operator as plain values: a page shown after a rollback (a refused
    form) must not reload the account from an expired row."""

    id: uuid.UUID
    email: str
    name: str

    @classmethod
    def of(cls, operator: Operator) -> OperatorView:
        return cls(id=operator.id, email=operator.email, name=operator.name)


@dataclass(frozen=True, slots=True)
class OperatorContext:
    operator: OperatorView
    csrf: str

    @property
    def actor(self) -> str:
        return f"operator:{self.operator.email}"

    def template_context(self, **extra: Any) -> dict[str, Any]:
        return {"operator": self.operator, "csrf_token": self.csrf, **extra}


async def operator_page(
    request: Request, session: DbSession, services: ServicesDep
) -> OperatorContext:
    """The signed-in operator; a browser that is not signed in is sent to sign in."""
    try:
        operator = await get_operator(request, session, services)
    except Unauthorized:
        target = quote(request.url.path, safe="/")
        raise LoginRedirect(f"/operator/login?next={target}") from None
    op_session: OperatorSession = request.state.operator_session
    return OperatorContext(
        operator=OperatorView.of(operator),
        csrf=csrf_token(services.settings.secret_key, op_session.token_hash),
    )


OperatorPage = Annotated[OperatorContext, Depends(operator_page)]


async def form_fields(request: Request) -> dict[str, str]:
    # PostgreSQL refuses NUL in text: drop it rather than fail on junk input.
    form = await request.form()
    return {
        key: value.replace("\x00", "")
        for key, value in form.items()
        if isinstance(value, str)
    }


async def _tenant_or_404(session: AsyncSession, slug: str) -> Tenant:
    if not tenant_service.SLUG_RE.match(slug):
        raise NotFound("There is no tenant with this identifier.")
    tenant = await repository.get_tenant_by_slug(session, slug)
    if tenant is None:
        raise NotFound("There is no tenant with this identifier.")
    return tenant


async def _plans(session: AsyncSession) -> list[tuple[str, str]]:
    """(code, label) of the plans offered, as plain values a rolled-back session keeps."""
    plans = (
        await session.scalars(
            select(Plan).where(col(Plan.is_active)).order_by(col(Plan.seat_price_cents))
        )
    ).all()
    return [(plan.code, _plan_label(plan)) for plan in plans]


def _plan_label(plan: Plan) -> str:
    price = f"{plan.seat_price_cents / 100:.2f} {plan.currency.upper()}"
    return f"{plan.name} — {price} per seat"


async def _plan_names(session: AsyncSession) -> dict[str, str]:
    plans = (await session.scalars(select(Plan))).all()
    return {plan.code: plan.name for plan in plans}


def _page_number(value: int | None) -> int:
    return max(1, value or 1)


# --------------------------------------------------------------------------------------
# Tenants list


@dataclass(frozen=True, slots=True)
class TenantRow:
    tenant: Tenant
    users: int


async def _count_users(services: Services, tenant_id: Any) -> int:
    # Its own short session bound to that tenant: row-level security stays in force and the
    # request's session is never bound to several tenants.
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        return await repository.count_users(session, tenant_id)


@router.get("/operator/")
async def tenants_list(
    request: Request,
    op: OperatorPage,
    session: DbSession,
    services: ServicesDep,
    q: str = "",
    page: int | None = None,
    done: str | None = None,
) -> HTMLResponse:
    q = q.replace("\x00", "").strip()[:100]
    query = select(Tenant)
    if q:
        query = query.where(
            or_(
                col(Tenant.name).icontains(q, autoescape=True),
                col(Tenant.slug).icontains(q.lower(), autoescape=True),
            )
        )
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    current = min(_page_number(page), pages)
    tenants = (
        await session.scalars(
            query.order_by(col(Tenant.created_at).desc(), col(Tenant.slug))
            .offset((current - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    ).all()
    rows = [TenantRow(tenant=t, users=await _count_users(services, t.id)) for t in tenants]
    return render(
        request,
        "operator/tenants.html",
        op.template_context(
            rows=rows,
            q=q,
            page=current,
            pages=pages,
            total=total,
            plan_names=await _plan_names(session),
            notice=NOTICES.get(done or ""),
            section="tenants",
        ),
    )


@router.get("/operator")
async def operator_root() -> Response:
    return redirect("/operator/", status_code=307)


# --------------------------------------------------------------------------------------
# New tenant


def _new_tenant_page(
    request: Request,
    op: OperatorContext,
    *,
    plans: list[tuple[str, str]],
    values: dict[str, str],
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "operator/tenant_new.html",
        op.template_context(
            plans=plans,
            values=values,
            timezones=COMMON_TIMEZONES,
            error=error,
            section="new",
        ),
        status_code=status_code,
    )


@router.get("/operator/tenants/new")
async def new_tenant_page(request: Request, op: OperatorPage, session: DbSession) -> HTMLResponse:
    plans = await _plans(session)
    values = {"plan": plans[0][0] if plans else "", "timezone": "Europe/Paris"}
    return _new_tenant_page(request, op, plans=plans, values=values)


def _check_new_tenant(values: dict[str, str], plans: list[tuple[str, str]]) -> str | None:
    """Why the form cannot create a tenant, checked before anything is written."""
    if not values["name"]:
        return "Enter the company's name."
    if not values["slug"]:
        return "Enter an identifier for the tenant's address."
    if values["plan"] not in {code for code, _ in plans}:
        return "Choose one of the plans offered."
    if not values["admin_name"]:
        return "Enter the first admin's name."
    try:
        validate_email(values["admin_email"], check_deliverability=False)
    except EmailNotValidError:
        return "Enter the first admin's email address."
    if values["admin_password"] and (problem := password_problem(values["admin_password"])):
        return problem
    return None


@router.post("/operator/tenants/new")
async def create_tenant(
    request: Request, op: OperatorPage, session: DbSession, services: ServicesDep
) -> Response:
    fields = await form_fields(request)
    values = {
        key: fields.get(key, "").strip()
        for key in ("slug", "name", "plan", "timezone", "admin_email", "admin_name")
    }
    values["slug"] = values["slug"].lower()
    # Passwords are taken as typed (spaces included) and never sent back to the page.
    values["admin_password"] = fields.get("admin_password", "")
    plans = await _plans(session)
    shown = {k: v for k, v in values.items() if k != "admin_password"}
    if problem := _check_new_tenant(values, plans):
        return _new_tenant_page(
            request, op, plans=plans, values=shown, error=problem, status_code=400
        )
    try:
        tenant = await tenant_service.create_tenant(
            session,
            slug=values["slug"],
            name=values["name"],
            plan_code=values["plan"],
            timezone=values["timezone"] or "Europe/Paris",
            actor=op.actor,
        )
        if values["admin_password"]:
            await tenant_service.create_user(
                session,
                tenant.id,
                email=values["admin_email"],
                name=values["admin_name"],
                role=Role.ADMIN,
                password=values["admin_password"],
                actor=op.actor,
            )
        else:
            await tenant_service.invite_user(
                session,
                services.settings,
                tenant,
                email=values["admin_email"],
                name=values["admin_name"],
                role=Role.ADMIN,
                invited_by=None,
                actor=op.actor,
            )
    except ProblemError as exc:
        # Nothing of a half-made tenant may stay.
        await session.rollback()
        return _new_tenant_page(
            request, op, plans=plans, values=shown, error=exc.detail, status_code=exc.status
        )
    logger.info("tenant created", extra={"tenant": tenant.slug, "operator": op.operator.email})
    done = "created" if values["admin_password"] else "invited"
    return redirect(f"/operator/tenants/{tenant.slug}?done={done}")


# --------------------------------------------------------------------------------------
# One tenant


async def _detail_page(
    request: Request,
    op: OperatorContext,
    session: AsyncSession,
    tenant: Tenant,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    await bind_tenant(session, tenant.id)
    return render(
        request,
        "operator/tenant_detail.html",
        op.template_context(
            tenant=tenant,
            users=await repository.count_users(session, tenant.id),
            invitations=await repository.list_invitations(session, tenant.id),
            recent=await repository.recent_audit(session, tenant.id, limit=8),
            plans=await _plans(session),
            plan_names=await _plan_names(session),
            notice=notice,
            error=error,
            tab="overview",
            section="tenants",
        ),
        status_code=status_code,
    )


@router.get("/operator/tenants/{slug}")
async def tenant_detail(
    slug: str, request: Request, op: OperatorPage, session: DbSession, done: str | None = None
) -> HTMLResponse:
    tenant = await _tenant_or_404(session, slug)
    return await _detail_page(request, op, session, tenant, notice=NOTICES.get(done or ""))


@router.post("/operator/tenants/{slug}/plan")
async def change_plan(
    slug: str, request: Request, op: OperatorPage, session: DbSession
) -> Response:
    fields = await form_fields(request)
    tenant = await _tenant_or_404(session, slug)
    plan = fields.get("plan", "")
    if plan not in {code for code, _ in await _plans(session)}:
        return await _detail_page(
            request,
            op,
            session,
            tenant,
            error="Choose one of the plans offered.",
            status_code=400,
        )
    if plan != tenant.plan_code:
        previous = tenant.plan_code
        tenant.plan_code = plan
        await bind_tenant(session, tenant.id)
        tenant_service.audit(
            session,
            tenant.id,
            actor=op.actor,
            action="tenant.plan_changed",
            target=tenant.slug,
            previous=previous,
            plan=plan,
        )
        await session.flush()
        # Stripe prorates from the moment the subscription changes: not at the next tick.
        request_sync(session, tenant.id)
    return redirect(f"/operator/tenants/{tenant.slug}?done=plan")


@router.post("/operator/tenants/{slug}/suspend")
async def suspend_tenant(
    slug: str, request: Request, op: OperatorPage, session: DbSession
) -> Response:
    fields = await form_fields(request)
    tenant = await _tenant_or_404(session, slug)
    reason = fields.get("reason", "").strip()[:500]
    if not reason:
        return await _detail_page(
            request,
            op,
            session,
            tenant,
            error="Give the reason for the suspension; the tenant's admins will see it.",
            status_code=400,
        )
    await tenant_service.set_tenant_status(
        session, tenant, TenantStatus.SUSPENDED, actor=op.actor, reason=reason
    )
    return redirect(f"/operator/tenants/{tenant.slug}?done=suspended")


@router.post("/operator/tenants/{slug}/reactivate")
async def reactivate_tenant(slug: str, op: OperatorPage, session: DbSession) -> Response:
    tenant = await _tenant_or_404(session, slug)
    await tenant_service.set_tenant_status(session, tenant, TenantStatus.ACTIVE, actor=op.actor)
    return redirect(f"/operator/tenants/{tenant.slug}?done=reactivated")


@router.post("/operator/tenants/{slug}/delete")
async def delete_tenant(
    slug: str, request: Request, op: OperatorPage, session: DbSession
) -> Response:
    fields = await form_fields(request)
    tenant = await _tenant_or_404(session, slug)
    if fields.get("confirm", "").strip() != tenant.slug:
        return await _detail_page(
            request,
            op,
            session,
            tenant,
            error="Type the tenant's identifier exactly to confirm the deletion.",
            status_code=400,
        )
    # Bound to the tenant so the cascade through its row-secured tables runs under its own
    # policy; no record is written anywhere else, so nothing of the tenant remains.
    await bind_tenant(session, tenant.id)
    await session.delete(tenant)
    await session.flush()
    logger.warning("tenant deleted", extra={"tenant": slug, "operator": op.operator.email})
    return redirect("/operator/?done=deleted")


@router.get("/operator/tenants/{slug}/users")
async def tenant_users(
    slug: str,
    request: Request,
    op: OperatorPage,
    session: DbSession,
    page: int | None = None,
) -> HTMLResponse:
    tenant = await _tenant_or_404(session, slug)
    await bind_tenant(session, tenant.id)
    current = _page_number(page)
    users, total = await repository.list_users(
        session, tenant.id, offset=(current - 1) * USERS_PAGE_SIZE, limit=USERS_PAGE_SIZE
    )
    return render(
        request,
        "operator/tenant_users.html",
        op.template_context(
            tenant=tenant,
            users=users,
            total=total,
            page=current,
            pages=max(1, math.ceil(total / USERS_PAGE_SIZE)),
            tab="users",
            section="tenants",
        ),
    )


def _details_text(details: dict[str, Any] | None) -> Sequence[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in sorted((details or {}).items()) if v not in ("", None)]


@router.get("/operator/tenants/{slug}/activity")
async def tenant_activity(
    slug: str, request: Request, op: OperatorPage, session: DbSession
) -> HTMLResponse:
    tenant = await _tenant_or_404(session, slug)
    await bind_tenant(session, tenant.id)
    entries = await repository.recent_audit(session, tenant.id, limit=ACTIVITY_LIMIT)
    return render(
        request,
        "operator/tenant_activity.html",
        op.template_context(
            tenant=tenant,
            entries=[(entry, _details_text(entry.details)) for entry in entries],
            limit=ACTIVITY_LIMIT,
            tab="activity",
            section="tenants",
        ),
    )
