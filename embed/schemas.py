"""Shapes of the widget administration API and of the public visitor endpoints.

What can be checked without the database is checked here (domains, colours, languages);
that a button names one of the tenant's own queues or workflows is checked by the
service.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from plateaux.embed.domains import normalise_domains
from plateaux.tenants.schemas import Input, Name, Output, Patch

SUPPORTED_LANGUAGES = ("en", "fr")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

WidgetLanguage = Literal["en", "fr"]
Greeting = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Url = Annotated[str, StringConstraints(max_length=4000)]
Text = Annotated[str, StringConstraints(max_length=2000)]


def _domains(values: list[str]) -> list[str]:
    return normalise_domains(values)


def _languages(values: list[WidgetLanguage]) -> list[WidgetLanguage]:
    if len(set(values)) != len(values):
        raise ValueError("each language once")
    return values


Domains = Annotated[list[Annotated[str, Field(max_length=300)]], Field(max_length=50),
                    AfterValidator(_domains)]
Languages = Annotated[list[WidgetLanguage], Field(min_length=1, max_length=2),
                      AfterValidator(_languages)]


class Theme(Input):
    color: str = Field(default="#2454d6", description="Launcher and header colour, #rrggbb")
    position: Literal["bottom-right", "bottom-left"] = "bottom-right"

    @model_validator(mode="after")
    def _color(self) -> Self:
        if not _COLOR.match(self.color):
            raise ValueError("the colour is #rrggbb, like #2454d6")
        self.color = self.color.lower()
        return self


class Button(Input):
    """One button of the widget and where its requests go: one of the tenant's workflows
    or queues (an enabled chat button must name one)."""

    enabled: bool = False
    workflow_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.workflow_id is not None and self.queue_id is not None:
            raise ValueError("a button feeds a workflow or a queue, not both")
        return self


class Buttons(Input):
    # Off until the admin says where chats go: a visitor is never offered a chat that
    # nobody can receive.
    chat: Button = Field(default_factory=Button)
    callback: Button = Field(default_factory=Button)
    email: Button = Field(default_factory=Button)
    # Calls from the browser, once the voice channel exists.
    call: Button = Field(default_factory=Button)


class WidgetIn(Input):
    name: Name
    allowed_domains: Domains = Field(default_factory=list)
    theme: Theme = Field(default_factory=Theme)
    greeting: dict[WidgetLanguage, Greeting] = Field(default_factory=dict)
    languages: Languages = Field(default_factory=lambda: list[WidgetLanguage](["fr", "en"]))
    default_language: WidgetLanguage = "en"
    buttons: Buttons = Field(default_factory=Buttons)

    @model_validator(mode="after")
    def _default_offered(self) -> Self:
        if self.default_language not in self.languages:
            raise ValueError("the default language must be one of the languages")
        return self


class WidgetPatch(Patch):
    name: Name | None = None
    allowed_domains: Domains | None = None
    theme: Theme | None = None
    greeting: dict[WidgetLanguage, Greeting] | None = None
    languages: Languages | None = None
    default_language: WidgetLanguage | None = None
    buttons: Buttons | None = None


class WidgetOut(Output):
    id: uuid.UUID
    name: str
    public_key: str
    allowed_domains: list[str]
    theme: dict[str, Any]
    greeting: dict[str, str]
    languages: list[str]
    default_language: str
    buttons: dict[str, dict[str, Any]]
    snippet: str = ""
    created_at: datetime
    updated_at: datetime


class WidgetWithSecret(WidgetOut):
    """Only in the answer that creates the widget or rotates its secret."""

    secret: str


class PushPageIn(Input):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


# --- public endpoints -----------------------------------------------------------------


class PageIn(BaseModel):
    url: Url
    title: Text = ""
    referrer: Url = ""


class VisitorIn(BaseModel):
    visitor_token: Annotated[str, StringConstraints(max_length=200)] | None = None
    identity: Annotated[str, StringConstraints(max_length=4000)] | None = None
    language: Annotated[str, StringConstraints(max_length=40)] | None = None
    page: PageIn | None = None


class Availability(BaseModel):
    open: bool
    agents_available: bool
    estimated_wait_seconds: float | None


class WidgetPublic(BaseModel):
    name: str
    greeting: dict[str, str]
    theme: dict[str, Any]
    buttons: list[str]
    languages: list[str]
    default_language: str


class VisitorOut(BaseModel):
    visitor_token: str
    visitor_id: uuid.UUID
    language: str
    verified: bool
    name: str | None
    widget: WidgetPublic
    availability: Availability


class VisitorSummary(Output):
    id: uuid.UUID
    widget_id: uuid.UUID
    external_id: str | None
    email: str | None
    name: str | None
    verified: bool
    language: str
    first_seen_at: datetime
    last_seen_at: datetime
    current_url: str | None
    current_title: str | None


class PageViewOut(Output):
    url: str
    title: str
    referrer: str
    at: datetime
