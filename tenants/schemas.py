"""Shapes of the tenant administration API, and the input rules both the API and the
console apply (names, host names, language codes, time zones, opening hours)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, ClassVar, Self

import idna
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from plateaux.platform.auth.subject import Scope
from plateaux.tenants import hours as hours_rules

# --- field rules -----------------------------------------------------------------------

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Language tags as browsers send them: language, optional script, optional region.
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|[0-9]{3}))?$")
# Hosts a widget may be embedded in during development, without a dot.
_SINGLE_LABEL_HOSTS = frozenset({"localhost"})


def normalise_domain(value: str) -> str:
    """A website host as stored: a host name in lowercase, internationalised names in their
    ASCII (punycode) form, with an optional leading ``*.`` for every subdomain; or an IPv4
    address. ValueError otherwise."""
    text = value.strip().lower().removesuffix(".")
    wildcard = text.startswith("*.")
    host = text.removeprefix("*.")
    if not host or any(c in host for c in "*/:@?#[] \t"):
        raise ValueError(
            "not a host name: give the name alone, without scheme, port or path "
            "(shop.example.com or *.example.com)"
        )
    try:
        # IDNA 2008 with the UTS 46 mapping, as browsers do; refuses the characters and
        # label shapes a host name cannot have.
        ascii_host = idna.encode(host, uts46=True, std3_rules=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"not a host name ({exc})") from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("not a host name (example: shop.example.com)")
    if labels[-1].isdigit():
        # All-numeric: an IPv4 address (an intranet, a development machine) or nothing.
        try:
            ipaddress.IPv4Address(ascii_host)
        except ValueError as exc:
            raise ValueError("not a host name or an IPv4 address") from exc
        if wildcard:
            raise ValueError("*. goes before a host name, not an IP address")
        return ascii_host
    if len(labels) < 2 and (wildcard or ascii_host not in _SINGLE_LABEL_HOSTS):
        raise ValueError("give a full host name, such as example.com")
    return f"*.{ascii_host}" if wildcard else ascii_host


def normalise_language(value: str) -> str:
    """A language tag in its usual case (fr, pt-BR, zh-Hant-TW); ValueError otherwise."""
    match = _LANGUAGE.match(value.strip().lower())
    if not match:
        raise ValueError(f"'{value}' is not a language code (examples: fr, en, pt-BR)")
    language, script, region = match.groups()
    parts = [language]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def check_timezone(value: str) -> str:
    hours_rules.zone_of(value)
    return value


def _unique_languages(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _local_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("opening hours are local times, without a time zone")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
LongName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
City = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
Domain = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(normalise_domain)]
Language = Annotated[str, Field(min_length=2, max_length=20), AfterValidator(normalise_language)]
Languages = Annotated[
    list[Language], Field(min_length=1, max_length=30), AfterValidator(_unique_languages)
]
TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_timezone)]
LocalTime = Annotated[time, AfterValidator(_local_time)]
Level = Annotated[int, Field(ge=1, le=5, strict=True, description="1 (beginner) to 5 (expert)")]


class Input(BaseModel):
    """Request bodies refuse unknown fields: a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Patch(Input):
    """Partial updates: only the fields sent change; none of them may be null, except
    those listed in ``nullable_fields`` (null there clears the value)."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        refused = [name for name in nulls if name not in self.nullable_fields]
        if refused:
            raise ValueError(f"{', '.join(sorted(refused))} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- teams -----------------------------------------------------------------------------


class TeamIn(Input):
    name: Name
    description: Description = ""


class TeamPatch(Patch):
    name: Name | None = None
    description: Description | None = None


class TeamOut(Output):
    id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    member_ids: list[uuid.UUID] = Field(default_factory=list)


class TeamMembersIn(Input):
    user_ids: list[uuid.UUID] = Field(max_length=1000)


class TeamMemberIn(Input):
    user_id: uuid.UUID


class MemberOut(Output):
    id: uuid.UUID
    email: str
    name: str
    role: str
    is_active: bool


# --- sites -----------------------------------------------------------------------------


class SiteIn(Input):
    name: Name
    city: City = ""
    timezone: TimeZone | None = Field(
        default=None, description="When the site is not in the tenant's time zone"
    )


class SitePatch(Patch):
    nullable_fields: ClassVar[frozenset[str]] = frozenset({"timezone"})

    name: Name | None = None
    city: City | None = None
    timezone: TimeZone | None = None


class SiteOut(Output):
    id: uuid.UUID
    name: str
    city: str
    timezone: str | None
    created_at: datetime


# --- skills ----------------------------------------------------------------------------


class SkillIn(Input):
    name: Name
    description: Description = ""


class SkillPatch(Patch):
    name: Name | None = None
    description: Description | None = None


class SkillOut(Output):
    id: uuid.UUID
    name: str
    description: str
    created_at: datetime


class SkillLevel(Input):
    skill_id: uuid.UUID
    level: Level


class UserSkillsIn(Input):
    skills: list[SkillLevel] = Field(max_length=500)

    @model_validator(mode="after")
    def _each_skill_once(self) -> Self:
        ids = [s.skill_id for s in self.skills]
        if len(ids) != len(set(ids)):
            raise ValueError("each skill may appear only once")
        return self

    def levels(self) -> dict[uuid.UUID, int]:
        return {s.skill_id: s.level for s in self.skills}


class UserSkillOut(BaseModel):
    skill_id: uuid.UUID
    name: str
    level: int


class UserSkillsOut(BaseModel):
    user_id: uuid.UUID
    skills: list[UserSkillOut]


# --- website domains -------------------------------------------------------------------


class DomainIn(Input):
    domain: Domain = Field(
        description="A host name such as shop.example.com, or *.example.com for every "
        "subdomain; internationalised names are stored in their ASCII form"
    )


class DomainOut(Output):
    id: uuid.UUID
    domain: str
    created_at: datetime


# --- business hours and holidays -------------------------------------------------------


class IntervalIn(Input):
    weekday: int = Field(ge=0, le=6, strict=True, description="0 = Monday … 6 = Sunday")
    opens: LocalTime
    closes: LocalTime = Field(description="Local time; 00:00 means midnight, the day's end")

    def to_rule(self) -> hours_rules.Interval:
        return hours_rules.Interval(self.weekday, self.opens, self.closes)


class WeeklyHoursIn(Input):
    intervals: list[IntervalIn] = Field(max_length=7 * hours_rules.MAX_INTERVALS_PER_DAY)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if problem := hours_rules.validate(self.rules()):
            raise ValueError(problem)
        return self

    def rules(self) -> list[hours_rules.Interval]:
        return [i.to_rule() for i in self.intervals]


class IntervalOut(Output):
    weekday: int
    opens: time
    closes: time


class WeeklyHoursOut(BaseModel):
    timezone: str
    intervals: list[IntervalOut]


class HolidayIn(Input):
    day: date
    name: LongName


class HolidayPatch(Patch):
    day: date | None = None
    name: LongName | None = None


class HolidayOut(Output):
    id: uuid.UUID
    day: date
    name: str


class OpenNow(BaseModel):
    open: bool
    at: datetime
    next_opening: datetime | None = Field(
        description="Now when open; None when no opening is scheduled within a year"
    )
    timezone: str


# --- tenant settings -------------------------------------------------------------------


class TenantSettingsOut(Output):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    plan_code: str
    timezone: str
    default_language: str
    languages: list[str]


class TenantSettingsIn(Patch):
    name: LongName | None = None
    timezone: TimeZone | None = None
    default_language: Language | None = None
    languages: Languages | None = None


# --- API keys --------------------------------------------------------------------------


class ApiKeyIn(Input):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))

    @model_validator(mode="after")
    def _distinct_scopes(self) -> Self:
        self.scopes = sorted(set(self.scopes))
        return self


class ApiKeyOut(Output):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="Identifies the key in lists; not a secret")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str | None = Field(
        description="The full key, in this response only: store it now. A replay of the "
        "create (same Idempotency-Key) returns the key's record without it, since only a "
        "hash is kept."
    )
