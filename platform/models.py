"""Shared building blocks for tables.

Tenant-owned tables derive from :class:`TenantOwned`; the migrations give each of them a
row-level security policy, and a test fails when one is missing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from plateaux.platform.types import UTCDateTime, new_id, utcnow


def created_at_field() -> datetime:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def timestamp_field(*, nullable: bool = True, index: bool = False) -> datetime | None:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class TenantOwned(SQLModel):
    """Columns every tenant-owned table carries."""

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")


def tenant_table_names() -> list[str]:
    """Every table in the metadata with a ``tenant_id`` column."""
    return sorted(
        name for name, table in SQLModel.metadata.tables.items() if "tenant_id" in table.columns
    )


__all__ = ["Column", "TenantOwned", "created_at_field", "tenant_table_names", "timestamp_field"]
