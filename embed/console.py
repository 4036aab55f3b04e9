"""The Widgets section of the tenant admin console, under ``/t/{slug}/admin/widgets``:
the tenant's sites with the snippet to paste, their look, languages, allowed domains and
buttons, and the identity secret (shown once, at creation or rotation).

The pages share the admin console's plumbing (navigation, signed notices, refusals
re-rendered with their reason, each change in a savepoint) and go through the same
services as the API.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from plateaux.embed import admin_service as svc
from plateaux.embed import repository as repo
from plateaux.embed.models import Widget
from plateaux.embed.schemas import SUPPORTED_LANGUAGES, WidgetIn, WidgetPatch
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession, ServicesDep
from plateaux.platform.errors import UnprocessableContent
from plateaux.routing import config_repository as routing_repo
from plateaux.tenants.console import ADMIN, REFUSED, _attempt, _back, _field, _page, _values

router = APIRouter(include_in_schema=False)
WIDGETS = ADMIN + "/widgets"
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
BUTTON_LABELS = {
    "chat": "Chat",
    "callback": "Call me back",
    "email": "Leave a message (email or form)",
    "call": "Call now from the browser",
}
POSITIONS = {"bottom-right": "Bottom right", "bottom-left": "Bottom left"}


def _target(value: str) -> dict[str, str]:
    """A button's target from the form's select: ``workflow:<id>``, ``queue:<id>`` or ''."""
    kind, _, ident = value.partition(":")
    if not value:
        return {}
    if kind not in ("workflow", "queue"):
        raise UnprocessableContent("Choose a workflow or a queue for each button.")
    try:
        return {f"{kind}_id": str(uuid.UUID(ident))}
    except ValueError as exc:
        raise UnprocessableContent("Choose a workflow or a queue for each button.") from exc


def _values_from(form: FormData) -> dict[str, Any]:
    languages = [lang for lang in _values(form, "languages") if lang in SUPPORTED_LANGUAGES]
    domains = [line.strip() for line in _field(form, "allowed_domains").replace(",", "\n")
               .splitlines() if line.strip()]
    return {
        "name": _field(form, "name"),
        "allowed_domains": domains,
        "theme": {"color": _field(form, "color") or "#2454d6",
                  "position": _field(form, "position") or "bottom-right"},
        "greeting": {lang: _field(form, f"greeting_{lang}") for lang in SUPPORTED_LANGUAGES
                     if _field(form, f"greeting_{lang}")},
        "languages": languages or ["en"],
        "default_language": _field(form, "default_language") or (languages or ["en"])[0],
        "buttons": {kind: {"enabled": form.get(f"button_{kind}") == "on",
                           **_target(_field(form, f"target_{kind}"))}
                    for kind in BUTTON_LABELS},
    }


async def _choices(session: DbSession, console: ConsoleContext) -> dict[str, Any]:
    tid = console.tenant.id
    return {
        "workflows": await routing_repo.all_workflows(session, tid),
        "queues": await routing_repo.all_queues(session, tid),
        "button_labels": BUTTON_LABELS,
        "language_names": LANGUAGE_NAMES,
        "positions": POSITIONS,
    }


def _selected(widget: Widget | None, kind: str) -> str:
    button = ((widget.buttons if widget else None) or {}).get(kind) or {}
    if button.get("workflow_id"):
        return f"workflow:{button['workflow_id']}"
    if button.get("queue_id"):
        return f"queue:{button['queue_id']}"
    return ""


async def _list_page(request: Request, console: ConsoleContext, session: DbSession,
                     services: ServicesDep, *, failure: BaseException | None = None) -> Response:
    widgets, _ = await repo.list_widgets(session, console.tenant.id, limit=200)
    return _page(request, console, "widgets/widgets.html", section="widgets", failure=failure,
                 widgets=widgets, selected=_selected, new=None,
                 **await _choices(session, console))


async def _widget_page(request: Request, console: ConsoleContext, session: DbSession,
                       services: ServicesDep, widget: Widget, *,
                       failure: BaseException | None = None, secret: str | None = None,
                       status_code: int = 200) -> Response:
    return _page(request, console, "widgets/widget.html", section="widgets", failure=failure,
                 status_code=status_code, widget=widget, secret=secret,
                 snippet=svc.snippet(services.settings.base_url, widget), selected=_selected,
                 **await _choices(session, console))


@router.get(WIDGETS)
async def widgets(request: Request, console: AdminConsole, session: DbSession,
                  services: ServicesDep) -> Response:
    return await _list_page(request, console, session, services)


@router.post(WIDGETS)
async def create_widget(request: Request, console: AdminConsole, session: DbSession,
                        services: ServicesDep) -> Response:
    form = await request.form()

    async def create() -> tuple[Widget, str]:
        return await svc.create_widget(session, console.subject,
                                       secret_key=services.settings.secret_key,
                                       data=WidgetIn(**_values_from(form)))

    try:
        widget, secret = await _attempt(session, create)
    except REFUSED as exc:
        return await _list_page(request, console, session, services, failure=exc)
    # Rendered, not redirected: the secret must not travel in an address.
    return await _widget_page(request, console, session, services, widget, secret=secret,
                              status_code=201)


@router.get(WIDGETS + "/{widget_id}")
async def widget_detail(request: Request, widget_id: uuid.UUID, console: AdminConsole,
                        session: DbSession, services: ServicesDep) -> Response:
    widget = await repo.get_widget(session, console.tenant.id, widget_id)
    return await _widget_page(request, console, session, services, widget)


@router.post(WIDGETS + "/{widget_id}")
async def update_widget(request: Request, widget_id: uuid.UUID, console: AdminConsole,
                        session: DbSession, services: ServicesDep) -> Response:
    widget = await repo.get_widget(session, console.tenant.id, widget_id)
    form = await request.form()

    async def save() -> Widget:
        return await svc.update_widget(session, console.subject, widget,
                                       WidgetPatch(**_values_from(form)))

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        await session.refresh(widget)
        return await _widget_page(request, console, session, services, widget, failure=exc)
    return _back(request, console, f"widgets/{widget_id}", f"Widget {widget.name} saved.")


@router.post(WIDGETS + "/{widget_id}/rotate-secret")
async def rotate_secret(request: Request, widget_id: uuid.UUID, console: AdminConsole,
                        session: DbSession, services: ServicesDep) -> Response:
    widget = await repo.get_widget(session, console.tenant.id, widget_id)
    secret = await svc.rotate_secret(session, console.subject, widget,
                                     secret_key=services.settings.secret_key)
    return await _widget_page(request, console, session, services, widget, secret=secret)


@router.post(WIDGETS + "/{widget_id}/delete")
async def delete_widget(request: Request, widget_id: uuid.UUID, console: AdminConsole,
                        session: DbSession) -> Response:
    widget = await repo.get_widget(session, console.tenant.id, widget_id)
    await svc.delete_widget(session, console.subject, widget)
    return _back(request, console, "widgets", f"Widget {widget.name} deleted.")
