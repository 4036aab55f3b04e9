"""API bearer tokens: short-lived JWT access tokens and rotating refresh tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.auth.models import RefreshToken
from plateaux.platform.errors import Unauthorized
from plateaux.platform.security import hash_token, new_token, signing_key
from plateaux.platform.settings import Settings
from plateaux.platform.types import utcnow
from plateaux.tenants.models import User

ISSUER = "plateaux"


def _key(settings: Settings) -> OctKey:
    return OctKey.import_key(signing_key(settings.secret_key, "jwt"))


def issue_access_token(settings: Settings, user: User) -> str:
    now = int(utcnow().timestamp())
    claims = {
        "iss": ISSUER,
        "sub": str(user.id),
        "tid": str(user.tenant_id),
        "role": str(user.role),
        "iat": now,
        "exp": now + settings.access_token_ttl_seconds,
        "typ": "access",
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, _key(settings), algorithms=["HS256"])


def read_access_token(settings: Settings, token: str) -> dict[str, Any]:
    registry = jwt.JWTClaimsRegistry(
        now=int(utcnow().timestamp()),
        leeway=5,
        iss={"essential": True, "value": ISSUER},
        typ={"essential": True, "value": "access"},
        sub={"essential": True},
        tid={"essential": True},
        exp={"essential": True},
    )
    try:
        decoded = jwt.decode(token, _key(settings), algorithms=["HS256"])
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise Unauthorized("The access token is invalid or expired.") from exc
    return dict(decoded.claims)


async def issue_refresh_token(
    session: AsyncSession, settings: Settings, user: User, *, family_id: uuid.UUID | None = None
) -> str:
    token = new_token()
    now = utcnow()
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=hash_token(token),
            family_id=family_id or uuid.uuid4(),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return f"{user.tenant_id}.{token}"


async def rotate_refresh_token(
    session: AsyncSession, settings: Settings, token: str
) -> tuple[User, str] | None:
    """Spend a refresh token for a new one. A replayed token revokes its whole family:
    it means the token was stolen, and both holders lose access."""
    _, _, secret = token.partition(".")
    row = (
        await session.execute(
            select(RefreshToken, User)
            .join(User, col(User.id) == col(RefreshToken.user_id))
            .where(RefreshToken.token_hash == hash_token(secret))
        )
    ).first()
    if row is None:
        return None
    refresh, user = row
    now = utcnow()
    if refresh.used_at is not None or refresh.revoked_at is not None:
        await session.execute(
            update(RefreshToken)
            .where(
                col(RefreshToken.family_id) == refresh.family_id,
                col(RefreshToken.tenant_id) == refresh.tenant_id,
            )
            .values(revoked_at=now)
        )
        return None
    if refresh.expires_at <= now or not user.is_active:
        return None
    refresh.used_at = now
    new = await issue_refresh_token(session, settings, user, family_id=refresh.family_id)
    return user, new


async def revoke_refresh_tokens(session: AsyncSession, user: User) -> None:
    await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.tenant_id) == user.tenant_id,
            col(RefreshToken.user_id) == user.id,
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
