"""Tenants and the people, teams, sites and skills that belong to them."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field
from plateaux.platform.types import new_id


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class Tenant(SQLModel, table=True):
    """A client company. Platform-level: visible to operators, not row-secured."""

    __tablename__ = "tenants"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    slug: str = Field(max_length=63, unique=True, index=True)
    name: str = Field(max_length=200)
    status: TenantStatus = Field(default=TenantStatus.ACTIVE, sa_type=String(20))
    plan_code: str = Field(default="starter", max_length=40)
    timezone: str = Field(default="Europe/Paris", max_length=64)
    default_language: str = Field(default="fr", max_length=12)
    languages: list[str] = Field(default_factory=lambda: ["fr", "en"], sa_column=Column(JSON))
    suspended_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()
    suspended_at: datetime | None = timestamp_field()


class User(TenantOwned, table=True):
    __tablename__ = "users"

    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    email: str = Field(max_length=320)
    name: str = Field(max_length=200)
    role: Role = Field(default=Role.AGENT, sa_type=String(20))
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    site_id: uuid.UUID | None = Field(default=None, foreign_key="sites.id", ondelete="SET NULL")
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    totp_secret_encrypted: str | None = Field(default=None, max_length=500)
    totp_enabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    last_login_at: datetime | None = timestamp_field()
    password_changed_at: datetime | None = timestamp_field()


class Team(TenantOwned, table=True):
    __tablename__ = "teams"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    created_at: datetime = created_at_field()


class TeamMember(TenantOwned, table=True):
    __tablename__ = "team_members"

    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    team_id: uuid.UUID = Field(foreign_key="teams.id", ondelete="CASCADE", index=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)


class Site(TenantOwned, table=True):
    __tablename__ = "sites"

    """A floor or location agents belong to (the seeds' "plateau")."""

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    city: str = Field(default="", max_length=120)
    timezone: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()


class Skill(TenantOwned, table=True):
    __tablename__ = "skills"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    created_at: datetime = created_at_field()


class UserSkill(TenantOwned, table=True):
    __tablename__ = "user_skills"

    __table_args__ = (UniqueConstraint("user_id", "skill_id"),)

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    skill_id: uuid.UUID = Field(foreign_key="skills.id", ondelete="CASCADE", index=True)
    level: int = Field(ge=1, le=5)


class AllowedDomain(TenantOwned, table=True):
    """A website domain the tenant's widgets may be embedded in."""

    __tablename__ = "allowed_domains"

    __table_args__ = (UniqueConstraint("tenant_id", "domain"),)

    domain: str = Field(max_length=253)
    created_at: datetime = created_at_field()


class BusinessHours(TenantOwned, table=True):
    """An opening interval on a weekday (0 = Monday), in the tenant's time zone."""

    __tablename__ = "business_hours"

    weekday: int = Field(ge=0, le=6)
    opens: time
    closes: time


class Holiday(TenantOwned, table=True):
    __tablename__ = "holidays"

    __table_args__ = (UniqueConstraint("tenant_id", "day"),)

    day: date
    name: str = Field(max_length=200)


class Invitation(TenantOwned, table=True):
    __tablename__ = "invitations"

    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    role: Role = Field(default=Role.AGENT, sa_type=String(20))
    token_hash: str = Field(max_length=128, unique=True)
    invited_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    expires_at: datetime = created_at_field()
    accepted_at: datetime | None = timestamp_field()


class ApiKey(TenantOwned, table=True):
    """A tenant API key. Only a hash of the secret is kept; the key is shown once."""

    __tablename__ = "api_keys"

    name: str = Field(max_length=120)
    prefix: str = Field(max_length=16, index=True)
    secret_hash: str = Field(max_length=128)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


class AuditEntry(TenantOwned, table=True):
    """Who did what in a tenant: the activity operators and admins review."""

    __tablename__ = "audit_entries"

    actor: str = Field(max_length=200)
    action: str = Field(max_length=80, index=True)
    target: str = Field(default="", max_length=200)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = created_at_field()
