"""Case events for the tenant's own systems: registered with the CRM's outgoing webhooks
(so admins subscribe to them beside the contact and person events, and deliveries are
signed, retried and logged the same way), and the case's activity log that the person's
timeline shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.crm import events as crm_events
from plateaux.helpdesk.models import Case, CaseEvent
from plateaux.helpdesk.schemas import CaseOut

CASE_EVENT_TYPES = {
    "case.created": "A case was opened (by an agent, by the tenant's rule or through the API)",
    "case.updated": "A case's subject, priority, category, level, owner, team or status "
                    "changed",
    "case.escalated": "A case was escalated to another support level or team, by hand or "
                      "because an SLA was at risk",
    "case.solved": "A case was solved (with its resolution code)",
    "case.closed": "A case was closed",
    "case.sla_breached": "A case ran over one of its SLA targets",
}
for _name, _description in CASE_EVENT_TYPES.items():
    crm_events.register_event_type(_name, _description)


def case_data(case: Case) -> dict[str, Any]:
    return CaseOut.model_validate(case).model_dump(mode="json")


async def emit(session: AsyncSession, case: Case, event: str, **extra: Any) -> None:
    """A webhook delivery of ``event`` for every subscribed webhook, in this transaction."""
    await crm_events.emit(session, case.tenant_id, event, {"case": case_data(case), **extra},
                          person_id=case.person_id)


def record(session: AsyncSession, case: Case, kind: str, *, actor_id: Any = None,
           actor_name: str = "", body: str = "", **data: Any) -> CaseEvent:
    """An entry of the case's activity log (the timeline shows the notable ones)."""
    event = CaseEvent(tenant_id=case.tenant_id, case_id=case.id, kind=kind, actor_id=actor_id,
                      actor_name=actor_name[:200], body=body, data=data)
    session.add(event)
    return event
