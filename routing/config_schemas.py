"""Shapes of the routing configuration API: queues, workflows, agents' routing profiles and
away reasons.

What can be checked without the database is checked here (ranges, enums, a threshold's
minimum under its maximum); references to the tenant's own rows (queues, skills, sites,
users) and the workflow document are checked by the service.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from plateaux.routing.state import Channel, Ordering, Strategy
from plateaux.tenants.schemas import Description, Input, Name, Output, Patch

Seconds = Annotated[float, Field(ge=0, le=86_400)]
PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]
Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0, le=10_000)]
_REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _reason_code(value: str) -> str:
    code = value.strip().lower()
    if not _REASON_CODE.match(code):
        raise ValueError("a code is 1 to 40 lowercase letters, digits or _, starting with a "
                         "letter (lunch, team_meeting)")
    return code


ReasonCode = Annotated[str, Field(min_length=1, max_length=60), AfterValidator(_reason_code)]
ReasonLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


# --- queues ----------------------------------------------------------------------------


class ThresholdIn(Input):
    """A limit on the share of a queue's traffic taken by the agents of a site, or those
    with a skill at ``min_level`` or more (both: agents matching both)."""

    site: uuid.UUID | None = Field(default=None, description="A site of the tenant")
    skill: uuid.UUID | None = Field(default=None, description="A skill of the tenant")
    min_level: int = Field(default=1, ge=1, le=5, strict=True)
    max_busy: Count | None = Field(default=None, description="Agents of the group busy at most")
    min_busy: Count | None = None
    max_share: Share | None = Field(default=None, description="Share of the queue's contacts")
    min_share: Share | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.site is None and self.skill is None:
            raise ValueError("a threshold names a site, a skill, or both")
        if all(v is None for v in (self.max_busy, self.min_busy, self.max_share,
                                   self.min_share)):
            raise ValueError("a threshold sets at least one of max_busy, min_busy, "
                             "max_share, min_share")
        if self.min_busy is not None and self.max_busy is not None \
                and self.min_busy > self.max_busy:
            raise ValueError("min_busy is over max_busy")
        if self.min_share is not None and self.max_share is not None \
                and self.min_share > self.max_share:
            raise ValueError("min_share is over max_share")
        return self

    def stored(self) -> dict[str, Any]:
        """As the routing core reads it: ids as strings, unset limits left out."""
        raw = self.model_dump(exclude_none=True)
        for key in ("site", "skill"):
            if key in raw:
                raw[key] = str(raw[key])
        return raw


Thresholds = Annotated[list[ThresholdIn], Field(max_length=50)]


class QueueIn(Input):
    name: Name
    description: Description = ""
    ordering: Ordering = Field(default=Ordering.FIFO, description="Within a priority")
    strategy: Strategy = Field(default=Strategy.LONGEST_IDLE, description="Which agent first")
    sla_threshold_seconds: PositiveSeconds = Field(
        default=20.0, description="The 'answered within' of the service level")
    sla_target: Share = Field(default=0.8, description="Share to answer within the threshold")
    offer_to: int = Field(default=1, ge=1, le=20, strict=True,
                          description="Agents offered a contact at once; the first to accept wins")
    accept_timeout_seconds: PositiveSeconds | None = Field(
        default=30.0, description="An offer not accepted by then goes back; null: no limit")
    away_on_timeout: bool = True
    away_on_reject: bool = False
    sticky_seconds: Seconds = Field(default=0.0,
                                    description="How long the customer's last agent is waited for")
    wrap_up_seconds: Seconds = 0.0
    follow_business_hours: bool = True
    thresholds: Thresholds = Field(default_factory=list)


class QueuePatch(Patch):
    nullable_fields: ClassVar[frozenset[str]] = frozenset({"accept_timeout_seconds"})

    name: Name | None = None
    description: Description | None = None
    ordering: Ordering | None = None
    strategy: Strategy | None = None
    sla_threshold_seconds: PositiveSeconds | None = None
    sla_target: Share | None = None
    offer_to: int | None = Field(default=None, ge=1, le=20, strict=True)
    accept_timeout_seconds: PositiveSeconds | None = None
    away_on_timeout: bool | None = None
    away_on_reject: bool | None = None
    sticky_seconds: Seconds | None = None
    wrap_up_seconds: Seconds | None = None
    follow_business_hours: bool | None = None
    thresholds: Thresholds | None = None


class QueueOut(Output):
    id: uuid.UUID
    name: str
    description: str
    ordering: str
    strategy: str
    sla_threshold_seconds: float
    sla_target: float
    offer_to: int
    accept_timeout_seconds: float | None
    away_on_timeout: bool
    away_on_reject: bool
    sticky_seconds: float
    wrap_up_seconds: float
    follow_business_hours: bool
    thresholds: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


# --- workflows -------------------------------------------------------------------------


WORKFLOW_HELP = (
    "Filters (expressions on the contact's attributes), each with ordered steps; default "
    "steps; an overflow (stay_queued, offer_callback, take_message, transfer_queue); "
    "max_estimated_wait in seconds. See docs/routing.md."
)


class WorkflowIn(Input):
    name: Name
    description: Description = ""
    definition: dict[str, Any] = Field(description=WORKFLOW_HELP)


class WorkflowPatch(Patch):
    name: Name | None = None
    description: Description | None = None
    definition: dict[str, Any] | None = Field(default=None, description=WORKFLOW_HELP)


class WorkflowOut(Output):
    id: uuid.UUID
    name: str
    description: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


# --- routing profiles ------------------------------------------------------------------


class MembershipIn(Input):
    priority: int = Field(default=1, ge=1, le=10, strict=True,
                          description="1 is served first; queues of priority 2 wait for 1")
    delay: Seconds = Field(default=0.0,
                           description="Offered the queue's contacts once they waited this long")


class ProfileIn(Input):
    """The whole profile: what is not sent takes its default (capacities per channel)."""

    capacity: dict[Channel, Annotated[int, Field(ge=0, le=100, strict=True)]] = Field(
        default_factory=dict, description="Contacts at once per channel; others: defaults")
    chats_beside_calls: bool = Field(
        default=False, description="Chats continue while a call is held")
    queues: dict[uuid.UUID, MembershipIn] = Field(
        default_factory=dict, max_length=500, description="Queue id -> priority and delay")


class MembershipOut(BaseModel):
    priority: int
    delay: float


class ProfileOut(BaseModel):
    user_id: uuid.UUID
    name: str
    capacity: dict[str, int] = Field(description="Effective: defaults for channels not set")
    chats_beside_calls: bool
    queues: dict[uuid.UUID, MembershipOut]
    updated_at: datetime | None = Field(description="None when never set (all defaults)")


# --- away reasons ----------------------------------------------------------------------


class AwayReasonIn(Input):
    code: ReasonCode = Field(description="What agents send with presence 'away', e.g. lunch")
    label: ReasonLabel


class AwayReasonOut(Output):
    id: uuid.UUID
    code: str
    label: str
    created_at: datetime
