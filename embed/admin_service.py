"""Rules for the tenant's widgets: creation (the secret is shown once), changes, secret
rotation, deletion.

Services flush and never commit. Every change leaves an audit entry. A button may only
feed one of the tenant's own workflows or queues: another tenant's id is refused exactly
like an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.embed.keys import new_public_key, new_widget_secret
from plateaux.embed.models import Widget
from plateaux.embed.schemas import Buttons, WidgetIn, WidgetPatch
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import NotFound, UnprocessableContent
from plateaux.platform.security import encrypt_secret
from plateaux.platform.types import utcnow
from plateaux.routing import config_repository as routing_repo
from plateaux.tenants import service as tenant_service


def snippet(base_url: str, widget: Widget) -> str:
    return (
        f'<script async src="{base_url}/embed/v1/loader.js" '
        f'data-site="{widget.public_key}"></script>'
    )


def _audit(session: AsyncSession, subject: Subject, action: str, widget: Widget) -> None:
    tenant_service.audit(session, subject.tenant_id, actor=subject.label, action=action,
                         target=widget.name, widget_id=str(widget.id))


# Buttons whose requests are routed today (callback and call come with voice).
ROUTED_BUTTONS = frozenset({"chat"})


async def _checked_buttons(session: AsyncSession, subject: Subject,
                           buttons: Buttons) -> dict[str, dict[str, Any]]:
    stored: dict[str, dict[str, Any]] = {}
    for kind, button in buttons:
        try:
            if button.workflow_id is not None:
                await routing_repo.get_workflow(session, subject.tenant_id, button.workflow_id)
            if button.queue_id is not None:
                await routing_repo.get_queue(session, subject.tenant_id, button.queue_id)
        except NotFound as exc:
            raise UnprocessableContent(f"The {kind} button names an unknown workflow or queue.",
                                       extra={"field": f"buttons.{kind}"}) from exc
        if kind in ROUTED_BUTTONS and button.enabled \
                and button.workflow_id is None and button.queue_id is None:
            # A visitor's request must reach someone: an enabled chat button feeds a
            # workflow or a queue (the email form falls back to the chat's).
            raise UnprocessableContent(f"The {kind} button needs a workflow or a queue to feed.",
                                       extra={"field": f"buttons.{kind}"})
        stored[kind] = button.model_dump(mode="json")
    return stored


async def create_widget(session: AsyncSession, subject: Subject, *, secret_key: str,
                        data: WidgetIn) -> tuple[Widget, str]:
    """The new widget and its secret, which is never shown again."""
    secret = new_widget_secret()
    widget = Widget(
        tenant_id=subject.tenant_id,
        name=data.name,
        public_key=new_public_key(subject.tenant_id),
        secret_encrypted=encrypt_secret(secret_key, secret),
        allowed_domains=list(data.allowed_domains),
        theme=data.theme.model_dump(mode="json"),
        greeting={str(k): v for k, v in data.greeting.items()},
        languages=list(data.languages),
        default_language=data.default_language,
        buttons=await _checked_buttons(session, subject, data.buttons),
    )
    session.add(widget)
    await session.flush()
    _audit(session, subject, "widget.created", widget)
    return widget, secret


async def update_widget(session: AsyncSession, subject: Subject, widget: Widget,
                        data: WidgetPatch) -> Widget:
    sent = data.model_fields_set
    if "name" in sent and data.name is not None:
        widget.name = data.name
    if "allowed_domains" in sent and data.allowed_domains is not None:
        widget.allowed_domains = list(data.allowed_domains)
    if "theme" in sent and data.theme is not None:
        widget.theme = data.theme.model_dump(mode="json")
    if "greeting" in sent and data.greeting is not None:
        widget.greeting = {str(k): v for k, v in data.greeting.items()}
    if "languages" in sent and data.languages is not None:
        widget.languages = list(data.languages)
    if "default_language" in sent and data.default_language is not None:
        widget.default_language = data.default_language
    if widget.default_language not in widget.languages:
        raise UnprocessableContent("The default language must be one of the languages.",
                                   extra={"field": "default_language"})
    if "buttons" in sent and data.buttons is not None:
        widget.buttons = await _checked_buttons(session, subject, data.buttons)
    widget.updated_at = utcnow()
    await session.flush()
    _audit(session, subject, "widget.updated", widget)
    return widget


async def rotate_secret(session: AsyncSession, subject: Subject, widget: Widget, *,
                        secret_key: str) -> str:
    """A new secret; identity tokens signed with the old one stop being believed."""
    secret = new_widget_secret()
    widget.secret_encrypted = encrypt_secret(secret_key, secret)
    widget.updated_at = utcnow()
    await session.flush()
    _audit(session, subject, "widget.secret_rotated", widget)
    return secret


async def delete_widget(session: AsyncSession, subject: Subject, widget: Widget) -> None:
    _audit(session, subject, "widget.deleted", widget)
    await session.delete(widget)
    await session.flush()
