"""Single sign-on: the tenant admin's provider settings (API) and the browser flow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from plateaux.platform.auth import oidc, sessions
from plateaux.platform.auth.models import SsoProvider
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.database import bind_tenant
from plateaux.platform.deps import DbSession, ServicesDep, require_scope
from plateaux.platform.errors import NotFound
from plateaux.platform.security import encrypt_secret
from plateaux.platform.settings import Settings
from plateaux.tenants import repository
from plateaux.tenants.models import Role, Tenant
from plateaux.tenants.service import audit

api = APIRouter(prefix="/sso", tags=["single sign-on"])
pages = APIRouter(include_in_schema=False)
Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]


class SsoSettingsIn(BaseModel):
    issuer: HttpUrl
    client_id: str = Field(min_length=1, max_length=300)
    client_secret: str = Field(min_length=1, max_length=500)
    enabled: bool = True
    auto_provision_role: Role | None = None


class SsoSettingsOut(BaseModel):
    issuer: str
    client_id: str
    enabled: bool
    auto_provision_role: Role | None
    redirect_uri: str


async def _provider(session: AsyncSession, tenant_id: object) -> SsoProvider | None:
    return (
        await session.scalars(select(SsoProvider).where(SsoProvider.tenant_id == tenant_id))
    ).first()


def _out(provider: SsoProvider, redirect: str) -> SsoSettingsOut:
    role = Role(provider.auto_provision_role) if provider.auto_provision_role else None
    return SsoSettingsOut(
        issuer=provider.issuer,
        client_id=provider.client_id,
        enabled=provider.enabled,
        auto_provision_role=role,
        redirect_uri=redirect,
    )


@api.get("", response_model=SsoSettingsOut)
async def get_sso(subject: Reader, session: DbSession, services: ServicesDep) -> SsoSettingsOut:
    provider = await _provider(session, subject.tenant_id)
    tenant = await session.get(Tenant, subject.tenant_id)
    if provider is None or tenant is None:
        raise NotFound("Single sign-on is not configured.")
    return _out(provider, oidc.redirect_uri(services.settings, tenant))


async def save_provider(session: AsyncSession, settings: Settings, subject: Subject,
                        body: SsoSettingsIn) -> tuple[SsoProvider, Tenant]:
    issuer = str(body.issuer).rstrip("/")
    # Check the provider answers now, so a typo shows here and not at the next sign-in.
    await oidc.discover(settings, issuer)
    tenant = await session.get(Tenant, subject.tenant_id)
    assert tenant is not None
    provider = await _provider(session, subject.tenant_id)
    sealed = encrypt_secret(settings.secret_key, body.client_secret)
    role = body.auto_provision_role.value if body.auto_provision_role else None
    if provider is None:
        provider = SsoProvider(tenant_id=tenant.id, issuer=issuer, client_id=body.client_id,
                               client_secret_encrypted=sealed, enabled=body.enabled,
                               auto_provision_role=role)
        session.add(provider)
    else:
        provider.issuer, provider.client_id = issuer, body.client_id
        provider.client_secret_encrypted, provider.enabled = sealed, body.enabled
        provider.auto_provision_role = role
    audit(session, tenant.id, actor=subject.label, action="sso.configured", target=issuer)
    await session.flush()
    return provider, tenant


@api.put("", response_model=SsoSettingsOut)
async def put_sso(body: SsoSettingsIn, subject: Writer, session: DbSession,
                  services: ServicesDep) -> SsoSettingsOut:
    provider, tenant = await save_provider(session, services.settings, subject, body)
    return _out(provider, oidc.redirect_uri(services.settings, tenant))


@api.delete("", status_code=204)
async def delete_sso(subject: Writer, session: DbSession) -> Response:
    provider = await _provider(session, subject.tenant_id)
    if provider is None:
        raise NotFound("Single sign-on is not configured.")
    await session.delete(provider)
    audit(session, subject.tenant_id, actor=subject.label, action="sso.removed")
    return Response(status_code=204)


async def _tenant_with_provider(session: DbSession, slug: str) -> tuple[Tenant, SsoProvider]:
    tenant = await repository.get_tenant_by_slug(session, slug)
    if tenant is None:
        raise NotFound("Unknown workspace.")
    await bind_tenant(session, tenant.id)
    provider = await oidc.get_provider(session, tenant.id)
    if provider is None:
        raise NotFound("Single sign-on is not enabled for this workspace.")
    return tenant, provider


def _safe_next(value: str | None, slug: str) -> str:
    if value and value.startswith(f"/t/{slug}/") and "//" not in value and "\\" not in value:
        return value
    return ""


@pages.get("/t/{slug}/sso/login")
async def sso_login(
    slug: str, session: DbSession, services: ServicesDep, next: str | None = None
) -> RedirectResponse:
    tenant, provider = await _tenant_with_provider(session, slug)
    url, state_cookie = await oidc.start(
        services.settings, tenant, provider, _safe_next(next, slug)
    )
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        oidc.STATE_COOKIE,
        state_cookie,
        max_age=oidc.STATE_TTL_SECONDS,
        httponly=True,
        samesite="lax",
        secure=services.settings.secure_cookies,
        path=f"/t/{slug}/sso/",
    )
    return response


@pages.get("/t/{slug}/sso/callback")
async def sso_callback(
    slug: str,
    request: Request,
    session: DbSession,
    services: ServicesDep,
    code: str = "",
    state: str = "",
) -> RedirectResponse:
    tenant, provider = await _tenant_with_provider(session, slug)
    user, next_path = await oidc.finish(
        session,
        services.settings,
        tenant,
        provider,
        cookie=request.cookies.get(oidc.STATE_COOKIE),
        code=code,
        state=state,
    )
    settings = services.settings
    cookie = await sessions.open_user_session(
        session,
        user,
        max_age=settings.session_max_age_seconds,
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )
    staff = user.role in (Role.ADMIN, Role.SUPERVISOR)
    home = f"/t/{slug}/admin/" if staff else f"/t/{slug}/agent/"
    response = RedirectResponse(next_path or home, status_code=303)
    response.set_cookie(
        sessions.USER_COOKIE,
        cookie,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    response.delete_cookie(oidc.STATE_COOKIE, path=f"/t/{slug}/sso/")
    return response
