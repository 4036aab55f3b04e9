"""Every CRM query; each takes the tenant and filters on it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.crm.models import (
    Company,
    CrmSettings,
    CustomField,
    ExternalRecord,
    Identity,
    Note,
    Person,
    Webhook,
    WebhookDelivery,
)
from plateaux.platform.errors import NotFound


async def get_person(session: AsyncSession, tenant_id: uuid.UUID,
                     person_id: uuid.UUID) -> Person:
    found = (await session.scalars(select(Person).where(
        col(Person.tenant_id) == tenant_id, col(Person.id) == person_id))).first()
    if found is None:
        raise NotFound("Person not found.")
    return found


async def people_by_ids(session: AsyncSession, tenant_id: uuid.UUID,
                        ids: Sequence[uuid.UUID]) -> list[Person]:
    if not ids:
        return []
    return list((await session.scalars(select(Person).where(
        col(Person.tenant_id) == tenant_id, col(Person.id).in_(list(ids))))).all())


async def list_people(session: AsyncSession, tenant_id: uuid.UUID, *, offset: int = 0,
                      limit: int = 50, tag: str | None = None,
                      owner_id: uuid.UUID | None = None) -> tuple[list[Person], int]:
    query = select(Person).where(col(Person.tenant_id) == tenant_id)
    if owner_id is not None:
        query = query.where(col(Person.owner_id) == owner_id)
    people = list((await session.scalars(query.order_by(
        col(Person.last_contact_at).desc().nulls_last(), col(Person.created_at).desc())
    )).all()) if tag else None
    if people is not None:
        # Tags live in a JSON list: filtered here, the same way on both databases.
        tagged = [p for p in people if tag in (p.tags or [])]
        return tagged[offset:offset + limit], len(tagged)
    total = (await session.scalar(select(func.count()).select_from(
        query.subquery()))) or 0
    page = list((await session.scalars(query.order_by(
        col(Person.last_contact_at).desc().nulls_last(), col(Person.created_at).desc())
        .offset(offset).limit(limit))).all())
    return page, int(total)


async def identities_of(session: AsyncSession, tenant_id: uuid.UUID,
                        person_ids: Sequence[uuid.UUID]) -> list[Identity]:
    if not person_ids:
        return []
    return list((await session.scalars(select(Identity).where(
        col(Identity.tenant_id) == tenant_id, col(Identity.person_id).in_(list(person_ids)))
        .order_by(col(Identity.kind), col(Identity.created_at)))).all())


async def find_identities(session: AsyncSession, tenant_id: uuid.UUID,
                          pairs: Sequence[tuple[str, str]]) -> list[Identity]:
    found: list[Identity] = []
    for kind, value in pairs:
        row = (await session.scalars(select(Identity).where(
            col(Identity.tenant_id) == tenant_id, col(Identity.kind) == kind,
            col(Identity.value) == value))).first()
        if row is not None:
            found.append(row)
    return found


async def get_identity(session: AsyncSession, tenant_id: uuid.UUID,
                       identity_id: uuid.UUID) -> Identity:
    found = (await session.scalars(select(Identity).where(
        col(Identity.tenant_id) == tenant_id, col(Identity.id) == identity_id))).first()
    if found is None:
        raise NotFound("Identity not found.")
    return found


async def custom_fields(session: AsyncSession, tenant_id: uuid.UUID) -> list[CustomField]:
    return list((await session.scalars(select(CustomField).where(
        col(CustomField.tenant_id) == tenant_id).order_by(
        col(CustomField.position), col(CustomField.key)))).all())


async def get_custom_field(session: AsyncSession, tenant_id: uuid.UUID,
                           field_id: uuid.UUID) -> CustomField:
    found = (await session.scalars(select(CustomField).where(
        col(CustomField.tenant_id) == tenant_id, col(CustomField.id) == field_id))).first()
    if found is None:
        raise NotFound("Custom field not found.")
    return found


async def notes_of(session: AsyncSession, tenant_id: uuid.UUID,
                   person_id: uuid.UUID) -> list[Note]:
    return list((await session.scalars(select(Note).where(
        col(Note.tenant_id) == tenant_id, col(Note.person_id) == person_id)
        .order_by(col(Note.created_at).desc()))).all())


async def get_note(session: AsyncSession, tenant_id: uuid.UUID, note_id: uuid.UUID) -> Note:
    found = (await session.scalars(select(Note).where(
        col(Note.tenant_id) == tenant_id, col(Note.id) == note_id))).first()
    if found is None:
        raise NotFound("Note not found.")
    return found


async def companies(session: AsyncSession, tenant_id: uuid.UUID) -> list[Company]:
    return list((await session.scalars(select(Company).where(
        col(Company.tenant_id) == tenant_id).order_by(col(Company.name)))).all())


async def get_company(session: AsyncSession, tenant_id: uuid.UUID,
                      company_id: uuid.UUID) -> Company:
    found = (await session.scalars(select(Company).where(
        col(Company.tenant_id) == tenant_id, col(Company.id) == company_id))).first()
    if found is None:
        raise NotFound("Company not found.")
    return found


async def company_named(session: AsyncSession, tenant_id: uuid.UUID,
                        name: str) -> Company | None:
    return (await session.scalars(select(Company).where(
        col(Company.tenant_id) == tenant_id, col(Company.name) == name))).first()


async def settings_of(session: AsyncSession, tenant_id: uuid.UUID) -> CrmSettings:
    """The tenant's CRM settings, created with the defaults on first use."""
    found = (await session.scalars(select(CrmSettings).where(
        col(CrmSettings.tenant_id) == tenant_id))).first()
    if found is None:
        found = CrmSettings(tenant_id=tenant_id)
        session.add(found)
        await session.flush()
    return found


async def webhooks(session: AsyncSession, tenant_id: uuid.UUID,
                   *, active_only: bool = False) -> list[Webhook]:
    query = select(Webhook).where(col(Webhook.tenant_id) == tenant_id)
    if active_only:
        query = query.where(col(Webhook.active).is_(True))
    return list((await session.scalars(query.order_by(col(Webhook.created_at)))).all())


async def get_webhook(session: AsyncSession, tenant_id: uuid.UUID,
                      webhook_id: uuid.UUID) -> Webhook:
    found = (await session.scalars(select(Webhook).where(
        col(Webhook.tenant_id) == tenant_id, col(Webhook.id) == webhook_id))).first()
    if found is None:
        raise NotFound("Webhook not found.")
    return found


async def deliveries(session: AsyncSession, tenant_id: uuid.UUID, webhook_id: uuid.UUID,
                     *, limit: int = 50) -> list[WebhookDelivery]:
    return list((await session.scalars(select(WebhookDelivery).where(
        col(WebhookDelivery.tenant_id) == tenant_id,
        col(WebhookDelivery.webhook_id) == webhook_id)
        .order_by(col(WebhookDelivery.created_at).desc()).limit(limit))).all())


async def get_delivery(session: AsyncSession, tenant_id: uuid.UUID,
                       delivery_id: uuid.UUID) -> WebhookDelivery:
    found = (await session.scalars(select(WebhookDelivery).where(
        col(WebhookDelivery.tenant_id) == tenant_id,
        col(WebhookDelivery.id) == delivery_id))).first()
    if found is None:
        raise NotFound("Delivery not found.")
    return found


async def external_record(session: AsyncSession, tenant_id: uuid.UUID,
                          person_id: uuid.UUID) -> ExternalRecord | None:
    return (await session.scalars(select(ExternalRecord).where(
        col(ExternalRecord.tenant_id) == tenant_id,
        col(ExternalRecord.person_id) == person_id))).first()
