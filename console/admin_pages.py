"""The admin console's "Agent console" section: canned responses and wrap-up codes,
under ``/t/{slug}/admin/console/``. Same plumbing and services as the API."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from plateaux.console import repository as repo
from plateaux.console import service as svc
from plateaux.console.schemas import CannedResponseIn, WrapUpCodeIn
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession
from plateaux.tenants.console import ADMIN, REFUSED, _attempt, _back, _field, _page

router = APIRouter(include_in_schema=False)
SECTION = ADMIN + "/console"
TABS = [("canned-responses", "Canned responses"), ("wrap-up-codes", "Wrap-up codes")]


def _section_page(request: Request, console: ConsoleContext, template: str, *, tab: str,
                  failure: BaseException | None = None, **context: Any) -> Response:
    return _page(request, console, f"console/{template}", section="console", failure=failure,
                 tab=tab, tabs=TABS, **context)


async def _canned_page(request: Request, console: ConsoleContext, session: DbSession, *,
                       failure: BaseException | None = None) -> Response:
    return _section_page(request, console, "canned_responses.html", tab="canned-responses",
                         failure=failure,
                         responses=await repo.all_canned(session, console.tenant.id))


@router.get(SECTION + "/canned-responses")
async def canned_responses(request: Request, console: AdminConsole,
                           session: DbSession) -> Response:
    return await _canned_page(request, console, session)


@router.post(SECTION + "/canned-responses")
async def create_canned(request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    form = await request.form()

    async def create() -> str:
        data = CannedResponseIn(shortcut=_field(form, "shortcut"), title=_field(form, "title"),
                                body=_field(form, "body"), language=_field(form, "language"))
        return (await svc.create_canned(session, console.subject, data)).shortcut

    try:
        shortcut = await _attempt(session, create)
    except REFUSED as exc:
        return await _canned_page(request, console, session, failure=exc)
    return _back(request, console, "console/canned-responses",
                 f"Canned response /{shortcut} added.")


@router.post(SECTION + "/canned-responses/{canned_id}/delete")
async def delete_canned(request: Request, canned_id: uuid.UUID, console: AdminConsole,
                        session: DbSession) -> Response:
    row = await repo.get_canned(session, console.tenant.id, canned_id)
    await svc.delete_canned(session, console.subject, row)
    return _back(request, console, "console/canned-responses",
                 f"Canned response /{row.shortcut} removed.")


async def _codes_page(request: Request, console: ConsoleContext, session: DbSession, *,
                      failure: BaseException | None = None) -> Response:
    return _section_page(request, console, "wrap_up_codes.html", tab="wrap-up-codes",
                         failure=failure, codes=await repo.all_codes(session, console.tenant.id))


@router.get(SECTION + "/wrap-up-codes")
async def wrap_up_codes(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _codes_page(request, console, session)


@router.post(SECTION + "/wrap-up-codes")
async def create_code(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def create() -> str:
        data = WrapUpCodeIn(code=_field(form, "code"), label=_field(form, "label"))
        return (await svc.create_code(session, console.subject, data)).code

    try:
        code = await _attempt(session, create)
    except REFUSED as exc:
        return await _codes_page(request, console, session, failure=exc)
    return _back(request, console, "console/wrap-up-codes", f"Wrap-up code {code} added.")


@router.post(SECTION + "/wrap-up-codes/{code_id}/delete")
async def delete_code(request: Request, code_id: uuid.UUID, console: AdminConsole,
                      session: DbSession) -> Response:
    row = await repo.get_code(session, console.tenant.id, code_id)
    await svc.delete_code(session, console.subject, row)
    return _back(request, console, "console/wrap-up-codes", f"Wrap-up code {row.code} removed.")
