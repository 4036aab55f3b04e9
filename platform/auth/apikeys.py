"""Tenant API keys: ``plx_<tenant>_<prefix>_<secret>``, stored as a hash, shown once."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from plateaux.platform.database import bind_tenant
from plateaux.platform.security import constant_time_equal, hash_token
from plateaux.platform.types import utcnow
from plateaux.tenants.models import ApiKey

KEY_PREFIX = "plx"


def generate_key(tenant_id: uuid.UUID) -> tuple[str, str, str]:
    """Return (full key, lookup prefix, secret hash)."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    full = f"{KEY_PREFIX}_{tenant_id.hex}_{prefix}_{secret}"
    return full, prefix, hash_token(secret)


def parse_key(value: str) -> tuple[uuid.UUID, str, str] | None:
    parts = value.split("_", 3)
    if len(parts) != 4 or parts[0] != KEY_PREFIX:
        return None
    try:
        return uuid.UUID(hex=parts[1]), parts[2], parts[3]
    except ValueError:
        return None


async def authenticate_key(session: AsyncSession, value: str) -> ApiKey | None:
    parsed = parse_key(value)
    if parsed is None:
        return None
    tenant_id, prefix, secret = parsed
    await bind_tenant(session, tenant_id)
    candidates: Iterable[ApiKey] = (
        await session.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.prefix == prefix)
        )
    ).all()
    wanted = hash_token(secret)
    for key in candidates:
        if key.revoked_at is None and constant_time_equal(key.secret_hash, wanted):
            now = utcnow()
            if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
                key.last_used_at = now
            return key
    return None
