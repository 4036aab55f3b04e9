"""Rules for canned responses and wrap-up codes: unique per tenant, audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.console import repository as repo
from plateaux.console.models import CannedResponse, WrapUpCode
from plateaux.console.schemas import CannedResponseIn, CannedResponsePatch, WrapUpCodeIn
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import Conflict, UnprocessableContent
from plateaux.platform.types import utcnow
from plateaux.tenants import service as tenant_service


def _audit(session: AsyncSession, subject: Subject, action: str, target: str,
           **details: Any) -> None:
    tenant_service.audit(session, subject.tenant_id, actor=subject.label, action=action,
                         target=target, **details)


async def _flush_unique(session: AsyncSession, message: str) -> None:
    # In a savepoint: a race on the unique constraint is a 409 and the unit of work stays
    # usable for the page that re-renders with the reason.
    try:
        async with savepoint(session):
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


def _taken(shortcut: str, language: str) -> str:
    where = f" in '{language}'" if language else ""
    return f"A canned response with the shortcut '{shortcut}'{where} already exists."


async def create_canned(session: AsyncSession, subject: Subject,
                        data: CannedResponseIn) -> CannedResponse:
    if await repo.canned_with(session, subject.tenant_id, shortcut=data.shortcut,
                              language=data.language) is not None:
        raise Conflict(_taken(data.shortcut, data.language))
    row = CannedResponse(tenant_id=subject.tenant_id, **data.model_dump())
    session.add(row)
    await _flush_unique(session, _taken(data.shortcut, data.language))
    _audit(session, subject, "canned_response.created", row.shortcut)
    return row


async def update_canned(session: AsyncSession, subject: Subject, row: CannedResponse,
                        data: CannedResponsePatch) -> CannedResponse:
    changes = data.changes()
    shortcut = changes.get("shortcut", row.shortcut)
    language = changes.get("language", row.language)
    other = await repo.canned_with(session, subject.tenant_id, shortcut=shortcut,
                                   language=language)
    if other is not None and other.id != row.id:
        raise Conflict(_taken(shortcut, language))
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await _flush_unique(session, _taken(shortcut, language))
    _audit(session, subject, "canned_response.updated", row.shortcut, fields=sorted(changes))
    return row


async def delete_canned(session: AsyncSession, subject: Subject, row: CannedResponse) -> None:
    _audit(session, subject, "canned_response.deleted", row.shortcut)
    await session.delete(row)
    await session.flush()


async def create_code(session: AsyncSession, subject: Subject, data: WrapUpCodeIn) -> WrapUpCode:
    message = f"A wrap-up code '{data.code}' already exists."
    if await repo.code_named(session, subject.tenant_id, data.code) is not None:
        raise Conflict(message)
    row = WrapUpCode(tenant_id=subject.tenant_id, code=data.code, label=data.label)
    session.add(row)
    await _flush_unique(session, message)
    _audit(session, subject, "wrap_up_code.created", row.code, label=row.label)
    return row


async def delete_code(session: AsyncSession, subject: Subject, row: WrapUpCode) -> None:
    # Contacts already wrapped up with it keep the code they were given.
    _audit(session, subject, "wrap_up_code.deleted", row.code)
    await session.delete(row)
    await session.flush()


async def check_code(session: AsyncSession, subject: Subject, code: str | None) -> None:
    """A wrap-up code given with a contact must be one of the tenant's."""
    if code is not None and await repo.code_named(session, subject.tenant_id, code) is None:
        raise UnprocessableContent(f"Unknown wrap-up code '{code}'.")
