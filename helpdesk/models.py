"""Help desk tables: cases with the contacts they group and their activity, SLA policies,
escalations, notifications, resolution codes, scorecards and reviews, call scripts with
their runs, the knowledge base (categories, articles, one translation per language) and
the tenant's help desk settings.

Every table is tenant-owned (row-level security on PostgreSQL).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting for the customer: the resolution clock pauses
    SOLVED = "solved"
    CLOSED = "closed"  # final; a customer writing again opens a follow-up case


ACTIVE_STATUSES = frozenset({CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING})
DONE_STATUSES = frozenset({CaseStatus.SOLVED, CaseStatus.CLOSED})


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


MAX_LEVEL = 4


class Case(TenantOwned, table=True):
    __tablename__ = "helpdesk_cases"

    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_helpdesk_cases_status", "tenant_id", "status", "updated_at"),
        Index("ix_helpdesk_cases_person", "tenant_id", "person_id"),
        Index("ix_helpdesk_cases_owner", "tenant_id", "owner_id", "status"),
        Index("ix_helpdesk_cases_check", "tenant_id", "next_check_at"),
    )

    number: int
    subject: str = Field(max_length=300)
    description: str = Field(default="", sa_type=Text)
    status: str = Field(default=CaseStatus.NEW.value, max_length=10)
    priority: str = Field(default=Priority.NORMAL.value, max_length=10)
    category: str | None = Field(default=None, max_length=80)
    level: int = 1
    owner_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                       ondelete="SET NULL")
    team_id: uuid.UUID | None = Field(default=None, foreign_key="teams.id",
                                      ondelete="SET NULL")
    person_id: uuid.UUID | None = Field(default=None, foreign_key="crm_people.id",
                                        ondelete="SET NULL")
    channel: str | None = Field(default=None, max_length=20)
    source: str = Field(default="agent", max_length=10)  # agent | rule | api
    language: str | None = Field(default=None, max_length=10)
    follow_up_of_id: uuid.UUID | None = Field(default=None, foreign_key="helpdesk_cases.id",
                                              ondelete="SET NULL")
    sla_policy_id: uuid.UUID | None = Field(default=None,
                                            foreign_key="helpdesk_sla_policies.id",
                                            ondelete="SET NULL")
    # Per metric (first_response, next_response, resolution): target, elapsed, due,
    # state and what was already announced; kept by the SLA evaluation.
    sla: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    sla_breached: bool = False
    # When the SLA evaluation must look at this case again (a due or at-risk instant).
    next_check_at: datetime | None = timestamp_field()
    # [[iso instant, status], ...]: the resolution clock runs in new and open only.
    status_log: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON))
    resolution_code: str | None = Field(default=None, max_length=40)
    resolution_note: str = Field(default="", max_length=2000)
    escalations: int = 0
    csat_score: int | None = None
    csat_comment: str | None = Field(default=None, max_length=2000)
    csat_source: str | None = Field(default=None, max_length=10)  # email | chat
    csat_at: datetime | None = timestamp_field()
    csat_sent_at: datetime | None = timestamp_field()
    # SHA-256 of the survey link's secret (the link itself is only in the email).
    csat_token_hash: str | None = Field(default=None, max_length=64)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                            ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    first_response_at: datetime | None = timestamp_field()
    solved_at: datetime | None = timestamp_field()
    closed_at: datetime | None = timestamp_field()


class CaseContact(TenantOwned, table=True):
    """A contact (chat, email, call, form) grouped in a case; a contact is in one case."""

    __tablename__ = "helpdesk_case_contacts"

    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id"),
        Index("ix_helpdesk_case_contacts_case", "tenant_id", "case_id"),
        Index("ix_helpdesk_case_contacts_thread", "tenant_id", "email_thread_id"),
    )

    case_id: uuid.UUID = Field(foreign_key="helpdesk_cases.id", ondelete="CASCADE")
    contact_id: uuid.UUID = Field(foreign_key="contacts.id", ondelete="CASCADE")
    channel: str = Field(max_length=20)
    conversation_id: uuid.UUID | None = None
    email_thread_id: uuid.UUID | None = None
    linked_by: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class CaseEvent(TenantOwned, table=True):
    """The case's activity: creation, changes, notes, escalations, SLA alerts, closure,
    satisfaction, reviews, scripts run and articles sent."""

    __tablename__ = "helpdesk_case_events"

    __table_args__ = (Index("ix_helpdesk_case_events_case", "tenant_id", "case_id",
                            "created_at"),)

    case_id: uuid.UUID = Field(foreign_key="helpdesk_cases.id", ondelete="CASCADE")
    kind: str = Field(max_length=30)
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                       ondelete="SET NULL")
    actor_name: str = Field(default="", max_length=200)
    body: str = Field(default="", sa_type=Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = created_at_field()


class SlaPolicy(TenantOwned, table=True):
    """Targets for the cases it applies to: the first policy (by position) whose
    conditions all hold is the case's."""

    __tablename__ = "helpdesk_sla_policies"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    position: int = 0
    active: bool = True
    # Conditions; an empty list matches any value.
    priorities: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None
    resolution_minutes: int | None = None
    # Targets count the tenant's opening hours (minus holidays), or calendar time.
    business_hours: bool = True
    at_risk_percent: int = 75
    escalate_at_risk: bool = True
    escalate_on_breach: bool = True
    # Escalation goes to this team when set, else one support level up.
    escalation_team_id: uuid.UUID | None = Field(default=None, foreign_key="teams.id",
                                                 ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Escalation(TenantOwned, table=True):
    __tablename__ = "helpdesk_escalations"

    __table_args__ = (Index("ix_helpdesk_escalations_case", "tenant_id", "case_id"),)

    case_id: uuid.UUID = Field(foreign_key="helpdesk_cases.id", ondelete="CASCADE")
    from_level: int
    to_level: int
    from_team_id: uuid.UUID | None = Field(default=None, foreign_key="teams.id",
                                           ondelete="SET NULL")
    to_team_id: uuid.UUID | None = Field(default=None, foreign_key="teams.id",
                                         ondelete="SET NULL")
    reason: str = Field(max_length=20)  # manual | sla_at_risk | sla_breached
    metric: str | None = Field(default=None, max_length=20)
    note: str = Field(default="", max_length=2000)
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                       ondelete="SET NULL")
    actor_name: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class Notification(TenantOwned, table=True):
    """What a user was told about a case (shown in the console, also sent by email)."""

    __tablename__ = "helpdesk_notifications"

    __table_args__ = (Index("ix_helpdesk_notifications_user", "tenant_id", "user_id",
                            "created_at"),)

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    case_id: uuid.UUID | None = Field(default=None, foreign_key="helpdesk_cases.id",
                                      ondelete="CASCADE")
    kind: str = Field(max_length=30)
    title: str = Field(max_length=300)
    body: str = Field(default="", max_length=1000)
    read_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class ResolutionCode(TenantOwned, table=True):
    __tablename__ = "helpdesk_resolution_codes"

    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: str = Field(max_length=40)
    label: str = Field(max_length=120)
    position: int = 0
    created_at: datetime = created_at_field()


class Scorecard(TenantOwned, table=True):
    """Quality criteria with their weights: [{"key", "label", "weight", "description"}]."""

    __tablename__ = "helpdesk_scorecards"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    criteria: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    active: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Review(TenantOwned, table=True):
    """A supervisor's review of a finished case with a scorecard (its criteria copied, so
    a later change of the scorecard leaves past reviews as they were)."""

    __tablename__ = "helpdesk_reviews"

    __table_args__ = (
        UniqueConstraint("tenant_id", "case_id", "scorecard_id"),
        Index("ix_helpdesk_reviews_agent", "tenant_id", "agent_id", "created_at"),
    )

    case_id: uuid.UUID = Field(foreign_key="helpdesk_cases.id", ondelete="CASCADE")
    scorecard_id: uuid.UUID | None = Field(default=None, foreign_key="helpdesk_scorecards.id",
                                           ondelete="SET NULL")
    scorecard_name: str = Field(max_length=120)
    criteria: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    scores: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    comment: str = Field(default="", sa_type=Text)
    percent: float
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                       ondelete="SET NULL")
    reviewer_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                          ondelete="SET NULL")
    reviewer_name: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class Script(TenantOwned, table=True):
    """A call script: steps (things to say, questions) joined by branches, for the
    contacts of some queues or campaigns."""

    __tablename__ = "helpdesk_scripts"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    active: bool = True
    queue_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    campaigns: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    language: str | None = Field(default=None, max_length=10)
    start: str = Field(max_length=40)
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    version: int = 1
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class ScriptRun(TenantOwned, table=True):
    """One agent following a script on a contact: the answers, stored with the contact
    (and its case), and the version of the script they answered."""

    __tablename__ = "helpdesk_script_runs"

    __table_args__ = (
        Index("ix_helpdesk_script_runs_contact", "tenant_id", "contact_id"),
        Index("ix_helpdesk_script_runs_case", "tenant_id", "case_id"),
    )

    script_id: uuid.UUID | None = Field(default=None, foreign_key="helpdesk_scripts.id",
                                        ondelete="SET NULL")
    script_name: str = Field(max_length=120)
    script_version: int
    start: str = Field(max_length=40)
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id",
                                         ondelete="SET NULL")
    case_id: uuid.UUID | None = Field(default=None, foreign_key="helpdesk_cases.id",
                                      ondelete="SET NULL")
    person_id: uuid.UUID | None = Field(default=None, foreign_key="crm_people.id",
                                        ondelete="SET NULL")
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                       ondelete="SET NULL")
    agent_name: str = Field(default="", max_length=200)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    path: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    current: str | None = Field(default=None, max_length=40)
    status: str = Field(default="in_progress", max_length=12)
    started_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    completed_at: datetime | None = timestamp_field()


class KbCategory(TenantOwned, table=True):
    """A node of the knowledge base's category tree; its name in each language."""

    __tablename__ = "helpdesk_kb_categories"

    parent_id: uuid.UUID | None = Field(default=None, foreign_key="helpdesk_kb_categories.id",
                                        ondelete="CASCADE")
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    position: int = 0
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class KbArticle(TenantOwned, table=True):
    __tablename__ = "helpdesk_kb_articles"

    __table_args__ = (Index("ix_helpdesk_kb_articles_category", "tenant_id", "category_id"),)

    category_id: uuid.UUID | None = Field(default=None, foreign_key="helpdesk_kb_categories.id",
                                          ondelete="SET NULL")
    status: str = Field(default=ArticleStatus.DRAFT.value, max_length=10)
    # public: also on the help center; internal: agents only.
    visibility: str = Field(default="public", max_length=10)
    position: int = 0
    author_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                        ondelete="SET NULL")
    view_count: int = 0
    sent_count: int = 0
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    published_at: datetime | None = timestamp_field()


class KbTranslation(TenantOwned, table=True):
    """An article in one language. ``body_html`` is sanitised when stored; ``body_text``
    and ``search_text`` are what full-text search and the chat read."""

    __tablename__ = "helpdesk_kb_translations"

    __table_args__ = (
        UniqueConstraint("article_id", "language"),
        Index("ix_helpdesk_kb_translations_language", "tenant_id", "language"),
    )

    article_id: uuid.UUID = Field(foreign_key="helpdesk_kb_articles.id", ondelete="CASCADE")
    language: str = Field(max_length=10)
    title: str = Field(max_length=300)
    slug: str = Field(max_length=120)
    body_html: str = Field(default="", sa_type=Text)
    body_text: str = Field(default="", sa_type=Text)
    keywords: str = Field(default="", max_length=1000)  # comma-separated
    search_text: str = Field(default="", sa_type=Text)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class HelpdeskSettings(TenantOwned, table=True):
    """One row per tenant."""

    __tablename__ = "helpdesk_settings"

    __table_args__ = (UniqueConstraint("tenant_id"),)

    # Contacts of these channels open a case by themselves (a reply on the same email
    # thread joins its case): by default emails and the site's email form. The rest open
    # one when an agent decides.
    auto_case_channels: list[str] = Field(default_factory=lambda: ["email", "webform"],
                                          sa_column=Column(JSON))
    # When not empty, a case's category is one of these.
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    last_case_number: int = 0
    # Solved cases close by themselves after this many days without a customer's reply.
    auto_close_days: int = 4
    csat_enabled: bool = True
    help_center_enabled: bool = False
    help_center_title: str = Field(default="", max_length=200)
    help_center_intro: str = Field(default="", max_length=1000)
    kb_languages: list[str] = Field(default_factory=lambda: ["en"], sa_column=Column(JSON))
    kb_default_language: str = Field(default="en", max_length=10)
    updated_at: datetime = created_at_field()


TENANT_TABLES = (
    "helpdesk_settings", "helpdesk_sla_policies", "helpdesk_cases", "helpdesk_case_contacts",
    "helpdesk_case_events", "helpdesk_escalations", "helpdesk_notifications",
    "helpdesk_resolution_codes", "helpdesk_scorecards", "helpdesk_reviews",
    "helpdesk_scripts", "helpdesk_script_runs", "helpdesk_kb_categories",
    "helpdesk_kb_articles", "helpdesk_kb_translations",
)

__all__ = [
    "ACTIVE_STATUSES",
    "DONE_STATUSES",
    "MAX_LEVEL",
    "ArticleStatus",
    "Case",
    "CaseContact",
    "CaseEvent",
    "CaseStatus",
    "Escalation",
    "HelpdeskSettings",
    "KbArticle",
    "KbCategory",
    "KbTranslation",
    "Notification",
    "Priority",
    "ResolutionCode",
    "Review",
    "Scorecard",
    "Script",
    "ScriptRun",
    "SlaPolicy",
]
