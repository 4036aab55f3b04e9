"""Plans tenants subscribe to. Platform-level: defined by operators."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from plateaux.platform.models import created_at_field


class Plan(SQLModel, table=True):
    __tablename__ = "plans"

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    seat_price_cents: int = Field(default=0, ge=0)
    currency: str = Field(default="eur", max_length=3)
    is_active: bool = True
    created_at: datetime = created_at_field()
