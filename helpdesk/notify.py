"""Telling people about a case: a notification kept for the console (its list survives a
reload), the same at once on the user's live connection (the event bus, after commit),
and an email through the platform's mail job."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import Case, Notification
from plateaux.platform.mail import queue_mail
from plateaux.platform.publish import publish
from plateaux.tenants.models import Tenant, User

NOTIFICATION_EVENT = "helpdesk.notification"
CASE_EVENT = "helpdesk.case"
SUPERVISORS = "role:supervisor"


def case_link(session: AsyncSession, tenant: Tenant | None, case: Case) -> str:
    services = session.info.get("services")
    base = services.settings.base_url.rstrip("/") if services is not None else ""
    slug = tenant.slug if tenant is not None else ""
    return f"{base}/t/{slug}/agent/cases/{case.id}"


async def notify(session: AsyncSession, case: Case, users: Iterable[User], *, kind: str,
                 title: str, body: str = "") -> list[Notification]:
    """One notification per user (each once, inactive users left out)."""
    tenant = await session.get(Tenant, case.tenant_id)
    link = case_link(session, tenant, case)
    made: list[Notification] = []
    seen: set[uuid.UUID] = set()
    for user in users:
        if user.id in seen or not user.is_active or user.tenant_id != case.tenant_id:
            continue
        seen.add(user.id)
        note = Notification(tenant_id=case.tenant_id, user_id=user.id, case_id=case.id,
                            kind=kind, title=title[:300], body=body[:1000])
        session.add(note)
        made.append(note)
        publish(session, case.tenant_id, NOTIFICATION_EVENT, {
            "id": str(note.id), "case_id": str(case.id), "number": case.number,
            "kind": kind, "title": note.title, "body": note.body,
            "created_at": note.created_at.isoformat()}, audience=f"user:{user.id}")
        text = f"{title}\n\n{body}\n\nOpen the case: {link}\n" if body else (
            f"{title}\n\nOpen the case: {link}\n")
        queue_mail(session, to=user.email, subject=f"[Case #{case.number}] {title}"[:250],
                   text=text)
    await session.flush()
    return made


async def owner_and_supervisors(session: AsyncSession, case: Case) -> list[User]:
    owner = await repo.users_by_ids(session, case.tenant_id,
                                    [case.owner_id] if case.owner_id else [])
    return [*owner, *await repo.supervisors_for(session, case.tenant_id, case.team_id)]


def announce_case(session: AsyncSession, case: Case, change: str) -> None:
    """A live 'this case changed' for the consoles that show it (its owner's and the
    supervisors'); they read the case again."""
    payload = {"case_id": str(case.id), "number": case.number, "status": case.status,
               "change": change}
    audiences = [SUPERVISORS] + ([f"user:{case.owner_id}"] if case.owner_id else [])
    for audience in audiences:
        publish(session, case.tenant_id, CASE_EVENT, payload, audience=audience)
