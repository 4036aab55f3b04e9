"""Embed tables: the tenant's sites (widgets), their visitors and the pages visitors view.

A widget's public key carries its tenant's id (``pk_<tenant hex>_<random>``, like API
keys): the public endpoints run before any tenant is known, and row-level security hides
every row until one is bound, so the key itself says which tenant to bind.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field
from plateaux.platform.types import UTCDateTime, utcnow


class Widget(TenantOwned, table=True):
    """A site in the admin's words: one snippet, its look, languages and buttons."""

    __tablename__ = "widgets"

    name: str = Field(max_length=120)
    public_key: str = Field(max_length=80, unique=True)
    # The secret the tenant signs its customers' identity tokens with (HS256).
    secret_encrypted: str = Field(max_length=500)
    # Host names, ``*.example.com`` for any subdomain.
    allowed_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    theme: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    greeting: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    default_language: str = Field(default="en", max_length=10)
    buttons: dict[str, dict[str, Any]] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Visitor(TenantOwned, table=True):
    """Someone the widget met. Only a hash of the visitor token is kept."""

    __tablename__ = "visitors"

    __table_args__ = (Index("ix_visitors_widget", "tenant_id", "widget_id"),)

    widget_id: uuid.UUID = Field(foreign_key="widgets.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    # Filled from a valid signed identity token only; never from what the page claims.
    external_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    verified: bool = False
    language: str = Field(default="en", max_length=10)
    first_seen_at: datetime = created_at_field()
    last_seen_at: datetime = created_at_field()
    current_url: str | None = Field(default=None, max_length=2000)
    current_title: str | None = Field(default=None, max_length=500)


class PageView(TenantOwned, table=True):
    __tablename__ = "page_views"

    __table_args__ = (Index("ix_page_views_visitor", "tenant_id", "visitor_id", "at"),)

    visitor_id: uuid.UUID = Field(foreign_key="visitors.id", ondelete="CASCADE")
    url: str = Field(max_length=2000)
    title: str = Field(default="", max_length=500)
    referrer: str = Field(default="", max_length=2000)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


__all__ = ["PageView", "Visitor", "Widget"]
