"""API shapes of the help desk."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plateaux.helpdesk.models import MAX_LEVEL, ArticleStatus, Priority

LANGUAGE = re.compile(r"^[a-z]{2}(-[a-z]{2})?$")
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
CHANNELS = ("chat", "form", "email", "webform", "phone", "webcall", "callback", "video")
Channel = Literal["chat", "form", "email", "webform", "phone", "webcall", "callback", "video"]
Scalar = str | int | float | bool | None
DEFAULT_AUTO: tuple[Channel, ...] = ("email", "webform")


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    clean = value.strip().lower().replace("_", "-")
    if not LANGUAGE.match(clean):
        raise ValueError("a language is an ISO 639-1 code such as 'en' or 'pt-br'")
    return clean


def _kb_language(value: str) -> str:
    clean = value.strip().lower()
    if not re.match(r"^[a-z]{2}$", clean):
        raise ValueError("a knowledge base language is a two-letter ISO 639-1 code ('en')")
    return clean


def _labels(values: list[str], *, size: int = 80) -> list[str]:
    clean: list[str] = []
    for value in values:
        text = value.strip()
        if not text or len(text) > size:
            raise ValueError(f"each value is 1 to {size} characters")
        if text not in clean:
            clean.append(text)
    return clean


# --- cases -----------------------------------------------------------------------------------


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=300,
                                description="Taken from the contact when left out")
    description: str = Field(default="", max_length=20000)
    contact_id: uuid.UUID | None = Field(default=None,
                                         description="The contact the case starts from")
    person_id: uuid.UUID | None = None
    priority: Priority = Priority.NORMAL
    category: str | None = Field(default=None, max_length=80)
    level: int = Field(default=1, ge=1, le=MAX_LEVEL)
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    status: Literal["new", "open", "pending"] | None = None


class CasePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    priority: Priority | None = None
    category: str | None = Field(default=None, max_length=80,
                                 description="Empty removes it")
    level: int | None = Field(default=None, ge=1, le=MAX_LEVEL)
    owner_id: uuid.UUID | None = Field(default=None, description="null unassigns")
    team_id: uuid.UUID | None = Field(default=None, description="null removes the team")
    person_id: uuid.UUID | None = None
    status: Literal["new", "open", "pending"] | None = None


class SolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution_code: str | None = Field(default=None, max_length=40)
    resolution_note: str = Field(default="", max_length=2000)
    close: bool = Field(default=False, description="Close at once instead of solving")


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class EscalateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: int | None = Field(default=None, ge=1, le=MAX_LEVEL,
                              description="One level up when neither is given")
    team_id: uuid.UUID | None = None
    note: str = Field(default="", max_length=2000)


class CaseNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=10000)


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: uuid.UUID


class CaseContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    contact_id: uuid.UUID
    channel: str
    conversation_id: uuid.UUID | None
    email_thread_id: uuid.UUID | None
    linked_by: str
    created_at: datetime


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: int
    subject: str
    description: str
    status: str
    priority: str
    category: str | None
    level: int
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    person_id: uuid.UUID | None
    channel: str | None
    source: str
    language: str | None
    follow_up_of_id: uuid.UUID | None
    sla_policy_id: uuid.UUID | None
    sla: dict[str, Any]
    sla_breached: bool
    resolution_code: str | None
    resolution_note: str
    escalations: int
    csat_score: int | None
    csat_comment: str | None
    csat_source: str | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None


class CasePage(BaseModel):
    items: list[CaseOut]
    total: int
    offset: int
    limit: int


class CaseEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    actor_name: str
    body: str
    data: dict[str, Any]
    created_at: datetime


class EscalationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    from_level: int
    to_level: int
    from_team_id: uuid.UUID | None
    to_team_id: uuid.UUID | None
    reason: str
    metric: str | None
    note: str
    actor_name: str
    created_at: datetime


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID | None
    kind: str
    title: str
    body: str
    read_at: datetime | None
    created_at: datetime


# --- SLA policies ----------------------------------------------------------------------------

MINUTES = Field(default=None, ge=1, le=525600)


class SlaPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    position: int = Field(default=0, ge=0, le=10000)
    active: bool = True
    priorities: list[Priority] = Field(default_factory=list, max_length=4)
    categories: list[str] = Field(default_factory=list, max_length=100)
    channels: list[Channel] = Field(default_factory=list, max_length=len(CHANNELS))
    first_response_minutes: int | None = MINUTES
    next_response_minutes: int | None = MINUTES
    resolution_minutes: int | None = MINUTES
    business_hours: bool = True
    at_risk_percent: int = Field(default=75, ge=1, le=100)
    escalate_at_risk: bool = True
    escalate_on_breach: bool = True
    escalation_team_id: uuid.UUID | None = None

    _categories = field_validator("categories")(_labels)


class SlaPolicyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    position: int | None = Field(default=None, ge=0, le=10000)
    active: bool | None = None
    priorities: list[Priority] | None = Field(default=None, max_length=4)
    categories: list[str] | None = Field(default=None, max_length=100)
    channels: list[Channel] | None = Field(default=None, max_length=len(CHANNELS))
    first_response_minutes: int | None = MINUTES
    next_response_minutes: int | None = MINUTES
    resolution_minutes: int | None = MINUTES
    business_hours: bool | None = None
    at_risk_percent: int | None = Field(default=None, ge=1, le=100)
    escalate_at_risk: bool | None = None
    escalate_on_breach: bool | None = None
    escalation_team_id: uuid.UUID | None = None

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _labels(value)


class SlaPolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    position: int
    active: bool
    priorities: list[str]
    categories: list[str]
    channels: list[str]
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    business_hours: bool
    at_risk_percent: int
    escalate_at_risk: bool
    escalate_on_breach: bool
    escalation_team_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


# --- settings and resolution codes -----------------------------------------------------------


class HelpdeskSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_case_channels: list[Channel] = Field(default_factory=lambda: list(DEFAULT_AUTO),
                                              max_length=len(CHANNELS))
    categories: list[str] = Field(default_factory=list, max_length=200)
    auto_close_days: int = Field(default=4, ge=1, le=365)
    csat_enabled: bool = True
    help_center_enabled: bool = False
    help_center_title: str = Field(default="", max_length=200)
    help_center_intro: str = Field(default="", max_length=1000)
    kb_languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1,
                                    max_length=30)
    kb_default_language: str = Field(default="en", max_length=10)

    _categories = field_validator("categories")(_labels)

    @field_validator("kb_languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_kb_language(v) for v in value))

    @field_validator("kb_default_language")
    @classmethod
    def _default(cls, value: str) -> str:
        return _kb_language(value)


class HelpdeskSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    auto_case_channels: list[str]
    categories: list[str]
    auto_close_days: int
    csat_enabled: bool
    help_center_enabled: bool
    help_center_title: str
    help_center_intro: str
    kb_languages: list[str]
    kb_default_language: str


class ResolutionCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40)
    label: str = Field(min_length=1, max_length=120)
    position: int = Field(default=0, ge=0, le=10000)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        clean = value.strip().lower()
        if not KEY.match(clean):
            raise ValueError("codes are lowercase letters, digits, '-' and '_'")
        return clean


class ResolutionCodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    label: str
    position: int


# --- quality ---------------------------------------------------------------------------------


class CriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=40)
    label: str = Field(min_length=1, max_length=200)
    weight: float = Field(default=1.0, gt=0, le=100)
    description: str = Field(default="", max_length=1000)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        clean = value.strip().lower()
        if not KEY.match(clean):
            raise ValueError("keys are lowercase letters, digits, '-' and '_'")
        return clean


class ScorecardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    criteria: list[CriterionIn] = Field(min_length=1, max_length=50)
    active: bool = True


class ScorecardPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    criteria: list[CriterionIn] | None = Field(default=None, min_length=1, max_length=50)
    active: bool | None = None


class ScorecardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    criteria: list[dict[str, Any]]
    active: bool
    created_at: datetime
    updated_at: datetime


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scorecard_id: uuid.UUID
    scores: dict[str, int | None] = Field(
        description="Each criterion's key: 0 (not met) to 5 (fully met), null when it "
                    "does not apply")
    comment: str = Field(default="", max_length=10000)


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    scorecard_id: uuid.UUID | None
    scorecard_name: str
    criteria: list[dict[str, Any]]
    scores: dict[str, Any]
    comment: str
    percent: float
    agent_id: uuid.UUID | None
    reviewer_name: str
    created_at: datetime


class SatisfactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


# --- scripts ---------------------------------------------------------------------------------


class ChoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=100)
    label: str = Field(min_length=1, max_length=200)
    next: str | None = Field(default=None, max_length=40,
                             description="The step this answer leads to")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=40)
    kind: Literal["say", "question", "end"]
    text: str = Field(min_length=1, max_length=5000)
    answer: Literal["text", "choice", "yes_no", "number", "date"] | None = None
    choices: list[ChoiceIn] = Field(default_factory=list, max_length=50)
    next: str | None = Field(default=None, max_length=40)
    required: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError("step ids are letters, digits, '-' and '_'")
        return value


class ScriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    active: bool = True
    queue_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    campaigns: list[str] = Field(default_factory=list, max_length=100)
    language: str | None = Field(default=None, max_length=10)
    start: str | None = Field(default=None, max_length=40,
                              description="The first step; the first of the list when left out")
    steps: list[StepIn] = Field(min_length=1, max_length=200)

    _campaigns = field_validator("campaigns")(_labels)
    _language = field_validator("language")(_language)


class ScriptPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    active: bool | None = None
    queue_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    campaigns: list[str] | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=10)
    start: str | None = Field(default=None, max_length=40)
    steps: list[StepIn] | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("campaigns")
    @classmethod
    def _campaigns(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _labels(value)

    _language = field_validator("language")(_language)


class ScriptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    active: bool
    queue_ids: list[str]
    campaigns: list[str]
    language: str | None
    start: str
    steps: list[dict[str, Any]]
    version: int
    created_at: datetime
    updated_at: datetime


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str = Field(min_length=1, max_length=40)
    value: Scalar = Field(default=None, description="The answer (none for a 'say' step)")


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    script_id: uuid.UUID | None
    script_name: str
    script_version: int
    steps: list[dict[str, Any]]
    start: str
    contact_id: uuid.UUID | None
    case_id: uuid.UUID | None
    agent_name: str
    answers: dict[str, Any]
    path: list[str]
    current: str | None
    status: str
    started_at: datetime
    completed_at: datetime | None


# --- knowledge base --------------------------------------------------------------------------


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: dict[str, str] = Field(description="The name in each language: {'en': 'Billing'}")
    parent_id: uuid.UUID | None = None
    position: int = Field(default=0, ge=0, le=10000)

    @field_validator("names")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        return _names(value)


def _names(value: dict[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for language, name in value.items():
        text = name.strip()
        if not text or len(text) > 120:
            raise ValueError("names are 1 to 120 characters")
        clean[_kb_language(language)] = text
    if not clean or len(clean) > 30:
        raise ValueError("give the name in 1 to 30 languages")
    return clean


class CategoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: dict[str, str] | None = None
    parent_id: uuid.UUID | None = Field(default=None, description="null moves it to the top")
    position: int | None = Field(default=None, ge=0, le=10000)

    @field_validator("names")
    @classmethod
    def _names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _names(value)


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    parent_id: uuid.UUID | None
    names: dict[str, str]
    position: int


class TranslationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(min_length=2, max_length=10)
    title: str = Field(min_length=1, max_length=300)
    body_html: str = Field(default="", max_length=200_000,
                           description="HTML; sanitised when stored")
    keywords: list[str] = Field(default_factory=list, max_length=50)

    _language = field_validator("language")(_kb_language)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        words = _labels([v.replace(",", " ") for v in value], size=60)
        return [w.lower() for w in words]


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category_id: uuid.UUID | None = None
    status: ArticleStatus = ArticleStatus.DRAFT
    visibility: Literal["public", "internal"] = "public"
    position: int = Field(default=0, ge=0, le=10000)
    translations: list[TranslationIn] = Field(min_length=1, max_length=30)


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category_id: uuid.UUID | None = None
    status: ArticleStatus | None = None
    visibility: Literal["public", "internal"] | None = None
    position: int | None = Field(default=None, ge=0, le=10000)
    translations: list[TranslationIn] | None = Field(
        default=None, max_length=30,
        description="Translations to add or replace (by language)")
    remove_languages: list[str] = Field(default_factory=list, max_length=30)


class TranslationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    language: str
    title: str
    slug: str
    body_html: str
    body_text: str
    keywords: list[str]
    updated_at: datetime

    @field_validator("keywords", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k for k in value.split(",") if k]
        return value


class ArticleOut(BaseModel):
    id: uuid.UUID
    category_id: uuid.UUID | None
    status: str
    visibility: str
    position: int
    view_count: int
    sent_count: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    translations: list[TranslationOut]


class ArticleHitOut(BaseModel):
    article_id: uuid.UUID
    language: str
    title: str
    snippet: str
    score: float
    visibility: str
    url: str | None = Field(default=None, description="On the public help center")


class SendArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: uuid.UUID
    language: str | None = Field(default=None, max_length=10)


class SentArticleOut(BaseModel):
    channel: str
    conversation_id: uuid.UUID | None = None
    email_message_id: uuid.UUID | None = None
    text: str


# --- the console's panel ---------------------------------------------------------------------


class PanelOut(BaseModel):
    contact_id: uuid.UUID
    case: CaseOut | None
    open_cases: list[CaseOut] = Field(description="The person's other unfinished cases")
    scripts: list[ScriptOut] = Field(description="Scripts for this contact's queue or campaign")
    runs: list[RunOut]
    resolution_codes: list[ResolutionCodeOut]
    categories: list[str]


class CaseDetailOut(BaseModel):
    case: CaseOut
    contacts: list[CaseContactOut]
    events: list[CaseEventOut]
    escalations: list[EscalationOut]
    runs: list[RunOut]
    reviews: list[ReviewOut]
