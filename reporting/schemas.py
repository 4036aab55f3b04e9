"""API shapes of the live statistics."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class QueueLiveOut(BaseModel):
    queue_id: uuid.UUID
    name: str
    waiting: int = Field(description="Contacts waiting now, offered ones included")
    longest_wait_seconds: float | None
    agents_available: int
    agents_signed_in: int = Field(description="Members of the queue who are not offline")
    offered_today: int = Field(description="Arrived today and answered, ended, or waiting "
                                           "beyond the threshold")
    answered_today: int
    answered_within_today: int
    abandoned_today: int
    service_level_today: float | None = Field(
        description="answered_within_today / offered_today; null with nothing offered")
    sla_target: float
    sla_threshold_seconds: float
