"""The admin console's People and CRM sections (``/t/{slug}/admin/people``,
``/t/{slug}/admin/crm/...``): the people list with search, a person's page with their
timeline, notes, merge and privacy actions, CSV import and export, custom fields,
webhooks with their delivery logs, the tenant's CRM lookup and retention. Same services
as the API."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from plateaux.crm import csv_io, privacy, webhooks
from plateaux.crm import repository as repo
from plateaux.crm import search as crm_search
from plateaux.crm import service as svc
from plateaux.crm import timeline as tl
from plateaux.crm.endpoints import save_settings, settings_out
from plateaux.crm.events import EVENT_TYPES
from plateaux.crm.models import FieldType, IdentityKind
from plateaux.crm.schemas import (
    CrmSettingsIn,
    CustomFieldIn,
    IdentityIn,
    PersonIn,
    PersonPatch,
    WebhookIn,
)
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession, ServicesDep
from plateaux.platform.deps import SupervisorConsole as ManagerConsole
from plateaux.platform.errors import PayloadTooLarge
from plateaux.tenants import repository as tenant_repo
from plateaux.tenants.console import ADMIN, REFUSED, _attempt, _back, _field, _page
from plateaux.tenants.service import audit

router = APIRouter(include_in_schema=False)
PEOPLE = ADMIN + "/people"
CRM = ADMIN + "/crm"
PAGE = 50


async def _people_page(request: Request, console: ConsoleContext, session: DbSession, *,
                       failure: BaseException | None = None, report: Any = None) -> Response:
    tenant_id = console.tenant.id
    query = request.query_params.get("q", "").strip()[:200]
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    hits: list[crm_search.Hit] = []
    if query:
        hits = await crm_search.search(session, tenant_id, query, limit=PAGE)
        person_ids = [h.ref_id for h in hits if h.kind == "person"]
        people = await repo.people_by_ids(session, tenant_id, person_ids)
        order = {pid: i for i, pid in enumerate(person_ids)}
        people.sort(key=lambda p: order.get(p.id, 0))
        total = len(people)
    else:
        people, total = await repo.list_people(session, tenant_id, offset=(page - 1) * PAGE,
                                               limit=PAGE)
    return _page(request, console, "crm/people.html", section="people", failure=failure,
                 people=await svc.people_out(session, tenant_id, people), query=query,
                 hits=[h for h in hits if h.kind != "person"], total=total, page=page,
                 pages=max(1, -(-total // PAGE)), report=report)


@router.get(PEOPLE)
async def people(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    return await _people_page(request, console, session)


@router.post(PEOPLE)
async def create_person(request: Request, console: ManagerConsole,
                        session: DbSession) -> Response:
    form = await request.form()

    async def run() -> uuid.UUID:
        identities = [IdentityIn(kind=kind, value=_field(form, kind.value))
                      for kind in (IdentityKind.EMAIL, IdentityKind.PHONE)
                      if _field(form, kind.value)]
        body = PersonIn(name=_field(form, "name"), company=_field(form, "company") or None,
                        identities=identities)
        return (await svc.create_person(session, console.subject, body)).id

    try:
        person_id = await _attempt(session, run)
    except REFUSED as exc:
        return await _people_page(request, console, session, failure=exc)
    return _back(request, console, f"people/{person_id}", "Person added.")


@router.get(PEOPLE + "/export.csv")
async def export_people(console: AdminConsole, session: DbSession) -> Response:
    audit(session, console.tenant.id, actor=console.subject.label,
          action="crm.people_exported")
    return Response(content=await csv_io.export_people(session, console.tenant.id),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="people.csv"'})


@router.post(PEOPLE + "/import")
async def import_people(request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    form = await request.form()
    upload = form.get("file")

    async def run() -> Any:
        if not isinstance(upload, UploadFile):
            raise PayloadTooLarge("Choose a CSV file.")
        data = await upload.read(csv_io.MAX_BYTES + 1)
        if len(data) > csv_io.MAX_BYTES:
            raise PayloadTooLarge("The file is larger than 5 MB.")
        found = await csv_io.import_people(session, console.subject, data)
        audit(session, console.tenant.id, actor=console.subject.label,
              action="crm.people_imported", created=found.created, updated=found.updated,
              rejected=len(found.rejected))
        return found

    try:
        report = await _attempt(session, run)
    except REFUSED as exc:
        return await _people_page(request, console, session, failure=exc)
    return await _people_page(request, console, session, report=report)


async def _person_page(request: Request, console: ConsoleContext, session: DbSession,
                       person_id: uuid.UUID, *, failure: BaseException | None = None,
                       ) -> Response:
    tenant_id = console.tenant.id
    person = await repo.get_person(session, tenant_id, person_id)
    users, _ = await tenant_repo.list_users(session, tenant_id, limit=500)
    return _page(request, console, "crm/person.html", section="people", failure=failure,
                 person=await svc.person_out(session, person),
                 timeline=await tl.timeline(session, tenant_id, person.id, limit=200),
                 pages=await tl.pages_viewed(session, tenant_id, person.id),
                 notes=await repo.notes_of(session, tenant_id, person.id),
                 fields=await repo.custom_fields(session, tenant_id), users=users,
                 external=await repo.external_record(session, tenant_id, person.id),
                 kinds=[k.value for k in IdentityKind])


@router.get(PEOPLE + "/{person_id}")
async def person(person_id: uuid.UUID, request: Request, console: ManagerConsole,
                 session: DbSession) -> Response:
    return await _person_page(request, console, session, person_id)


def _custom_values(form: FormData, fields: list[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in fields:
        name = f"custom_{field.key}"
        if field.type == FieldType.BOOLEAN.value:
            values[field.key] = form.get(name) == "on"
        else:
            values[field.key] = _field(form, name) or None
    return values


@router.post(PEOPLE + "/{person_id}")
async def update_person(person_id: uuid.UUID, request: Request, console: ManagerConsole,
                        session: DbSession) -> Response:
    form = await request.form()
    found = await repo.get_person(session, console.tenant.id, person_id)

    async def run() -> None:
        fields = await repo.custom_fields(session, console.tenant.id)
        owner = _field(form, "owner_id")
        body = PersonPatch(
            name=_field(form, "name"), company=_field(form, "company"),
            owner_id=uuid.UUID(owner) if owner else None,
            language=_field(form, "language") or None,
            tags=[t for t in _field(form, "tags").split(",") if t.strip()],
            custom=_custom_values(form, fields))
        await svc.update_person(session, console.subject, found, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        await session.refresh(found)
        return await _person_page(request, console, session, person_id, failure=exc)
    return _back(request, console, f"people/{person_id}", "Saved.")


@router.post(PEOPLE + "/{person_id}/identities")
async def add_identity(person_id: uuid.UUID, request: Request, console: ManagerConsole,
                       session: DbSession) -> Response:
    form = await request.form()
    found = await repo.get_person(session, console.tenant.id, person_id)

    async def run() -> None:
        body = IdentityIn.model_validate({"kind": _field(form, "kind"),
                                          "value": _field(form, "value")})
        await svc.add_person_identity(session, found, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _person_page(request, console, session, person_id, failure=exc)
    return _back(request, console, f"people/{person_id}", "Identity added.")


@router.post(PEOPLE + "/{person_id}/identities/{identity_id}/delete")
async def remove_identity(person_id: uuid.UUID, identity_id: uuid.UUID, request: Request,
                          console: ManagerConsole, session: DbSession) -> Response:
    found = await repo.get_person(session, console.tenant.id, person_id)
    identity = await repo.get_identity(session, console.tenant.id, identity_id)
    try:
        await _attempt(session, lambda: svc.remove_identity(session, found, identity))
    except REFUSED as exc:
        return await _person_page(request, console, session, person_id, failure=exc)
    return _back(request, console, f"people/{person_id}", "Identity removed.")


@router.post(PEOPLE + "/{person_id}/notes")
async def add_note(person_id: uuid.UUID, request: Request, console: ManagerConsole,
                   session: DbSession) -> Response:
    form = await request.form()
    found = await repo.get_person(session, console.tenant.id, person_id)
    text = _field(form, "body")
    try:
        if not text:
            raise ValueError("Write the note first.")
        await _attempt(session, lambda: svc.add_note(session, console.subject, found,
                                                     text[:10000]))
    except REFUSED as exc:
        return await _person_page(request, console, session, person_id, failure=exc)
    return _back(request, console, f"people/{person_id}", "Note added.")


@router.post(PEOPLE + "/{person_id}/merge")
async def merge(person_id: uuid.UUID, request: Request, console: ManagerConsole,
                session: DbSession) -> Response:
    form = await request.form()
    kept = await repo.get_person(session, console.tenant.id, person_id)

    async def run() -> None:
        raw = _field(form, "duplicate")
        # The other person by id, or by one of their identities (an address, a number).
        try:
            duplicate = await repo.get_person(session, console.tenant.id, uuid.UUID(raw))
        except ValueError:
            hits = await crm_search.search(session, console.tenant.id, raw,
                                           kinds=("person",), limit=2)
            others = [h for h in hits if h.ref_id != kept.id]
            if len(others) != 1:
                raise ValueError("Name exactly one other person (their id or address)."
                                 ) from None
            duplicate = await repo.get_person(session, console.tenant.id, others[0].ref_id)
        await svc.merge(session, console.subject, kept, duplicate)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _person_page(request, console, session, person_id, failure=exc)
    return _back(request, console, f"people/{person_id}", "Merged.")


@router.get(PEOPLE + "/{person_id}/export")
async def export_person(person_id: uuid.UUID, console: AdminConsole,
                        session: DbSession) -> Response:
    found = await repo.get_person(session, console.tenant.id, person_id)
    audit(session, console.tenant.id, actor=console.subject.label,
          action="crm.person_exported", target=str(person_id))
    data = await privacy.export_person(session, found)
    return Response(content=json.dumps(data, indent=2, ensure_ascii=False),
                    media_type="application/json", headers={
                        "Content-Disposition": f'attachment; filename="person-{person_id}.json"'})


@router.post(PEOPLE + "/{person_id}/erase")
async def erase(person_id: uuid.UUID, request: Request, console: AdminConsole,
                session: DbSession) -> Response:
    found = await repo.get_person(session, console.tenant.id, person_id)
    await privacy.erase_person(session, found, actor=console.subject.label)
    return _back(request, console, "people", "The person was erased.")


# --- custom fields -----------------------------------------------------------------------------


async def _fields_page(request: Request, console: ConsoleContext, session: DbSession, *,
                       failure: BaseException | None = None) -> Response:
    return _page(request, console, "crm/fields.html", section="crm", failure=failure,
                 fields=await repo.custom_fields(session, console.tenant.id),
                 types=[t.value for t in FieldType])


@router.get(CRM + "/fields")
async def fields(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _fields_page(request, console, session)


@router.post(CRM + "/fields")
async def create_field(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> None:
        body = CustomFieldIn.model_validate({
            "key": _field(form, "key"), "label": _field(form, "label"),
            "type": _field(form, "type") or "text",
            "choices": [c for c in _field(form, "choices").split(",") if c.strip()],
            "required": form.get("required") == "on"})
        await svc.create_field(session, console.subject, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _fields_page(request, console, session, failure=exc)
    return _back(request, console, "crm/fields", "Field added.")


@router.post(CRM + "/fields/{field_id}/delete")
async def delete_field(field_id: uuid.UUID, request: Request, console: AdminConsole,
                       session: DbSession) -> Response:
    field = await repo.get_custom_field(session, console.tenant.id, field_id)
    await svc.delete_field(session, console.subject, field)
    return _back(request, console, "crm/fields", "Field removed.")


# --- webhooks ----------------------------------------------------------------------------------


async def _hooks_page(request: Request, console: ConsoleContext, session: DbSession, *,
                      failure: BaseException | None = None, secret: str | None = None
                      ) -> Response:
    return _page(request, console, "crm/webhooks.html", section="crm", failure=failure,
                 hooks=await repo.webhooks(session, console.tenant.id),
                 event_types=EVENT_TYPES, secret=secret)


@router.get(CRM + "/webhooks")
async def hooks(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _hooks_page(request, console, session)


@router.post(CRM + "/webhooks")
async def create_hook(request: Request, console: AdminConsole, session: DbSession,
                      services: ServicesDep) -> Response:
    form = await request.form()

    async def run() -> str:
        body = WebhookIn(url=_field(form, "url"), description=_field(form, "description"),
                         events=[e for e in form.getlist("events") if isinstance(e, str)])
        return (await webhooks.create(session, services, console.subject, body))[1]

    try:
        secret = await _attempt(session, run)
    except REFUSED as exc:
        return await _hooks_page(request, console, session, failure=exc)
    return await _hooks_page(request, console, session, secret=secret)


@router.get(CRM + "/webhooks/{webhook_id}")
async def hook(webhook_id: uuid.UUID, request: Request, console: AdminConsole,
               session: DbSession) -> Response:
    found = await repo.get_webhook(session, console.tenant.id, webhook_id)
    return _page(request, console, "crm/webhook.html", section="crm", hook=found,
                 deliveries=await repo.deliveries(session, console.tenant.id, found.id))


@router.post(CRM + "/webhooks/{webhook_id}/delete")
async def delete_hook(webhook_id: uuid.UUID, request: Request, console: AdminConsole,
                      session: DbSession) -> Response:
    found = await repo.get_webhook(session, console.tenant.id, webhook_id)
    await webhooks.delete(session, console.subject, found)
    return _back(request, console, "crm/webhooks", "Webhook removed.")


@router.post(CRM + "/deliveries/{delivery_id}/redeliver")
async def redeliver(delivery_id: uuid.UUID, request: Request, console: AdminConsole,
                    session: DbSession) -> Response:
    delivery = await repo.get_delivery(session, console.tenant.id, delivery_id)
    await webhooks.redeliver(session, delivery)
    return _back(request, console, f"crm/webhooks/{delivery.webhook_id}", "Sending again.")


# --- settings: lookup, phone region, retention --------------------------------------------


async def _settings_page(request: Request, console: ConsoleContext, session: DbSession, *,
                         failure: BaseException | None = None,
                         ran: dict[str, int] | None = None) -> Response:
    return _page(request, console, "crm/settings.html", section="crm", failure=failure,
                 crm=settings_out(await repo.settings_of(session, console.tenant.id)),
                 ran=ran)


@router.get(CRM + "/settings")
async def crm_settings(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _settings_page(request, console, session)


def _days(form: FormData, name: str) -> int | None:
    value = _field(form, name)
    return int(value) if value else None


@router.post(CRM + "/settings")
async def save(request: Request, console: AdminConsole, session: DbSession,
               services: ServicesDep) -> Response:
    form = await request.form()

    async def run() -> None:
        body = CrmSettingsIn(
            lookup_url=_field(form, "lookup_url") or None,
            phone_region=_field(form, "phone_region") or None,
            conversation_retention_days=_days(form, "conversation_retention_days"),
            person_retention_days=_days(form, "person_retention_days"))
        await save_settings(session, services, console.subject, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _settings_page(request, console, session, failure=exc)
    return _back(request, console, "crm/settings", "Saved.")


@router.post(CRM + "/settings/retention")
async def run_retention(request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    settings = await repo.settings_of(session, console.tenant.id)
    ran = await privacy.apply_retention(session, console.tenant.id, settings)
    return await _settings_page(request, console, session, ran=ran)
