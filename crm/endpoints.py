"""CRM API: people and their identities, notes, timeline and pages viewed, the screen pop
of a contact, search, merge, custom fields, CSV import and export, privacy (export and
erasure), retention, the tenant's CRM lookup and webhooks with their delivery logs.

Every user reads people (agents need the record in front of them) and edits them; API
keys need ``contacts:read`` / ``contacts:write``. Merging needs ``contacts:write``; custom
fields, webhooks, settings, import, export and erasure are the admins' (``tenant:write``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, UploadFile

from plateaux.api.idempotency import idempotent_create
from plateaux.crm import csv_io, lookup, privacy, webhooks
from plateaux.crm import repository as repo
from plateaux.crm import search as crm_search
from plateaux.crm import service as svc
from plateaux.crm import timeline as tl
from plateaux.crm.events import EVENT_TYPES
from plateaux.crm.models import Person
from plateaux.crm.schemas import (
    CardOut,
    CrmSettingsIn,
    CrmSettingsOut,
    CustomFieldIn,
    CustomFieldOut,
    CustomFieldPatch,
    DeliveryOut,
    ErasureOut,
    ExternalOut,
    IdentityIn,
    IdentityOut,
    ImportReport,
    LookupSecretOut,
    MergeIn,
    NoteIn,
    NoteOut,
    PageViewOut,
    PersonIn,
    PersonOut,
    PersonPage,
    PersonPatch,
    SearchHitOut,
    TimelineItemOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from plateaux.crm.signing import new_secret
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import CurrentSubject, DbSession, ServicesDep, require_scope
from plateaux.platform.errors import Forbidden, PayloadTooLarge
from plateaux.platform.ratelimit import Limit
from plateaux.platform.security import encrypt_secret
from plateaux.platform.types import utcnow
from plateaux.routing import contact_service
from plateaux.tenants.service import audit

router = APIRouter(prefix="/crm", tags=["crm"])

Reader = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]
Merger = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_WRITE))]
Admin = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]
LOOKUP_LIMIT = Limit(count=120, seconds=60)


async def _people_writer(subject: CurrentSubject) -> Subject:
    # Agents keep the records they work with up to date; API keys need contacts:write.
    if subject.has(Scope.CONTACTS_WRITE) or (
            subject.kind == "user" and subject.has(Scope.CONTACTS_READ)):
        return subject
    raise Forbidden("This needs the 'contacts:write' permission.")


Writer = Annotated[Subject, Depends(_people_writer)]


async def _person(session: DbSession, subject: Subject, person_id: uuid.UUID) -> Person:
    return await repo.get_person(session, subject.tenant_id, person_id)


# --- people --------------------------------------------------------------------------------


@router.get("/people", response_model=PersonPage)
async def list_people(subject: Reader, session: DbSession,
                      q: Annotated[str | None, Query(max_length=200)] = None,
                      tag: Annotated[str | None, Query(max_length=40)] = None,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                      limit: Annotated[int, Query(ge=1, le=200)] = 50) -> PersonPage:
    if q and q.strip():
        hits = await crm_search.search(session, subject.tenant_id, q, kinds=("person",),
                                       limit=offset + limit)
        people = await repo.people_by_ids(session, subject.tenant_id,
                                          [h.ref_id for h in hits][offset:])
        order = {h.ref_id: i for i, h in enumerate(hits)}
        people.sort(key=lambda p: order.get(p.id, 0))
        if tag:
            people = [p for p in people if tag in (p.tags or [])]
        total = len(hits)
    else:
        people, total = await repo.list_people(session, subject.tenant_id, offset=offset,
                                               limit=limit, tag=tag)
    return PersonPage(items=await svc.people_out(session, subject.tenant_id, people),
                      total=total, offset=offset, limit=limit)


@router.post("/people", response_model=PersonOut, status_code=201)
async def create_person(body: PersonIn, request: Request, subject: Writer,
                        session: DbSession) -> Response:
    async def create() -> PersonOut:
        return await svc.person_out(session, await svc.create_person(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/people/{person_id}", response_model=PersonOut)
async def get_person(person_id: uuid.UUID, subject: Reader, session: DbSession) -> PersonOut:
    return await svc.person_out(session, await _person(session, subject, person_id))


@router.patch("/people/{person_id}", response_model=PersonOut)
async def update_person(person_id: uuid.UUID, body: PersonPatch, subject: Writer,
                        session: DbSession) -> PersonOut:
    person = await _person(session, subject, person_id)
    return await svc.person_out(session, await svc.update_person(session, subject, person,
                                                                 body))


@router.delete("/people/{person_id}", status_code=204)
async def delete_person(person_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    await svc.delete_person(session, subject, await _person(session, subject, person_id))
    return Response(status_code=204)


@router.post("/people/{person_id}/identities", response_model=IdentityOut, status_code=201)
async def add_identity(person_id: uuid.UUID, body: IdentityIn, subject: Writer,
                       session: DbSession) -> IdentityOut:
    person = await _person(session, subject, person_id)
    return IdentityOut.model_validate(await svc.add_person_identity(session, person, body))


@router.delete("/people/{person_id}/identities/{identity_id}", status_code=204)
async def remove_identity(person_id: uuid.UUID, identity_id: uuid.UUID, subject: Writer,
                          session: DbSession) -> Response:
    person = await _person(session, subject, person_id)
    identity = await repo.get_identity(session, subject.tenant_id, identity_id)
    await svc.remove_identity(session, person, identity)
    return Response(status_code=204)


@router.post("/people/{person_id}/merge", response_model=PersonOut)
async def merge_people(person_id: uuid.UUID, body: MergeIn, subject: Merger,
                       session: DbSession) -> PersonOut:
    kept = await _person(session, subject, person_id)
    duplicate = await _person(session, subject, body.duplicate_id)
    return await svc.person_out(session, await svc.merge(session, subject, kept, duplicate))


@router.get("/people/{person_id}/timeline", response_model=list[TimelineItemOut])
async def person_timeline(person_id: uuid.UUID, subject: Reader, session: DbSession,
                          before: datetime | None = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100,
                          ) -> list[TimelineItemOut]:
    person = await _person(session, subject, person_id)
    return await tl.timeline(session, subject.tenant_id, person.id, limit=limit,
                             before=before)


@router.get("/people/{person_id}/pages", response_model=list[PageViewOut])
async def person_pages(person_id: uuid.UUID, subject: Reader,
                       session: DbSession) -> list[PageViewOut]:
    person = await _person(session, subject, person_id)
    return await tl.pages_viewed(session, subject.tenant_id, person.id)


@router.get("/people/{person_id}/notes", response_model=list[NoteOut])
async def person_notes(person_id: uuid.UUID, subject: Reader,
                       session: DbSession) -> list[NoteOut]:
    person = await _person(session, subject, person_id)
    return [NoteOut.model_validate(n) for n in await repo.notes_of(
        session, subject.tenant_id, person.id)]


@router.post("/people/{person_id}/notes", response_model=NoteOut, status_code=201)
async def add_note(person_id: uuid.UUID, body: NoteIn, subject: Writer,
                   session: DbSession) -> NoteOut:
    person = await _person(session, subject, person_id)
    return NoteOut.model_validate(await svc.add_note(session, subject, person, body.body))


@router.delete("/notes/{note_id}", status_code=204)
async def delete_note(note_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    await svc.delete_note(session, subject, await repo.get_note(session, subject.tenant_id,
                                                                note_id))
    return Response(status_code=204)


@router.get("/people/{person_id}/external", response_model=ExternalOut)
async def person_external(person_id: uuid.UUID, subject: Reader, session: DbSession,
                          services: ServicesDep) -> ExternalOut:
    """Ask the tenant's own CRM now (short timeout); the last answer when it fails."""
    person = await _person(session, subject, person_id)
    await services.limiter.check(f"crm:lookup:{subject.tenant_id}", LOOKUP_LIMIT,
                                 what="lookups")
    return await lookup.lookup(session, services, person)


# --- the screen pop ---------------------------------------------------------------------------


@router.get("/contacts/{contact_id}/card", response_model=CardOut)
async def contact_card(contact_id: uuid.UUID, subject: Reader, session: DbSession,
                       services: ServicesDep, with_external: bool = False) -> CardOut:
    """The person of a contact with their whole history: what the agent console pops when
    the offer arrives."""
    contact = await contact_service.get_contact(session, subject, contact_id)
    fields = [CustomFieldOut.model_validate(f) for f in await repo.custom_fields(
        session, subject.tenant_id)]
    if contact.person_id is None:
        return CardOut(contact_id=contact.id, person=None, timeline=[], pages=[], notes=[],
                       custom_fields=fields, external=None)
    person = await repo.get_person(session, subject.tenant_id, contact.person_id)
    external: ExternalOut | None = None
    if with_external:
        external = await lookup.lookup(session, services, person)
    else:
        record = await repo.external_record(session, subject.tenant_id, person.id)
        if record is not None:
            external = ExternalOut(status="cached", data=record.data,
                                   fetched_at=record.fetched_at)
    return CardOut(
        contact_id=contact.id, person=await svc.person_out(session, person),
        timeline=await tl.timeline(session, subject.tenant_id, person.id, limit=50),
        pages=await tl.pages_viewed(session, subject.tenant_id, person.id),
        notes=[NoteOut.model_validate(n) for n in (await repo.notes_of(
            session, subject.tenant_id, person.id))[:20]],
        custom_fields=fields, external=external)


# --- search ------------------------------------------------------------------------------------


@router.get("/search", response_model=list[SearchHitOut])
async def search(subject: Reader, session: DbSession,
                 q: Annotated[str, Query(min_length=1, max_length=200)],
                 kind: Annotated[list[crm_search.Kind] | None, Query()] = None,
                 limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[SearchHitOut]:
    kinds = tuple(kind) if kind else crm_search.KINDS
    hits = await crm_search.search(session, subject.tenant_id, q, kinds=kinds, limit=limit)
    return [SearchHitOut(kind=h.kind, person_id=h.person_id, ref_id=h.ref_id, title=h.title,
                         snippet=h.snippet, at=h.at) for h in hits]


# --- custom fields -----------------------------------------------------------------------------


@router.get("/fields", response_model=list[CustomFieldOut])
async def list_fields(subject: Reader, session: DbSession) -> list[CustomFieldOut]:
    return [CustomFieldOut.model_validate(f) for f in await repo.custom_fields(
        session, subject.tenant_id)]


@router.post("/fields", response_model=CustomFieldOut, status_code=201)
async def create_field(body: CustomFieldIn, subject: Admin, session: DbSession) -> CustomFieldOut:
    return CustomFieldOut.model_validate(await svc.create_field(session, subject, body))


@router.patch("/fields/{field_id}", response_model=CustomFieldOut)
async def update_field(field_id: uuid.UUID, body: CustomFieldPatch, subject: Admin,
                       session: DbSession) -> CustomFieldOut:
    field = await repo.get_custom_field(session, subject.tenant_id, field_id)
    return CustomFieldOut.model_validate(await svc.update_field(session, subject, field, body))


@router.delete("/fields/{field_id}", status_code=204)
async def delete_field(field_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    await svc.delete_field(session, subject, await repo.get_custom_field(
        session, subject.tenant_id, field_id))
    return Response(status_code=204)


# --- import, export, privacy ----------------------------------------------------------------


@router.get("/export/people.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
async def export_csv(subject: Admin, session: DbSession) -> Response:
    audit(session, subject.tenant_id, actor=subject.label, action="crm.people_exported")
    return Response(content=await csv_io.export_people(session, subject.tenant_id),
                    media_type="text/csv; charset=utf-8", headers={
                        "Content-Disposition": 'attachment; filename="people.csv"'})


@router.post("/import/people", response_model=ImportReport)
async def import_csv(file: UploadFile, subject: Admin, session: DbSession) -> ImportReport:
    data = await file.read(csv_io.MAX_BYTES + 1)
    if len(data) > csv_io.MAX_BYTES:
        raise PayloadTooLarge("The file is larger than 5 MB.")
    report = await csv_io.import_people(session, subject, data)
    audit(session, subject.tenant_id, actor=subject.label, action="crm.people_imported",
          created=report.created, updated=report.updated, rejected=len(report.rejected))
    return report


@router.get("/people/{person_id}/export", response_model=dict[str, Any])
async def export_person(person_id: uuid.UUID, subject: Admin,
                        session: DbSession) -> dict[str, Any]:
    person = await _person(session, subject, person_id)
    audit(session, subject.tenant_id, actor=subject.label, action="crm.person_exported",
          target=str(person.id))
    return await privacy.export_person(session, person)


@router.post("/people/{person_id}/erase", response_model=ErasureOut)
async def erase_person(person_id: uuid.UUID, subject: Admin, session: DbSession) -> ErasureOut:
    person = await _person(session, subject, person_id)
    counts = await privacy.erase_person(session, person, actor=subject.label)
    return ErasureOut(person_id=person_id, erased=counts)


@router.post("/retention/run", response_model=dict[str, int])
async def run_retention(subject: Admin, session: DbSession) -> dict[str, int]:
    settings = await repo.settings_of(session, subject.tenant_id)
    return await privacy.apply_retention(session, subject.tenant_id, settings)


# --- settings and lookup -----------------------------------------------------------------------


def settings_out(settings: Any) -> CrmSettingsOut:
    return CrmSettingsOut(
        lookup_url=settings.lookup_url,
        lookup_configured=bool(settings.lookup_url and settings.lookup_secret_encrypted),
        phone_region=settings.phone_region,
        conversation_retention_days=settings.conversation_retention_days,
        person_retention_days=settings.person_retention_days,
        last_retention_at=settings.last_retention_at)


@router.get("/settings", response_model=CrmSettingsOut)
async def get_settings(subject: Admin, session: DbSession) -> CrmSettingsOut:
    return settings_out(await repo.settings_of(session, subject.tenant_id))


@router.put("/settings", response_model=CrmSettingsOut)
async def put_settings(body: CrmSettingsIn, subject: Admin, session: DbSession,
                       services: ServicesDep) -> CrmSettingsOut:
    return settings_out(await save_settings(session, services, subject, body))


async def save_settings(session: DbSession, services: Any, subject: Subject,
                        body: CrmSettingsIn) -> Any:
    settings = await repo.settings_of(session, subject.tenant_id)
    if body.lookup_url:
        await webhooks.guard_of(services).check_url(body.lookup_url)
        if not settings.lookup_secret_encrypted:
            settings.lookup_secret_encrypted = encrypt_secret(
                services.settings.secret_key, new_secret())
    settings.lookup_url = body.lookup_url or None
    settings.phone_region = body.phone_region.upper() if body.phone_region else None
    settings.conversation_retention_days = body.conversation_retention_days
    settings.person_retention_days = body.person_retention_days
    settings.updated_at = utcnow()
    session.add(settings)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="crm.settings_changed")
    return settings


@router.post("/settings/lookup-secret", response_model=LookupSecretOut)
async def rotate_lookup_secret(subject: Admin, session: DbSession,
                               services: ServicesDep) -> LookupSecretOut:
    """A new secret for the lookup's signature, shown this once."""
    settings = await repo.settings_of(session, subject.tenant_id)
    secret = new_secret()
    settings.lookup_secret_encrypted = encrypt_secret(services.settings.secret_key, secret)
    session.add(settings)
    audit(session, subject.tenant_id, actor=subject.label,
          action="crm.lookup_secret_rotated")
    return LookupSecretOut(secret=secret)


# --- webhooks ----------------------------------------------------------------------------------


@router.get("/events", response_model=dict[str, str])
async def event_types(subject: Reader) -> dict[str, str]:
    return dict(EVENT_TYPES)


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(subject: Admin, session: DbSession) -> list[WebhookOut]:
    return [WebhookOut.model_validate(h) for h in await repo.webhooks(session,
                                                                      subject.tenant_id)]


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
async def create_webhook(body: WebhookIn, subject: Admin, session: DbSession,
                         services: ServicesDep) -> WebhookCreated:
    hook, secret = await webhooks.create(session, services, subject, body)
    return WebhookCreated(**WebhookOut.model_validate(hook).model_dump(), secret=secret)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: uuid.UUID, subject: Admin, session: DbSession) -> WebhookOut:
    return WebhookOut.model_validate(await repo.get_webhook(session, subject.tenant_id,
                                                            webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
async def update_webhook(webhook_id: uuid.UUID, body: WebhookPatch, subject: Admin,
                         session: DbSession, services: ServicesDep) -> WebhookOut:
    hook = await repo.get_webhook(session, subject.tenant_id, webhook_id)
    return WebhookOut.model_validate(await webhooks.update(session, services, subject, hook,
                                                           body))


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    await webhooks.delete(session, subject, await repo.get_webhook(session, subject.tenant_id,
                                                                   webhook_id))
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=LookupSecretOut)
async def rotate_webhook_secret(webhook_id: uuid.UUID, subject: Admin, session: DbSession,
                                services: ServicesDep) -> LookupSecretOut:
    hook = await repo.get_webhook(session, subject.tenant_id, webhook_id)
    return LookupSecretOut(secret=await webhooks.rotate_secret(session, services, subject,
                                                                hook))


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(webhook_id: uuid.UUID, subject: Admin,
                          session: DbSession) -> list[DeliveryOut]:
    hook = await repo.get_webhook(session, subject.tenant_id, webhook_id)
    return [DeliveryOut.model_validate(d) for d in await repo.deliveries(
        session, subject.tenant_id, hook.id)]


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
async def redeliver(delivery_id: uuid.UUID, subject: Admin, session: DbSession) -> DeliveryOut:
    delivery = await repo.get_delivery(session, subject.tenant_id, delivery_id)
    await webhooks.redeliver(session, delivery)
    return DeliveryOut.model_validate(delivery)

