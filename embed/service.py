"""Embed business rules: finding a site from its public key, recognising visitors, their
pages, and what a site's buttons feed.

``visitor_from_token``, ``pages_viewed`` and ``chat_target`` are what the chat channel
builds on; keep their signatures.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.embed import repository as repo
from plateaux.embed.identity import Identity, verify_identity
from plateaux.embed.keys import tenant_of_key
from plateaux.embed.models import PageView, Visitor, Widget
from plateaux.platform.database import bind_tenant
from plateaux.platform.errors import NotFound, Unauthorized
from plateaux.platform.publish import publish
from plateaux.platform.security import decrypt_secret, hash_token, new_token
from plateaux.platform.types import utcnow

SUPPORTED_LANGUAGES = ("en", "fr")
BUTTON_KINDS = ("chat", "callback", "email", "call")
MAX_URL = 2000
MAX_TITLE = 500


async def widget_for_key(session: AsyncSession, public_key: str) -> Widget:
    """The site of a public key, with the session bound to its tenant."""
    tenant_id = tenant_of_key(public_key)
    if tenant_id is None:
        raise NotFound("Unknown site.")
    await bind_tenant(session, tenant_id)
    widget = await repo.find_widget_by_key(session, tenant_id, public_key)
    if widget is None:
        raise NotFound("Unknown site.")
    return widget


async def visitor_from_token(
    session: AsyncSession, *, public_key: str, visitor_token: str
) -> tuple[Widget, Visitor]:
    widget = await widget_for_key(session, public_key)
    visitor = None
    if visitor_token:
        visitor = await repo.find_visitor(
            session, widget.tenant_id, widget.id, hash_token(visitor_token)
        )
    if visitor is None:
        raise Unauthorized("Unknown visitor; open the widget again.")
    return widget, visitor


async def pages_viewed(
    session: AsyncSession, tenant_id: uuid.UUID, visitor_id: uuid.UUID, *, limit: int = 20
) -> list[PageView]:
    """The visitor's pages, newest first."""
    return await repo.recent_page_views(session, tenant_id, visitor_id, limit=limit)


def chat_target(widget: Widget) -> dict[str, Any]:
    """Where the site's chat button routes: ``{"workflow_id": id}`` or ``{"queue_id": id}``
    (ids as strings), or ``{}`` when neither is set (the tenant's default routing)."""
    return button_target(widget, "chat")


def button_target(widget: Widget, kind: str) -> dict[str, Any]:
    button = (widget.buttons or {}).get(kind) or {}
    for field in ("workflow_id", "queue_id"):
        if button.get(field):
            return {field: str(button[field])}
    return {}


def enabled_buttons(widget: Widget) -> list[str]:
    buttons = widget.buttons or {}
    return [kind for kind in BUTTON_KINDS if (buttons.get(kind) or {}).get("enabled")]


def pick_language(widget: Widget, *wanted: str | None) -> str:
    """The first wanted language the site offers (``fr-CA`` counts as ``fr``)."""
    offered = widget.languages or [widget.default_language]
    for value in wanted:
        if not value:
            continue
        base = value.strip().lower().replace("_", "-").split("-")[0]
        if base in offered:
            return base
    return widget.default_language if widget.default_language in offered else offered[0]


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    title: str = ""
    referrer: str = ""


def clean_page(page: Page) -> Page | None:
    """Keep only web addresses; anything else (javascript:, data:) is not a page."""
    if not page.url.startswith(("https://", "http://")):
        return None
    referrer = page.referrer if page.referrer.startswith(("https://", "http://")) else ""
    return Page(url=page.url[:MAX_URL], title=page.title[:MAX_TITLE], referrer=referrer[:MAX_URL])


def identity_of(widget: Widget, secret_key: str, token: str | None) -> Identity | None:
    if not token:
        return None
    return verify_identity(decrypt_secret(secret_key, widget.secret_encrypted), token)


async def open_visitor(
    session: AsyncSession,
    widget: Widget,
    *,
    secret_key: str,
    visitor_token: str | None,
    identity_token: str | None,
    language: str | None,
    page: Page | None,
) -> tuple[Visitor, str]:
    """Recognise a returning visitor by their token, or meet a new one.

    Returns the visitor and the token the widget keeps (a new one for a new visitor, or
    when the one it sent is unknown: a visitor token is only ever issued, never chosen).
    """
    visitor = None
    if visitor_token:
        visitor = await repo.find_visitor(
            session, widget.tenant_id, widget.id, hash_token(visitor_token)
        )
    now = utcnow()
    if visitor is None:
        visitor_token = new_token()
        visitor = Visitor(
            tenant_id=widget.tenant_id,
            widget_id=widget.id,
            token_hash=hash_token(visitor_token),
            language=pick_language(widget, language),
            first_seen_at=now,
            last_seen_at=now,
        )
        session.add(visitor)
    else:
        visitor.last_seen_at = now
        if language:
            visitor.language = pick_language(widget, language)
    assert visitor_token is not None
    identity = identity_of(widget, secret_key, identity_token)
    if identity is not None:
        visitor.external_id = identity.external_id
        visitor.email = identity.email
        visitor.name = identity.name
        visitor.verified = True
    await session.flush()
    if page is not None:
        await record_page(session, visitor, page)
    return visitor, visitor_token


async def record_page(session: AsyncSession, visitor: Visitor, page: Page) -> PageView | None:
    cleaned = clean_page(page)
    if cleaned is None:
        return None
    visitor.current_url = cleaned.url
    visitor.current_title = cleaned.title
    visitor.last_seen_at = utcnow()
    view = PageView(
        tenant_id=visitor.tenant_id,
        visitor_id=visitor.id,
        url=cleaned.url,
        title=cleaned.title,
        referrer=cleaned.referrer,
    )
    session.add(view)
    await session.flush()
    publish(
        session,
        visitor.tenant_id,
        "visitor.page",
        {
            "visitor_id": str(visitor.id),
            "url": view.url,
            "title": view.title,
            "referrer": view.referrer,
            "at": view.at.isoformat(),
        },
        audience=visitor_audience(visitor.id),
    )
    return view


def visitor_audience(visitor_id: uuid.UUID) -> str:
    return f"visitor:{visitor_id}"


async def push_page(
    session: AsyncSession, tenant_id: uuid.UUID, visitor_id: uuid.UUID, *, url: str
) -> Visitor:
    visitor = await repo.get_visitor(session, tenant_id, visitor_id)
    publish(
        session,
        tenant_id,
        "visitor.push_page",
        {"visitor_id": str(visitor.id), "url": url},
        audience=visitor_audience(visitor.id),
    )
    return visitor
