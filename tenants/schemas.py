"""Shapes of the tenant administration API."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from plateaux.platform.auth.subject import Scope

HOSTNAME = re.compile(
    r"^(\*\.)?(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not HOSTNAME.match(value):
        raise ValueError("not a host name (example: shop.example.com or *.example.com)")
    return value


def _language(value: str) -> str:
    if not LANGUAGE.match(value):
        raise ValueError("not a language code (examples: fr, en, pt-BR)")
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown time zone") from exc
    return value


Name = Annotated[str, Field(min_length=1, max_length=120)]
Domain = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_domain)]
Language = Annotated[str, Field(min_length=2, max_length=12), AfterValidator(_language)]
TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_timezone)]


class Named(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime


class TeamIn(BaseModel):
    name: Name
    description: str = Field(default="", max_length=1000)


class TeamOut(Named):
    description: str
    member_ids: list[uuid.UUID] = Field(default_factory=list)


class TeamMembersIn(BaseModel):
    user_ids: list[uuid.UUID] = Field(max_length=1000)


class SiteIn(BaseModel):
    name: Name
    city: str = Field(default="", max_length=120)
    timezone: TimeZone | None = None


class SiteOut(Named):
    city: str
    timezone: str | None


class SkillIn(BaseModel):
    name: Name
    description: str = Field(default="", max_length=1000)


class SkillOut(Named):
    description: str


class SkillLevel(BaseModel):
    skill_id: uuid.UUID
    level: int = Field(ge=1, le=5)


class UserSkillsIn(BaseModel):
    skills: list[SkillLevel] = Field(max_length=200)


class UserSkillOut(BaseModel):
    skill_id: uuid.UUID
    name: str
    level: int


class DomainIn(BaseModel):
    domain: Domain


class DomainOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    domain: str
    created_at: datetime


class IntervalIn(BaseModel):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    opens: time
    closes: time


class WeeklyHoursIn(BaseModel):
    intervals: list[IntervalIn] = Field(max_length=100)


class IntervalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    weekday: int
    opens: time
    closes: time


class HolidayIn(BaseModel):
    day: date
    name: Name


class HolidayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    day: date
    name: str


class TenantSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    status: str
    plan_code: str
    timezone: str
    default_language: str
    languages: list[str]


class TenantSettingsIn(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: TimeZone | None = None
    default_language: Language | None = None
    languages: list[Language] | None = Field(default=None, min_length=1, max_length=30)


class OpenNow(BaseModel):
    open: bool
    next_opening: datetime | None


class ApiKeyIn(BaseModel):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=20)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. Shown once: store it now.")
