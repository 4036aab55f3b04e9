"""The widget administration API (``/widgets``) and the agent's visitor actions
(``/visitors/{id}``).

Reads need ``tenant:read``, changes ``tenant:write``. The widget's secret is in the answer
that creates it and in the one that rotates it, never anywhere else (so creation is not
idempotent-replayable: a stored response would keep the secret).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from plateaux.api.pagination import Page, Pagination
from plateaux.embed import admin_service as svc
from plateaux.embed import repository as repo
from plateaux.embed import service
from plateaux.embed.models import Widget
from plateaux.embed.schemas import (
    PageViewOut,
    PushPageIn,
    VisitorSummary,
    WidgetIn,
    WidgetOut,
    WidgetPatch,
    WidgetWithSecret,
)
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, ServicesDep, require_scope
from plateaux.platform.errors import Forbidden, UnprocessableContent

router = APIRouter(tags=["widgets"])
Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]
Agent = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]


def _out(widget: Widget, base_url: str) -> WidgetOut:
    out = WidgetOut.model_validate(widget)
    out.snippet = svc.snippet(base_url, widget)
    return out


def _with_secret(widget: Widget, base_url: str, secret: str) -> WidgetWithSecret:
    return WidgetWithSecret(**_out(widget, base_url).model_dump(), secret=secret)


@router.get("/widgets", response_model=Page[WidgetOut])
async def list_widgets(subject: Reader, session: DbSession, services: ServicesDep,
                       page: Pagination) -> Page[WidgetOut]:
    rows, total = await repo.list_widgets(session, subject.tenant_id, offset=page.offset,
                                          limit=page.limit)
    base = services.settings.base_url
    return Page(items=[_out(w, base) for w in rows], total=total, offset=page.offset,
                limit=page.limit)


@router.post("/widgets", response_model=WidgetWithSecret, status_code=201)
async def create_widget(body: WidgetIn, subject: Writer, session: DbSession,
                        services: ServicesDep) -> WidgetWithSecret:
    widget, secret = await svc.create_widget(
        session, subject, secret_key=services.settings.secret_key, data=body)
    return _with_secret(widget, services.settings.base_url, secret)


@router.get("/widgets/{widget_id}", response_model=WidgetOut)
async def get_widget(widget_id: uuid.UUID, subject: Reader, session: DbSession,
                     services: ServicesDep) -> WidgetOut:
    widget = await repo.get_widget(session, subject.tenant_id, widget_id)
    return _out(widget, services.settings.base_url)


@router.patch("/widgets/{widget_id}", response_model=WidgetOut)
async def update_widget(widget_id: uuid.UUID, body: WidgetPatch, subject: Writer,
                        session: DbSession, services: ServicesDep) -> WidgetOut:
    widget = await repo.get_widget(session, subject.tenant_id, widget_id)
    widget = await svc.update_widget(session, subject, widget, body)
    return _out(widget, services.settings.base_url)


@router.post("/widgets/{widget_id}/rotate-secret", response_model=WidgetWithSecret)
async def rotate_secret(widget_id: uuid.UUID, subject: Writer, session: DbSession,
                        services: ServicesDep) -> WidgetWithSecret:
    widget = await repo.get_widget(session, subject.tenant_id, widget_id)
    secret = await svc.rotate_secret(session, subject, widget,
                                     secret_key=services.settings.secret_key)
    return _with_secret(widget, services.settings.base_url, secret)


@router.delete("/widgets/{widget_id}", status_code=204)
async def delete_widget(widget_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    widget = await repo.get_widget(session, subject.tenant_id, widget_id)
    await svc.delete_widget(session, subject, widget)
    return Response(status_code=204)


# --- visitors, for agents ------------------------------------------------------------


@router.get("/visitors/{visitor_id}", response_model=VisitorSummary)
async def get_visitor(visitor_id: uuid.UUID, subject: Agent,
                      session: DbSession) -> VisitorSummary:
    return VisitorSummary.model_validate(
        await repo.get_visitor(session, subject.tenant_id, visitor_id))


@router.get("/visitors/{visitor_id}/pages", response_model=list[PageViewOut])
async def visitor_pages(visitor_id: uuid.UUID, subject: Agent,
                        session: DbSession) -> list[PageViewOut]:
    visitor = await repo.get_visitor(session, subject.tenant_id, visitor_id)
    views = await service.pages_viewed(session, subject.tenant_id, visitor.id, limit=50)
    return [PageViewOut.model_validate(v) for v in views]


@router.post("/visitors/{visitor_id}/push-page", status_code=204)
async def push_page(visitor_id: uuid.UUID, body: PushPageIn, subject: Agent,
                    session: DbSession) -> Response:
    """Ask the visitor's browser to open a page ("look at this page"): the agent handling
    one of the visitor's conversations, or a supervisor."""
    visitor = await repo.get_visitor(session, subject.tenant_id, visitor_id)
    if not body.url.startswith(("https://", "http://")):
        raise UnprocessableContent("Only http and https addresses can be pushed.",
                                   extra={"field": "url"})
    if subject.role not in ("admin", "supervisor") and (
            subject.user_id is None
            or not await repo.serves_visitor(session, subject.tenant_id, visitor.id,
                                             subject.user_id)):
        raise Forbidden("Only the agent talking with this visitor can show them a page.")
    await service.push_page(session, subject.tenant_id, visitor_id, url=body.url)
    return Response(status_code=204)
