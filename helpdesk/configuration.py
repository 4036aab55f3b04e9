"""The tenant's help desk configuration: SLA policies, resolution codes and settings, with
their audit entries. Shared by the API and the admin pages."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.helpdesk import cases
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import HelpdeskSettings, ResolutionCode, SlaPolicy
from plateaux.helpdesk.schemas import (
    HelpdeskSettingsIn,
    ResolutionCodeIn,
    SlaPolicyIn,
    SlaPolicyPatch,
)
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import Conflict
from plateaux.platform.types import utcnow
from plateaux.tenants.service import audit


async def _check_team(session: AsyncSession, subject: Subject,
                      team_id: uuid.UUID | None) -> None:
    if team_id is not None:
        await cases.check_people(session, subject.tenant_id, team_id=team_id)


async def save_policy(session: AsyncSession, subject: Subject, policy: SlaPolicy | None,
                      body: SlaPolicyIn | SlaPolicyPatch) -> SlaPolicy:
    """Create (``policy`` None) or change a policy; shared by the API and the admin pages."""
    changes = body.model_dump(exclude_unset=policy is not None)
    await _check_team(session, subject, changes.get("escalation_team_id"))
    name = (changes.get("name") or "").strip()
    if name and any(p.name == name and (policy is None or p.id != policy.id)
                    for p in await repo.sla_policies(session, subject.tenant_id)):
        raise Conflict("An SLA policy has this name already.")
    if policy is None:
        policy = SlaPolicy(tenant_id=subject.tenant_id, name=name)
    for field, value in changes.items():
        if field in ("name",) and value is not None:
            policy.name = value.strip()
        elif field in ("priorities", "channels") and value is not None:
            setattr(policy, field, [getattr(v, "value", v) for v in value])
        elif field in ("first_response_minutes", "next_response_minutes",
                       "resolution_minutes", "escalation_team_id") or value is not None:
            setattr(policy, field, value)
    policy.updated_at = utcnow()
    session.add(policy)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.sla_policy_saved",
          target=policy.name)
    return policy


async def delete_policy(session: AsyncSession, subject: Subject, policy: SlaPolicy) -> None:
    """Its cases keep their SLA figures and fall under no policy."""
    audit(session, subject.tenant_id, actor=subject.label,
          action="helpdesk.sla_policy_deleted", target=policy.name)
    await session.delete(policy)
    await session.flush()


async def save_code(session: AsyncSession, subject: Subject,
                    body: ResolutionCodeIn) -> ResolutionCode:
    if any(c.code == body.code for c in await repo.resolution_codes(session,
                                                                    subject.tenant_id)):
        raise Conflict("This resolution code exists already.")
    code = ResolutionCode(tenant_id=subject.tenant_id, code=body.code,
                          label=body.label.strip(), position=body.position)
    session.add(code)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label,
          action="helpdesk.resolution_code_created", target=code.code)
    return code


async def delete_code(session: AsyncSession, subject: Subject, code: ResolutionCode) -> None:
    audit(session, subject.tenant_id, actor=subject.label,
          action="helpdesk.resolution_code_deleted", target=code.code)
    await session.delete(code)
    await session.flush()


async def save_settings(session: AsyncSession, subject: Subject,
                        body: HelpdeskSettingsIn) -> HelpdeskSettings:
    settings = await repo.settings_of(session, subject.tenant_id)
    languages = list(body.kb_languages)
    if body.kb_default_language not in languages:
        languages.insert(0, body.kb_default_language)
    for name, value in body.model_dump().items():
        setattr(settings, name, value)
    settings.kb_languages = languages
    settings.updated_at = utcnow()
    session.add(settings)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.settings_changed")
    return settings
