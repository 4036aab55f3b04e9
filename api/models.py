"""Stored responses for ``Idempotency-Key`` retries of create requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field


class IdempotencyRecord(TenantOwned, table=True):
    __tablename__ = "idempotency_records"

    __table_args__ = (UniqueConstraint("tenant_id", "principal", "key"),)

    principal: str = Field(max_length=80)
    key: str = Field(max_length=255)
    method: str = Field(max_length=10)
    path: str = Field(max_length=500)
    request_hash: str = Field(max_length=64)
    status_code: int
    body: Any = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = created_at_field()
