"""Every signed-in user's own account page: profile, skills, password, two-factor."""


from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.auth import service, totp
from plateaux.platform.auth.page_helpers import (
    ACCOUNT_NOTICES,
    TOTP_SETUP_TTL,
    form_fields,
    home_for,
)
from plateaux.platform.deps import Console, ConsoleContext, DbSession, ServicesDep
from plateaux.platform.errors import ProblemError
from plateaux.platform.security import (
    decrypt_secret,
    encrypt_secret,
)
from plateaux.platform.settings import Settings
from plateaux.platform.web import redirect, render
from plateaux.tenants.models import (
    Role,
    Site,
    Skill,
    Team,
    TeamMember,
    TenantStatus,
    User,
    UserSkill,
)

router = APIRouter(include_in_schema=False)

# --------------------------------------------------------------------------------------
# My account


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    uri: str
    sealed: str

    @property
    def qr_data_uri(self) -> str:
        """The otpauth link as a QR code (SVG data URI) for the phone's camera."""
        return totp.qr_code_data_uri(self.uri)

    @property
    def grouped(self) -> str:
        """The secret in groups of four, easier to type into a phone."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def _seal_setup(settings: Settings, user: User, secret: str) -> TotpSetup:
    # The pending secret travels in the form, encrypted and tied to this user and time, so
    # nothing is stored before the first code proves the phone has it.
    payload = json.dumps({"u": str(user.id), "s": secret, "t": int(time.time())})
    return TotpSetup(
        secret=secret,
        uri=totp.provisioning_uri(secret, account=user.email),
        sealed=encrypt_secret(settings.secret_key, payload),
    )


def _open_setup(settings: Settings, user: User, sealed: str) -> TotpSetup | None:
    try:
        payload = json.loads(decrypt_secret(settings.secret_key, sealed))
        owner, secret, started = str(payload["u"]), str(payload["s"]), int(payload["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if owner != str(user.id) or time.time() - started > TOTP_SETUP_TTL:
        return None
    return TotpSetup(
        secret=secret, uri=totp.provisioning_uri(secret, account=user.email), sealed=sealed
    )


@dataclass(frozen=True, slots=True)
class AccountFacts:
    site: Site | None
    teams: Sequence[str]
    skills: Sequence[tuple[str, int]]


async def _account_facts(session: AsyncSession, user: User) -> AccountFacts:
    site = None
    if user.site_id is not None:
        site = (
            await session.scalars(
                select(Site).where(Site.tenant_id == user.tenant_id, Site.id == user.site_id)
            )
        ).first()
    teams = (
        await session.scalars(
            select(Team.name)
            .join(TeamMember, col(TeamMember.team_id) == col(Team.id))
            .where(TeamMember.tenant_id == user.tenant_id, TeamMember.user_id == user.id)
            .order_by(col(Team.name))
        )
    ).all()
    skills = (
        await session.execute(
            select(Skill.name, UserSkill.level)
            .join(UserSkill, col(UserSkill.skill_id) == col(Skill.id))
            .where(UserSkill.tenant_id == user.tenant_id, UserSkill.user_id == user.id)
            .order_by(col(UserSkill.level).desc(), col(Skill.name))
        )
    ).all()
    return AccountFacts(
        site=site, teams=list(teams), skills=[(name, int(level)) for name, level in skills]
    )


async def _account_page(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    *,
    notice: str | None = None,
    error: str | None = None,
    error_for: str | None = None,
    setup: TotpSetup | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    facts = await _account_facts(session, console.user)
    return render(
        request,
        "auth/account.html",
        console.template_context(
            facts=facts,
            role=Role(console.user.role),
            is_manager=Role(console.user.role) in (Role.ADMIN, Role.SUPERVISOR),
            home=home_for(console.tenant.slug, console.user.role),
            notice=notice,
            # Errors are shown next to the form they belong to.
            form_error=error,
            error_for=error_for,
            setup=setup,
            suspended=console.tenant.status != TenantStatus.ACTIVE,
        ),
        status_code=status_code,
    )


@router.get("/t/{slug}/agent/account/")
async def account(
    request: Request, console: Console, session: DbSession, done: str | None = None
) -> HTMLResponse:
    return await _account_page(request, console, session, notice=ACCOUNT_NOTICES.get(done or ""))


@router.post("/t/{slug}/agent/account/password")
async def account_password(request: Request, console: Console, session: DbSession) -> Response:
    fields = await form_fields(request)
    new = fields.get("new_password", "")
    if new != fields.get("new_password_confirm", ""):
        return await _account_page(
            request,
            console,
            session,
            error="The two new passwords are not the same.",
            error_for="password",
            status_code=400,
        )
    try:
        await service.change_password(
            session,
            console.user,
            current=fields.get("current_password", ""),
            new=new,
            keep_session_hash=console.subject.session_token_hash,
        )
    except ProblemError as exc:
        return await _account_page(
            request,
            console,
            session,
            error=exc.detail,
            error_for="password",
            status_code=exc.status,
        )
    return redirect(f"/t/{console.tenant.slug}/agent/account/?done=password")


@router.post("/t/{slug}/agent/account/two-factor/start")
async def account_totp_start(
    request: Request, console: Console, session: DbSession, services: ServicesDep
) -> Response:
    if console.user.totp_enabled:
        return redirect(f"/t/{console.tenant.slug}/agent/account/?done=totp-already")
    secret, _uri = await service.start_totp(services, console.user)
    setup = _seal_setup(services.settings, console.user, secret)
    return await _account_page(request, console, session, setup=setup)


@router.post("/t/{slug}/agent/account/two-factor/enable")
async def account_totp_enable(
    request: Request, console: Console, session: DbSession, services: ServicesDep
) -> Response:
    fields = await form_fields(request)
    setup = _open_setup(services.settings, console.user, fields.get("setup", ""))
    if setup is None:
        return await _account_page(
            request,
            console,
            session,
            error="The setup has expired; start again.",
            error_for="totp",
            status_code=400,
        )
    try:
        await service.enable_totp(
            session, services, console.user, secret=setup.secret, code=fields.get("code", "")
        )
    except ProblemError as exc:
        return await _account_page(
            request,
            console,
            session,
            error=exc.detail,
            error_for="totp",
            setup=setup,
            status_code=exc.status,
        )
    return redirect(f"/t/{console.tenant.slug}/agent/account/?done=totp-on")


@router.post("/t/{slug}/agent/account/two-factor/disable")
async def account_totp_disable(request: Request, console: Console, session: DbSession) -> Response:
    fields = await form_fields(request)
    try:
        await service.disable_totp(session, console.user, password=fields.get("password", ""))
    except ProblemError as exc:
        return await _account_page(
            request,
            console,
            session,
            error=exc.detail,
            error_for="totp",
            status_code=exc.status,
        )
    return redirect(f"/t/{console.tenant.slug}/agent/account/?done=totp-off")


