"""The agent console (``/t/{slug}/agent/``) and the supervisor console
(``/t/{slug}/supervisor/``): server-rendered shells whose scripts talk to the API and to
the live connections with the console's own session cookie and CSRF token.

What a page's script needs and an agent may not list through the API (the people and
queues to transfer to) is rendered into the page as a JSON data block: scripts are only
loaded from /static, so the strict CSP holds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from plateaux.console import repository as repo
from plateaux.platform.deps import Console, ConsoleContext, DbSession, SupervisorConsole
from plateaux.platform.web import render
from plateaux.routing import config_repository as routing_repo
from plateaux.routing.contact_service import DEFAULT_REASONS
from plateaux.tenants import admin_repository as people
from plateaux.tenants.models import Role

router = APIRouter(include_in_schema=False)

DEFAULT_REASON_LABELS = {"break": "Break", "lunch": "Lunch", "training": "Training",
                         "meeting": "Meeting"}


def _page(request: Request, console: ConsoleContext, template: str, *,
          config: dict[str, Any], **context: Any) -> HTMLResponse:
    role = Role(console.user.role)
    base = {
        "slug": console.tenant.slug,
        "me": {"id": str(console.user.id), "name": console.user.name,
               "email": console.user.email, "role": role.value},
    }
    return render(request, template, console.template_context(
        config={**base, **config}, is_manager=role in (Role.ADMIN, Role.SUPERVISOR),
        is_admin=role == Role.ADMIN, **context),
        session_hash=console.subject.session_token_hash)


async def _people_and_queues(session: DbSession, console: ConsoleContext) -> dict[str, Any]:
    tenant_id = console.tenant.id
    users = await people.all_users(session, tenant_id)
    return {
        "agents": [{"id": str(u.id), "name": u.name} for u in users if u.is_active],
        "queues": [{"id": str(q.id), "name": q.name}
                   for q in await routing_repo.all_queues(session, tenant_id)],
        "skills": [{"id": str(s.id), "name": s.name}
                   for s in await people.all_skills(session, tenant_id)],
    }


@router.get("/t/{slug}/agent/")
async def agent_console(request: Request, console: Console, session: DbSession) -> HTMLResponse:
    tenant_id = console.tenant.id
    reasons = [{"code": r.code, "label": r.label}
               for r in await routing_repo.all_reasons(session, tenant_id)]
    if not reasons:
        reasons = [{"code": c, "label": DEFAULT_REASON_LABELS.get(c, c)}
                   for c in sorted(DEFAULT_REASONS)]
    config = {
        "reasons": reasons,
        "wrap_up_codes": [{"code": c.code, "label": c.label}
                          for c in await repo.all_codes(session, tenant_id)],
        **await _people_and_queues(session, console),
    }
    return _page(request, console, "agent/console.html", config=config, reasons=reasons,
                 section="agent")


@router.get("/t/{slug}/supervisor/")
async def supervisor_console(request: Request, console: SupervisorConsole,
                             session: DbSession) -> HTMLResponse:
    return _page(request, console, "supervisor/console.html",
                 config=await _people_and_queues(session, console), section="supervisor")
