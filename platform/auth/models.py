"""Accounts, sessions and credentials."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field
from plateaux.platform.types import new_id


class Operator(SQLModel, table=True):
    """A platform operator: runs the platform, manages tenants. Not a tenant user."""

    __tablename__ = "operators"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    totp_secret_encrypted: str | None = Field(default=None, max_length=500)
    totp_enabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    last_login_at: datetime | None = timestamp_field()


class OperatorSession(SQLModel, table=True):
    __tablename__ = "operator_sessions"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    token_hash: str = Field(max_length=128, unique=True)
    operator_id: uuid.UUID = Field(foreign_key="operators.id", ondelete="CASCADE", index=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = created_at_field()
    # A session waiting for its second factor is not yet a login.
    mfa_pending: bool = False


class UserSession(TenantOwned, table=True):
    """A console login (cookie). Only the token's hash is stored."""

    __tablename__ = "user_sessions"

    token_hash: str = Field(max_length=128, unique=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = created_at_field()
    last_seen_at: datetime = created_at_field()
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=400)
    mfa_pending: bool = False


class RefreshToken(TenantOwned, table=True):
    """API refresh tokens rotate on use; reuse of a spent token revokes its whole family."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(max_length=128, unique=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    family_id: uuid.UUID = Field(index=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = created_at_field()
    used_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


class PasswordReset(TenantOwned, table=True):
    __tablename__ = "password_resets"

    token_hash: str = Field(max_length=128, unique=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = created_at_field()
    used_at: datetime | None = timestamp_field()


class SsoProvider(TenantOwned, table=True):
    """A tenant's OpenID Connect identity provider."""

    __tablename__ = "sso_providers"

    __table_args__ = (UniqueConstraint("tenant_id"),)

    issuer: str = Field(max_length=500)
    client_id: str = Field(max_length=300)
    client_secret_encrypted: str = Field(max_length=1000)
    enabled: bool = True
    # New people signing in through the provider get an account with this role when
    # their verified email is in one of the tenant's allowed domains; empty disables it.
    auto_provision_role: str | None = Field(default=None, max_length=20)
    created_at: datetime = created_at_field()


class UserIdentity(TenantOwned, table=True):
    """A user's account at the tenant's identity provider (issuer + subject)."""

    __tablename__ = "user_identities"

    __table_args__ = (UniqueConstraint("tenant_id", "issuer", "subject"),)

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    issuer: str = Field(max_length=500)
    subject: str = Field(max_length=255)
    created_at: datetime = created_at_field()
