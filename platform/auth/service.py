"""Signing in and out, passwords, resets and the second factor.

Failed logins are throttled twice: per account (a lockout after several failures, kept in
the database so every process agrees) and per client address (rate limiter), so neither
guessing one account's password nor spraying many accounts from one place works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.auth import sessions, tokens, totp
from plateaux.platform.auth.models import Operator, PasswordReset
from plateaux.platform.database import bind_tenant
from plateaux.platform.errors import BadRequest, Forbidden, Gone, Unauthorized
from plateaux.platform.mail import queue_mail
from plateaux.platform.ratelimit import Limit
from plateaux.platform.security import (
    hash_password,
    hash_token,
    new_token,
    password_needs_rehash,
    password_problem,
    verify_password,
)
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.tenants import repository
from plateaux.tenants.models import Tenant, TenantStatus, User
from plateaux.tenants.service import audit

LOGIN_PER_ADDRESS = Limit(count=30, seconds=300)
RESET_PER_ADDRESS = Limit(count=5, seconds=3600)
BAD_CREDENTIALS = "Wrong workspace, email or password."


@dataclass(frozen=True, slots=True)
class LoginResult:
    cookie: str
    mfa_required: bool
    user: User
    tenant: Tenant


def _locked(locked_until: object) -> bool:
    return locked_until is not None and locked_until > utcnow()  # type: ignore[operator]


async def login_user(
    session: AsyncSession,
    services: Services,
    *,
    workspace: str,
    email: str,
    password: str,
    ip: str,
    user_agent: str,
) -> LoginResult:
    settings = services.settings
    await services.limiter.check(f"login:{ip}", LOGIN_PER_ADDRESS, what="sign-in attempts")
    tenant = await repository.get_tenant_by_slug(session, workspace)
    if tenant is None:
        verify_password(None, password)
        raise Unauthorized(BAD_CREDENTIALS)
    await bind_tenant(session, tenant.id)
    user = await repository.find_user_by_email(session, tenant.id, email)
    if user is None or not user.is_active:
        verify_password(None, password)
        raise Unauthorized(BAD_CREDENTIALS)
    if _locked(user.locked_until):
        raise Unauthorized(
            "Too many failed attempts: this account is locked for a while. "
            "You can reset your password."
        )
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = utcnow() + timedelta(seconds=settings.login_lockout_seconds)
            user.failed_logins = 0
            audit(
                session, tenant.id, actor=f"address:{ip}", action="user.locked", target=user.email
            )
        await session.flush()
        # The failure count must survive the error response's rollback.
        await session.commit()
        raise Unauthorized(BAD_CREDENTIALS)
    user.failed_logins = 0
    user.locked_until = None
    if user.password_hash and password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    cookie = await sessions.open_user_session(
        session,
        user,
        max_age=settings.session_max_age_seconds,
        ip=ip,
        user_agent=user_agent,
        mfa_pending=user.totp_enabled,
    )
    if not user.totp_enabled:
        user.last_login_at = utcnow()
        audit(
            session,
            tenant.id,
            actor=f"user:{user.email}",
            action="user.login",
            target=user.email,
            ip=ip,
        )
    return LoginResult(cookie=cookie, mfa_required=user.totp_enabled, user=user, tenant=tenant)


async def complete_mfa(session: AsyncSession, services: Services, cookie: str, code: str) -> User:
    found = await sessions.resolve_user_session(session, cookie, allow_mfa_pending=True)
    if found is None:
        raise Unauthorized("The sign-in has expired; start again.")
    tenant, user, user_session = found
    await services.limiter.check(f"mfa:{user.id}", Limit(count=10, seconds=300), what="codes")
    if not user.totp_secret_encrypted or not totp.verify(
        totp.unseal(services.settings.secret_key, user.totp_secret_encrypted), code
    ):
        raise Unauthorized("That code is not valid.")
    user_session.mfa_pending = False
    user.last_login_at = utcnow()
    audit(
        session,
        tenant.id,
        actor=f"user:{user.email}",
        action="user.login",
        target=user.email,
        mfa=True,
    )
    await session.flush()
    return user


async def api_login(
    session: AsyncSession,
    services: Services,
    *,
    workspace: str,
    email: str,
    password: str,
    totp_code: str | None,
    ip: str,
) -> tuple[str, str, User]:
    """Password (and code) for an access token and a refresh token."""
    result = await login_user(
        session,
        services,
        workspace=workspace,
        email=email,
        password=password,
        ip=ip,
        user_agent="api",
    )
    user = result.user
    # The API does not use the cookie session login_user opened.
    parts = sessions.split_cookie(result.cookie)
    if parts:
        from plateaux.platform.auth.models import UserSession

        row = (
            await session.scalars(
                select(UserSession).where(
                    UserSession.tenant_id == user.tenant_id,
                    UserSession.token_hash == hash_token(parts[1]),
                )
            )
        ).first()
        if row is not None:
            await session.delete(row)
    if user.totp_enabled:
        secret = totp.unseal(services.settings.secret_key, user.totp_secret_encrypted or "")
        if not totp_code or not totp.verify(secret, totp_code):
            raise Unauthorized(
                "A valid second-factor code is required.", extra={"mfa_required": True}
            )
    access = tokens.issue_access_token(services.settings, user)
    refresh = await tokens.issue_refresh_token(session, services.settings, user)
    return access, refresh, user


async def change_password(
    session: AsyncSession, user: User, *, current: str, new: str, keep_session_hash: str | None
) -> None:
    if user.password_hash and not verify_password(user.password_hash, current):
        raise BadRequest("The current password is wrong.")
    await set_password(session, user, new, keep_session_hash=keep_session_hash)


async def set_password(
    session: AsyncSession, user: User, new: str, *, keep_session_hash: str | None
) -> None:
    """Set a password and end every other session and API refresh token of the user:
    whoever might have known the old password loses access."""
    if problem := password_problem(new):
        raise BadRequest(problem)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    await sessions.end_other_sessions(session, user, keep_hash=keep_session_hash)
    await tokens.revoke_refresh_tokens(session, user)
    audit(
        session,
        user.tenant_id,
        actor=f"user:{user.email}",
        action="user.password_changed",
        target=user.email,
    )
    await session.flush()


async def request_password_reset(
    session: AsyncSession, services: Services, *, workspace: str, email: str, ip: str
) -> None:
    """Send a reset link if the account exists; say the same thing either way."""
    await services.limiter.check(f"reset:{ip}", RESET_PER_ADDRESS, what="reset requests")
    tenant = await repository.get_tenant_by_slug(session, workspace)
    if tenant is None:
        return
    await bind_tenant(session, tenant.id)
    user = await repository.find_user_by_email(session, tenant.id, email)
    if user is None or not user.is_active:
        return
    token = new_token()
    settings = services.settings
    session.add(
        PasswordReset(
            tenant_id=tenant.id,
            user_id=user.id,
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(seconds=settings.password_reset_ttl_seconds),
        )
    )
    await session.flush()
    link = f"{settings.base_url}/t/{tenant.slug}/reset/{token}"
    queue_mail(
        session,
        to=user.email,
        subject="Reset your Plateaux password",
        text=(
            f"Hello {user.name},\n\nSomeone (hopefully you) asked to reset the "
            f"password of your {tenant.name} account. Choose a new one here within "
            f"{settings.password_reset_ttl_seconds // 60} minutes:\n{link}\n\n"
            "If it was not you, ignore this message.\n"
        ),
    )


async def reset_password(session: AsyncSession, tenant: Tenant, token: str, new: str) -> User:
    await bind_tenant(session, tenant.id)
    reset = (
        await session.scalars(
            select(PasswordReset).where(
                PasswordReset.tenant_id == tenant.id, PasswordReset.token_hash == hash_token(token)
            )
        )
    ).first()
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise Gone("This reset link has expired or was already used.")
    user = await repository.get_user(session, tenant.id, reset.user_id)
    await set_password(session, user, new, keep_session_hash=None)
    reset.used_at = utcnow()
    # Any other outstanding link for this account is spent too.
    await session.execute(
        update(PasswordReset)
        .where(
            col(PasswordReset.tenant_id) == tenant.id,
            col(PasswordReset.user_id) == user.id,
            col(PasswordReset.used_at).is_(None),
        )
        .values(used_at=utcnow())
    )
    await session.flush()
    return user


async def start_totp(services: Services, user: User) -> tuple[str, str]:
    secret = totp.new_secret()
    return secret, totp.provisioning_uri(secret, account=user.email)


async def enable_totp(
    session: AsyncSession, services: Services, user: User, *, secret: str, code: str
) -> None:
    if not totp.verify(secret, code):
        raise BadRequest("That code does not match; check the time on your phone.")
    user.totp_secret_encrypted = totp.seal(services.settings.secret_key, secret)
    user.totp_enabled = True
    audit(
        session,
        user.tenant_id,
        actor=f"user:{user.email}",
        action="user.mfa_enabled",
        target=user.email,
    )
    await session.flush()


async def disable_totp(session: AsyncSession, user: User, *, password: str) -> None:
    if not verify_password(user.password_hash, password):
        raise BadRequest("The password is wrong.")
    user.totp_enabled = False
    user.totp_secret_encrypted = None
    audit(
        session,
        user.tenant_id,
        actor=f"user:{user.email}",
        action="user.mfa_disabled",
        target=user.email,
    )
    await session.flush()


async def login_operator(
    session: AsyncSession, services: Services, *, email: str, password: str, ip: str
) -> tuple[str, Operator]:
    settings = services.settings
    await services.limiter.check(f"oplogin:{ip}", LOGIN_PER_ADDRESS, what="sign-in attempts")
    operator = (
        await session.scalars(
            select(Operator).where(Operator.email == repository.normalise_email(email))
        )
    ).first()
    if operator is None:
        verify_password(None, password)
        raise Unauthorized("Wrong email or password.")
    if _locked(operator.locked_until):
        raise Unauthorized("Too many failed attempts: this account is locked for a while.")
    if not verify_password(operator.password_hash, password):
        operator.failed_logins += 1
        if operator.failed_logins >= settings.login_max_failures:
            operator.locked_until = utcnow() + timedelta(seconds=settings.login_lockout_seconds)
            operator.failed_logins = 0
        await session.commit()
        raise Unauthorized("Wrong email or password.")
    operator.failed_logins = 0
    operator.last_login_at = utcnow()
    token = await sessions.open_operator_session(
        session,
        operator,
        max_age=settings.session_max_age_seconds,
        mfa_pending=operator.totp_enabled,
    )
    return token, operator


def ensure_tenant_active(tenant: Tenant) -> None:
    if tenant.status != TenantStatus.ACTIVE:
        raise Forbidden("This account is suspended.")
