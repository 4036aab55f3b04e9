"""The demo tenant's routing: queues, the website's workflow, agents' routing profiles and
away reasons.

Idempotent, and fills in only what is missing, so a demo tenant seeded before routing
existed gets it too and one an admin changed is left as it is.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.routing.config import workflow_from_definition
from plateaux.routing.models import AgentProfile, AwayReason, RoutingQueue, RoutingWorkflow
from plateaux.tenants.models import Role, Skill, User

QUEUES: dict[str, dict[str, Any]] = {
    "Sales": {"description": "Questions before buying", "sla_threshold_seconds": 20.0},
    "Support": {"description": "Help with an order or a product",
                "sla_threshold_seconds": 30.0},
    "VIP": {"description": "Gold customers", "strategy": "highest_skill",
            "sla_threshold_seconds": 10.0, "sla_target": 0.9},
}
CAPACITY = {"phone": 1, "webcall": 1, "callback": 1, "chat": 3, "email": 5}
REASONS = {"break": "Break", "lunch": "Lunch", "training": "Training", "meeting": "Meeting"}
WORKFLOW = "Website"


def website_definition(queues: dict[str, uuid.UUID], vip_skill: uuid.UUID) -> dict[str, Any]:
    """Gold customers go to VIP, to the best sellers for 20 seconds then to anyone there;
    sales questions to Sales; the rest to Support. Past ten minutes of estimated wait, or
    when every step is exhausted, the visitor is offered a callback."""
    return {
        "filters": [
            {"name": "vip", "expression": "tier == 'gold'", "steps": [
                {"queue_id": str(queues["VIP"]), "required_skills": {str(vip_skill): 4},
                 "timeout": 20},
                {"queue_id": str(queues["VIP"])}]},
            {"name": "sales", "expression": "topic == 'sales'", "steps": [
                {"queue_id": str(queues["Sales"])}]},
        ],
        "default_steps": [{"queue_id": str(queues["Support"])}],
        "overflow": {"action": "offer_callback"},
        "max_estimated_wait": 600,
    }


async def seed_routing(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    queues = {q.name: q for q in (await session.scalars(
        select(RoutingQueue).where(col(RoutingQueue.tenant_id) == tenant_id))).all()}
    for name, settings in QUEUES.items():
        if name not in queues:
            queues[name] = RoutingQueue(tenant_id=tenant_id, name=name, **settings)
            session.add(queues[name])
    await session.flush()
    ids = {name: queues[name].id for name in QUEUES}

    skills = {s.name: s.id for s in (await session.scalars(
        select(Skill).where(col(Skill.tenant_id) == tenant_id))).all()}
    existing = (await session.scalars(select(RoutingWorkflow.id).where(
        col(RoutingWorkflow.tenant_id) == tenant_id,
        col(RoutingWorkflow.name) == WORKFLOW))).first()
    if existing is None and "Sales" in skills:
        definition = website_definition(ids, skills["Sales"])
        workflow_from_definition(WORKFLOW, definition)  # the demo must be a valid example
        session.add(RoutingWorkflow(tenant_id=tenant_id, name=WORKFLOW,
                                    description="Chat, calls and forms from the website",
                                    definition=definition))

    agents = (await session.scalars(select(User).where(
        col(User.tenant_id) == tenant_id, col(User.role) == Role.AGENT))).all()
    profiled = set((await session.scalars(select(AgentProfile.user_id).where(
        col(AgentProfile.tenant_id) == tenant_id))).all())
    for index, agent in enumerate(sorted(agents, key=lambda a: a.email)):
        if agent.id in profiled:
            continue
        # Half the floor leans to Sales, half to Support; everyone backs up the other
        # queue after 30 seconds, and everyone serves VIP (the workflow picks by skill).
        first, second = ("Sales", "Support") if index % 2 == 0 else ("Support", "Sales")
        session.add(AgentProfile(tenant_id=tenant_id, user_id=agent.id, capacity=dict(CAPACITY),
                                 queues={
                                     str(ids[first]): {"priority": 1, "delay": 0},
                                     str(ids[second]): {"priority": 2, "delay": 30},
                                     str(ids["VIP"]): {"priority": 1, "delay": 0}}))

    codes = set((await session.scalars(select(AwayReason.code).where(
        col(AwayReason.tenant_id) == tenant_id))).all())
    for code, label in REASONS.items():
        if code not in codes:
            session.add(AwayReason(tenant_id=tenant_id, code=code, label=label))
    await session.flush()
