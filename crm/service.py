"""Business rules of people: identities unique per tenant, custom fields checked against
their definitions, tags, notes, owner and company, the text search reads, and merges.

Services flush and never commit; webhooks are emitted in the same transaction and sent
once it commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.crm import events
from plateaux.crm import repository as repo
from plateaux.crm.identities import normalize
from plateaux.crm.models import (
    Company,
    CustomField,
    ExternalRecord,
    FieldType,
    Identity,
    IdentityKind,
    Note,
    Person,
)
from plateaux.crm.schemas import (
    CompanyOut,
    CustomFieldIn,
    CustomFieldPatch,
    IdentityIn,
    IdentityOut,
    PersonIn,
    PersonOut,
    PersonPatch,
)
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import Conflict, UnprocessableContent
from plateaux.platform.types import utcnow
from plateaux.routing.models import Contact
from plateaux.tenants.models import User
from plateaux.tenants.service import audit

# Other packages move their own rows when two people merge (the help desk's cases):
# ``async def hook(session, tenant_id, kept_id, duplicate_id)``.
MergeHook = Callable[[AsyncSession, uuid.UUID, uuid.UUID, uuid.UUID], Awaitable[None]]
MERGE_HOOKS: list[MergeHook] = []


def register_merge_hook(hook: MergeHook) -> None:
    MERGE_HOOKS.append(hook)


# --- reading ------------------------------------------------------------------------------


async def person_out(session: AsyncSession, person: Person) -> PersonOut:
    return (await people_out(session, person.tenant_id, [person]))[0]


async def people_out(session: AsyncSession, tenant_id: uuid.UUID,
                     people: list[Person]) -> list[PersonOut]:
    identities = await repo.identities_of(session, tenant_id, [p.id for p in people])
    companies = {c.id: c for c in await repo.companies(session, tenant_id)} if any(
        p.company_id for p in people) else {}
    out = []
    for person in people:
        company = companies.get(person.company_id) if person.company_id else None
        out.append(PersonOut(
            id=person.id, name=person.name,
            company=None if company is None else CompanyOut.model_validate(company),
            owner_id=person.owner_id, language=person.language, tags=list(person.tags or []),
            custom=dict(person.custom or {}),
            identities=[IdentityOut.model_validate(i) for i in identities
                        if i.person_id == person.id],
            source=person.source, created_at=person.created_at, updated_at=person.updated_at,
            last_contact_at=person.last_contact_at))
    return out


def event_data(person: PersonOut) -> dict[str, Any]:
    """A person as webhooks carry them."""
    return person.model_dump(mode="json")


# --- custom fields -------------------------------------------------------------------------


def check_value(field: CustomField, value: Any) -> Any:
    """The value in its stored form, or UnprocessableContent naming the field."""
    if value is None or value == "":
        if field.required:
            raise UnprocessableContent(f"'{field.label}' is required.")
        return None
    kind = FieldType(field.type)
    problem = UnprocessableContent(f"'{field.label}' must be {_expected(field)}.")
    if kind is FieldType.NUMBER:
        if isinstance(value, bool):
            raise problem
        if isinstance(value, int | float):
            return value
        try:
            number = float(str(value).strip())
        except ValueError as error:
            raise problem from error
        return int(number) if number.is_integer() else number
    if kind is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise problem
    text = str(value).strip()
    if len(text) > 2000:
        raise UnprocessableContent(f"'{field.label}' is at most 2000 characters.")
    if kind is FieldType.DATE:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError as error:
            raise problem from error
    if kind is FieldType.CHOICE:
        if text not in (field.choices or []):
            raise problem
        return text
    if kind is FieldType.URL:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise problem
    return text


def _expected(field: CustomField) -> str:
    return {
        FieldType.NUMBER: "a number", FieldType.BOOLEAN: "yes or no",
        FieldType.DATE: "a date (YYYY-MM-DD)", FieldType.URL: "an http(s) address",
        FieldType.CHOICE: "one of " + ", ".join(field.choices or []),
    }.get(FieldType(field.type), "text")


async def checked_custom(session: AsyncSession, tenant_id: uuid.UUID,
                         current: dict[str, Any], changes: dict[str, Any], *,
                         creating: bool) -> dict[str, Any]:
    fields = {f.key: f for f in await repo.custom_fields(session, tenant_id)}
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise UnprocessableContent(f"Unknown custom field '{unknown[0][:40]}'.")
    result = dict(current)
    for key, value in changes.items():
        checked = check_value(fields[key], value)
        if checked is None:
            result.pop(key, None)
        else:
            result[key] = checked
    if creating:
        for key, field in fields.items():
            if field.required and key not in result:
                raise UnprocessableContent(f"'{field.label}' is required.")
    return result


async def create_field(session: AsyncSession, subject: Subject,
                       body: CustomFieldIn) -> CustomField:
    if body.type is FieldType.CHOICE and not body.choices:
        raise UnprocessableContent("A choice field needs its choices.")
    if any(f.key == body.key for f in await repo.custom_fields(session, subject.tenant_id)):
        raise Conflict(f"A custom field '{body.key}' exists already.")
    field = CustomField(tenant_id=subject.tenant_id, key=body.key, label=body.label,
                        type=body.type.value, choices=body.choices, required=body.required,
                        position=body.position)
    session.add(field)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="crm.field_created",
          target=body.key)
    return field


async def update_field(session: AsyncSession, subject: Subject, field: CustomField,
                       body: CustomFieldPatch) -> CustomField:
    changes = body.model_dump(exclude_unset=True)
    if "choices" in changes and changes["choices"] is not None:
        changes["choices"] = list(dict.fromkeys(c.strip() for c in changes["choices"]
                                                if c.strip()))
        if field.type == FieldType.CHOICE.value and not changes["choices"]:
            raise UnprocessableContent("A choice field needs its choices.")
    for name, value in changes.items():
        if value is not None:
            setattr(field, name, value)
    session.add(field)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="crm.field_updated",
          target=field.key)
    return field


async def delete_field(session: AsyncSession, subject: Subject, field: CustomField) -> None:
    """The definition goes; values people hold under its key go with it."""
    people = (await session.scalars(select(Person).where(
        col(Person.tenant_id) == subject.tenant_id))).all()
    for person in people:
        if field.key in (person.custom or {}):
            person.custom = {k: v for k, v in person.custom.items() if k != field.key}
            await refresh_search_text(session, person)
    await session.delete(field)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="crm.field_deleted",
          target=field.key)


# --- people --------------------------------------------------------------------------------


async def refresh_search_text(session: AsyncSession, person: Person) -> None:
    """The one text full-text search reads for a person."""
    identities = await repo.identities_of(session, person.tenant_id, [person.id])
    company = (await repo.get_company(session, person.tenant_id, person.company_id)
               if person.company_id else None)
    parts = [person.name, company.name if company else "",
             *(i.value for i in identities if i.kind != IdentityKind.VISITOR),
             # Numbers also without their "+", as people type them.
             *(i.value[1:] for i in identities if i.kind == IdentityKind.PHONE),
             *(person.tags or []),
             *(str(v) for v in (person.custom or {}).values())]
    person.search_text = " ".join(p for p in parts if p)[:20000]
    session.add(person)


async def _company_id(session: AsyncSession, tenant_id: uuid.UUID,
                      name: str | None) -> uuid.UUID | None:
    if not name or not name.strip():
        return None
    clean = name.strip()[:200]
    found = await repo.company_named(session, tenant_id, clean)
    if found is None:
        found = Company(tenant_id=tenant_id, name=clean)
        session.add(found)
        await session.flush()
    return found.id


async def _check_owner(session: AsyncSession, tenant_id: uuid.UUID,
                       owner_id: uuid.UUID | None) -> None:
    if owner_id is None:
        return
    found = (await session.scalars(select(User.id).where(
        col(User.tenant_id) == tenant_id, col(User.id) == owner_id))).first()
    if found is None:
        raise UnprocessableContent("The owner is not a user of this workspace.")


async def region_of(session: AsyncSession, tenant_id: uuid.UUID) -> str | None:
    return (await repo.settings_of(session, tenant_id)).phone_region


async def add_identity(session: AsyncSession, person: Person, kind: str, value: str, *,
                       verified: bool, region: str | None = None,
                       normalized: bool = False) -> Identity:
    """Attach an identity; Conflict when another person of the tenant holds it."""
    clean = value if normalized else normalize(kind, value, region=region)
    existing = await repo.find_identities(session, person.tenant_id, [(kind, clean)])
    if existing:
        if existing[0].person_id != person.id:
            raise Conflict(f"The {kind} '{clean}' belongs to another person.")
        if verified and not existing[0].verified:
            existing[0].verified = True
            session.add(existing[0])
        return existing[0]
    identity = Identity(tenant_id=person.tenant_id, person_id=person.id, kind=kind,
                        value=clean, verified=verified)
    try:
        async with savepoint(session):
            session.add(identity)
            await session.flush()
    except IntegrityError as error:
        raise Conflict(f"The {kind} '{clean}' belongs to another person.") from error
    return identity


async def create_person(session: AsyncSession, subject: Subject, body: PersonIn, *,
                        source: str = "manual") -> Person:
    tenant_id = subject.tenant_id
    await _check_owner(session, tenant_id, body.owner_id)
    person = Person(tenant_id=tenant_id, name=body.name.strip(), owner_id=body.owner_id,
                    language=body.language, tags=body.tags, source=source,
                    company_id=await _company_id(session, tenant_id, body.company),
                    custom=await checked_custom(session, tenant_id, {}, dict(body.custom),
                                                creating=True))
    session.add(person)
    await session.flush()
    region = await region_of(session, tenant_id)
    for identity in body.identities:
        await add_identity(session, person, identity.kind.value, identity.value,
                           verified=identity.verified, region=region)
    await refresh_search_text(session, person)
    await session.flush()
    out = await person_out(session, person)
    await events.emit(session, tenant_id, "person.created", event_data(out),
                      person_id=person.id)
    return person


async def update_person(session: AsyncSession, subject: Subject, person: Person,
                        body: PersonPatch) -> Person:
    changes = body.model_dump(exclude_unset=True)
    tenant_id = person.tenant_id
    if "name" in changes and changes["name"] is not None:
        person.name = changes["name"].strip()
    if "company" in changes:
        person.company_id = await _company_id(session, tenant_id, changes["company"])
    if "owner_id" in changes:
        await _check_owner(session, tenant_id, changes["owner_id"])
        person.owner_id = changes["owner_id"]
    if "language" in changes:
        person.language = changes["language"]
    if "tags" in changes and changes["tags"] is not None:
        person.tags = changes["tags"]
    if "custom" in changes and changes["custom"] is not None:
        person.custom = await checked_custom(session, tenant_id, dict(person.custom or {}),
                                             changes["custom"], creating=False)
    person.updated_at = utcnow()
    await refresh_search_text(session, person)
    await session.flush()
    await _updated(session, person)
    return person


async def _updated(session: AsyncSession, person: Person) -> None:
    out = await person_out(session, person)
    await events.emit(session, person.tenant_id, "person.updated", event_data(out),
                      person_id=person.id)


async def add_person_identity(session: AsyncSession, person: Person,
                              body: IdentityIn) -> Identity:
    identity = await add_identity(session, person, body.kind.value, body.value,
                                  verified=body.verified,
                                  region=await region_of(session, person.tenant_id))
    person.updated_at = utcnow()
    await refresh_search_text(session, person)
    await session.flush()
    await _updated(session, person)
    return identity


async def remove_identity(session: AsyncSession, person: Person, identity: Identity) -> None:
    if identity.person_id != person.id:
        raise UnprocessableContent("The identity is not this person's.")
    await session.delete(identity)
    await session.flush()
    await refresh_search_text(session, person)
    await _updated(session, person)


async def delete_person(session: AsyncSession, subject: Subject, person: Person) -> None:
    """Removes the record only (contacts keep their history, unlinked); erasing
    everything about someone is :func:`plateaux.crm.privacy.erase_person`."""
    audit(session, person.tenant_id, actor=subject.label, action="crm.person_deleted",
          target=str(person.id))
    await session.delete(person)
    await session.flush()


# --- notes ---------------------------------------------------------------------------------


async def add_note(session: AsyncSession, subject: Subject, person: Person, body: str) -> Note:
    author = await session.get(User, subject.user_id) if subject.user_id else None
    note = Note(tenant_id=person.tenant_id, person_id=person.id,
                author_id=subject.user_id, author_name=author.name if author else subject.label,
                body=body.strip())
    session.add(note)
    await session.flush()
    await events.emit(session, person.tenant_id, "note.created", {
        "id": str(note.id), "person_id": str(person.id), "author_name": note.author_name,
        "body": note.body, "created_at": note.created_at.isoformat()}, person_id=person.id)
    return note


async def delete_note(session: AsyncSession, subject: Subject, note: Note) -> None:
    if subject.role not in ("admin", "supervisor") and note.author_id != subject.user_id:
        raise UnprocessableContent("Only its author or a supervisor removes a note.")
    await session.delete(note)
    await session.flush()


# --- merge ---------------------------------------------------------------------------------


async def merge(session: AsyncSession, subject: Subject, kept: Person,
                duplicate: Person) -> Person:
    """``duplicate`` is folded into ``kept``: identities, contacts (so the whole history),
    notes, tags and the custom values ``kept`` lacks move; then ``duplicate`` is gone."""
    if kept.id == duplicate.id:
        raise UnprocessableContent("A person cannot be merged with themselves.")
    tenant_id = kept.tenant_id
    for model in (Identity, Note):
        await session.execute(update(model).where(
            col(model.tenant_id) == tenant_id, col(model.person_id) == duplicate.id)
            .values(person_id=kept.id))
    await session.execute(update(Contact).where(
        col(Contact.tenant_id) == tenant_id, col(Contact.person_id) == duplicate.id)
        .values(person_id=kept.id))
    for hook in MERGE_HOOKS:
        await hook(session, tenant_id, kept.id, duplicate.id)
    kept.tags = list(dict.fromkeys([*(kept.tags or []), *(duplicate.tags or [])]))
    kept.custom = {**(duplicate.custom or {}), **(kept.custom or {})}
    kept.name = kept.name or duplicate.name
    kept.company_id = kept.company_id or duplicate.company_id
    kept.owner_id = kept.owner_id or duplicate.owner_id
    kept.language = kept.language or duplicate.language
    kept.created_at = min(kept.created_at, duplicate.created_at)
    seen = [t for t in (kept.last_contact_at, duplicate.last_contact_at) if t is not None]
    kept.last_contact_at = max(seen) if seen else None
    kept.updated_at = utcnow()
    external = await repo.external_record(session, tenant_id, duplicate.id)
    if external is not None:
        await session.delete(external)
    duplicate_id = duplicate.id
    await session.flush()
    await session.delete(duplicate)
    await session.flush()
    await refresh_search_text(session, kept)
    await session.flush()
    audit(session, tenant_id, actor=subject.label, action="crm.people_merged",
          target=str(kept.id), duplicate=str(duplicate_id))
    out = await person_out(session, kept)
    await events.emit(session, tenant_id, "person.merged", {
        "person": event_data(out), "merged_id": str(duplicate_id)}, person_id=kept.id)
    return kept


async def remember_external(session: AsyncSession, person: Person,
                            data: dict[str, Any]) -> ExternalRecord:
    record = await repo.external_record(session, person.tenant_id, person.id)
    if record is None:
        record = ExternalRecord(tenant_id=person.tenant_id, person_id=person.id, data=data)
    else:
        record.data = data
        record.fetched_at = utcnow()
    session.add(record)
    await session.flush()
    return record
