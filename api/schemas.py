"""Shapes of the authentication and user API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from plateaux.tenants.models import Role


class TokenRequest(BaseModel):
    workspace: str = Field(min_length=1, max_length=63, description="The tenant identifier")
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(default=None, max_length=12)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=500)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth token type, not a secret)
    expires_in: int


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: Role
    is_active: bool
    site_id: uuid.UUID | None
    languages: list[str]
    totp_enabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    password: str | None = Field(default=None, min_length=10, max_length=256)
    languages: list[str] = Field(default_factory=list, max_length=20)


class UserUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    site_id: uuid.UUID | None = None
    languages: list[str] | None = Field(default=None, max_length=20)


class InvitationCreate(BaseModel):
    email: EmailStr
    name: str = Field(default="", max_length=200)
    role: Role = Role.AGENT


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime
