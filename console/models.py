"""What a tenant prepares for its agents' conversations: canned responses to insert and
the wrap-up codes that classify a finished contact."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field


class CannedResponse(TenantOwned, table=True):
    __tablename__ = "canned_responses"

    # One shortcut per language: "/hello" may exist in French and in English.
    __table_args__ = (UniqueConstraint("tenant_id", "shortcut", "language"),)

    shortcut: str = Field(max_length=40)
    title: str = Field(max_length=120)
    body: str = Field(max_length=4000)
    language: str = Field(default="", max_length=10)  # empty: any language
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class WrapUpCode(TenantOwned, table=True):
    __tablename__ = "wrap_up_codes"

    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: str = Field(max_length=40)
    label: str = Field(max_length=120)
    created_at: datetime = created_at_field()
