"""CSV import and export of people.

Columns: ``name, company, emails, phones, external_id, tags, owner_email`` and one per
custom field (its key). Several emails, phones or tags share a cell, separated by ``;``.
A row whose email, phone or external id already belongs to someone updates that person;
a row that cannot be taken (an invalid address, a value that does not fit its custom
field, identities of two different people...) is rejected with its line number and why,
and the other rows are imported.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.crm import repository as repo
from plateaux.crm import service
from plateaux.crm.identities import InvalidIdentity, normalize
from plateaux.crm.models import IdentityKind, Person
from plateaux.crm.schemas import ImportReport, PersonPatch
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import ProblemError, UnprocessableContent
from plateaux.tenants.models import User

BASE_COLUMNS = ["id", "name", "company", "emails", "phones", "external_id", "tags",
                "owner_email", "created_at", "last_contact_at"]
MAX_ROWS = 10000
MAX_BYTES = 5 * 1024 * 1024


def _cells(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


async def export_people(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    fields = await repo.custom_fields(session, tenant_id)
    people = list((await session.scalars(select(Person).where(
        col(Person.tenant_id) == tenant_id).order_by(col(Person.created_at)))).all())
    owners = {u.id: u.email for u in (await session.scalars(select(User).where(
        col(User.tenant_id) == tenant_id))).all()}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BASE_COLUMNS + [f.key for f in fields])
    for chunk in range(0, len(people), 500):
        batch = people[chunk:chunk + 500]
        for person in await service.people_out(session, tenant_id, batch):
            by_kind: dict[str, list[str]] = {}
            for identity in person.identities:
                by_kind.setdefault(identity.kind, []).append(identity.value)
            writer.writerow([_safe(v) for v in [
                str(person.id), person.name, person.company.name if person.company else "",
                ";".join(by_kind.get("email", [])), ";".join(by_kind.get("phone", [])),
                ";".join(by_kind.get("external", [])), ";".join(person.tags),
                owners.get(person.owner_id, "") if person.owner_id else "",
                person.created_at.isoformat(),
                person.last_contact_at.isoformat() if person.last_contact_at else "",
                *(_text(person.custom.get(f.key)) for f in fields)]])
    return out.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    if value[:1] == "+" and all(c.isdigit() or c in "+;" for c in value):
        return value  # phone numbers
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def import_people(session: AsyncSession, subject: Subject, data: bytes) -> ImportReport:
    if len(data) > MAX_BYTES:
        raise UnprocessableContent("The file is larger than 5 MB.")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnprocessableContent("The file is not UTF-8 text.") from error
    reader = csv.DictReader(io.StringIO(content))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as error:
        raise UnprocessableContent(f"The header row is not valid CSV: {error}.") from error
    if not fieldnames:
        raise UnprocessableContent("The file has no header row.")
    headers = [h.strip().lower() for h in fieldnames if h]
    tenant_id = subject.tenant_id
    fields = {f.key: f for f in await repo.custom_fields(session, tenant_id)}
    unknown = [h for h in headers if h not in BASE_COLUMNS and h not in fields]
    if unknown:
        raise UnprocessableContent(f"Unknown column '{unknown[0][:40]}'.")
    if not {"name", "emails", "phones", "external_id"} & set(headers):
        raise UnprocessableContent("The file needs a name, emails, phones or external_id "
                                   "column.")
    owners = {u.email.lower(): u.id for u in (await session.scalars(select(User).where(
        col(User.tenant_id) == tenant_id))).all()}
    region = await service.region_of(session, tenant_id)
    report = ImportReport(created=0, updated=0, rejected=[])
    for number, raw in enumerate(_rows(reader), start=2):
        if number - 1 > MAX_ROWS:
            report.rejected.append({"line": number, "reason": f"Only {MAX_ROWS} rows are "
                                    "read per file."})
            break
        row = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else ""
               for k, v in raw.items()}
        try:
            async with savepoint(session):
                created = await _import_row(session, subject, row, fields=fields,
                                            owners=owners, region=region)
        except (ProblemError, ValueError) as error:
            reason = getattr(error, "detail", None) or str(error)
            report.rejected.append({"line": number, "reason": reason[:300],
                                    "name": row.get("name", "")[:200]})
            continue
        if created:
            report.created += 1
        else:
            report.updated += 1
    return report


def _rows(reader: csv.DictReader[str]) -> Iterator[dict[str, str | Any]]:
    """The rows; a line the csv module cannot read (a field over its size limit) makes the
    whole file a bad request, imported by nobody (the request's transaction is undone)."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise UnprocessableContent(
                f"Line {reader.line_num + 1} is not valid CSV: {error}.") from error
        yield row


async def _import_row(session: AsyncSession, subject: Subject, row: dict[str, str], *,
                      fields: dict[str, Any], owners: dict[str, uuid.UUID],
                      region: str | None) -> bool:
    tenant_id = subject.tenant_id
    identities: list[tuple[str, str]] = []
    try:
        identities += [("email", normalize("email", v)) for v in _cells(row.get("emails"))]
        identities += [("phone", normalize("phone", v, region=region))
                       for v in _cells(row.get("phones"))]
        identities += [("external", normalize("external", v))
                       for v in _cells(row.get("external_id"))]
    except InvalidIdentity as error:
        raise UnprocessableContent(error.detail) from error
    if not identities and not row.get("name"):
        raise UnprocessableContent("The row has no name and no identity.")
    held = await repo.find_identities(session, tenant_id, identities)
    owners_of = {i.person_id for i in held}
    if len(owners_of) > 1:
        raise UnprocessableContent("Its identities belong to different people.")
    owner_email = row.get("owner_email", "").lower()
    if owner_email and owner_email not in owners:
        raise UnprocessableContent(f"No user has the email '{owner_email[:80]}'.")
    custom = {key: row[key] for key in fields if key in row and row[key] != ""}
    tags = [t.lower() for t in _cells(row.get("tags"))]
    patch = PersonPatch.model_validate({
        k: v for k, v in {
            "name": row.get("name") or None, "company": row.get("company") or None,
            "owner_id": owners.get(owner_email) if owner_email else None,
            "tags": tags or None, "custom": custom or None}.items() if v is not None})
    if owners_of:
        person = await repo.get_person(session, tenant_id, owners_of.pop())
        if patch.tags is not None:
            patch.tags = list(dict.fromkeys([*(person.tags or []), *patch.tags]))
        created = False
    else:
        person = Person(tenant_id=tenant_id, name="", source="import")
        session.add(person)
        await session.flush()
        created = True
    await service.update_person(session, subject, person, patch)
    if created:
        missing = [f.label for k, f in fields.items() if f.required
                   and k not in (person.custom or {})]
        if missing:
            raise UnprocessableContent(f"'{missing[0]}' is required.")
    for kind, value in identities:
        await service.add_identity(session, person, kind, value, verified=True,
                                   normalized=True)
    await service.refresh_search_text(session, person)
    await session.flush()
    return created


__all__ = ["BASE_COLUMNS", "IdentityKind", "export_people", "import_people"]
