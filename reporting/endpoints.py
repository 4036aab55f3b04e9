"""Routes of the live statistics, for supervisors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, require_scope
from plateaux.reporting.live_queues import live_queues
from plateaux.reporting.schemas import QueueLiveOut

router = APIRouter(tags=["reporting"])

# The same permission as every agent's presence: what supervisors have, agents do not.
Supervisor = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_WRITE))]


@router.get("/reporting/queues/live", response_model=list[QueueLiveOut])
async def queues_live(subject: Supervisor, session: DbSession) -> list[QueueLiveOut]:
    """Per queue: waiting now, longest wait, agents available, and today's service level
    (answered within the queue's threshold / offered) beside its target."""
    return await live_queues(session, subject.tenant_id)
