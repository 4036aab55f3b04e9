"""The demo tenant `make run` starts with: people, teams, sites, skills, hours, routing.

Idempotent: running it again leaves an existing demo tenant as it is.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from sqlmodel import select

from plateaux.billing.models import Plan
from plateaux.embed.demo import seed_widget
from plateaux.platform.auth.models import Operator
from plateaux.platform.database import Database, bind_tenant
from plateaux.platform.security import hash_password
from plateaux.platform.settings import Settings
from plateaux.routing.demo import seed_routing
from plateaux.tenants import repository, service
from plateaux.tenants.models import (
    AllowedDomain,
    BusinessHours,
    Role,
    Site,
    Skill,
    Team,
    TeamMember,
    UserSkill,
)

DEMO_SLUG = "demo"
DEMO_PASSWORD = "plateaux-demo"  # noqa: S105  (printed for the demo on purpose)
OPERATOR_EMAIL = "operator@plateaux.example.com"
OPERATOR_PASSWORD = "plateaux-operator"  # noqa: S105

def _usage(**prices: tuple[int, str]) -> dict[str, dict[str, Any]]:
    """Included units per month and the price of each further one, per usage kind."""
    meters = {"chat": "chat_conversations", "email": "email_conversations",
              "inbound": "voice_inbound_minutes", "outbound": "voice_outbound_minutes",
              "browser": "voice_browser_minutes", "callbacks": "callbacks"}
    return {meters[name]: {"included": included, "unit_price": price}
            for name, (included, price) in prices.items()}


PLANS = [
    Plan(
        code="starter",
        name="Starter",
        description="Chat and email for small teams",
        seat_price_cents=2900,
        usage=_usage(chat=(500, "0.05"), email=(300, "0.05"), inbound=(0, "0.02"),
                     outbound=(0, "0.03"), browser=(0, "0.01"), callbacks=(0, "0.10")),
    ),
    Plan(
        code="business",
        name="Business",
        description="Every channel, routing and CRM",
        seat_price_cents=6900,
        usage=_usage(chat=(2000, "0.04"), email=(1000, "0.04"), inbound=(500, "0.015"),
                     outbound=(200, "0.025"), browser=(1000, "0.008"), callbacks=(100, "0.08")),
    ),
    Plan(
        code="enterprise",
        name="Enterprise",
        description="Voice, SSO and large floors",
        seat_price_cents=11900,
        usage=_usage(chat=(10000, "0.03"), email=(5000, "0.03"), inbound=(3000, "0.012"),
                     outbound=(1000, "0.02"), browser=(5000, "0.006"), callbacks=(500, "0.06")),
    ),
]

PEOPLE = [
    ("admin@demo.example.com", "Alice Martin", Role.ADMIN, "Paris"),
    ("supervisor@demo.example.com", "Bruno Lefèvre", Role.SUPERVISOR, "Paris"),
    ("agent1@demo.example.com", "Chloé Bernard", Role.AGENT, "Paris"),
    ("agent2@demo.example.com", "David Moreau", Role.AGENT, "Lyon"),
    ("agent3@demo.example.com", "Emma Petit", Role.AGENT, "Home"),
    ("agent4@demo.example.com", "Farid Benali", Role.AGENT, "Lyon"),
]
SKILLS = {
    "Sales": [3, 4, 2, 5],
    "Support": [5, 2, 4, 3],
    "Billing": [2, 5, 3, 1],
    "French": [5, 5, 5, 4],
    "English": [3, 4, 5, 5],
}


async def seed_plans(db: Database) -> None:
    async with db.session() as session:
        existing = set((await session.scalars(select(Plan.code))).all())
        for plan in PLANS:
            if plan.code not in existing:
                session.add(Plan(**plan.model_dump()))


async def seed_demo(settings: Settings) -> str:
    db = Database(settings)
    try:
        await seed_plans(db)
        async with db.session() as session:
            if (
                await session.scalars(select(Operator).where(Operator.email == OPERATOR_EMAIL))
            ).first() is None:
                session.add(
                    Operator(
                        email=OPERATOR_EMAIL,
                        name="Platform operator",
                        password_hash=hash_password(OPERATOR_PASSWORD),
                    )
                )
        async with db.session() as session:
            tenant = await repository.get_tenant_by_slug(session, DEMO_SLUG)
            if tenant is None:
                tenant = await service.create_tenant(
                    session, slug=DEMO_SLUG, name="Demo Company", plan_code="business", actor="demo"
                )
                await _fill(session, tenant.id)
            else:
                await bind_tenant(session, tenant.id)
            await seed_routing(session, tenant.id)
            await seed_widget(session, tenant.id, secret_key=settings.secret_key)
            from plateaux.channels.voip.demo import seed_voice

            await seed_voice(session, tenant.id)
    finally:
        await db.dispose()
    return _summary(settings)


async def _fill(session: object, tenant_id: object) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    import uuid

    assert isinstance(tenant_id, uuid.UUID)
    sites = {
        name: Site(tenant_id=tenant_id, name=name, city=city)
        for name, city in [("Paris", "Paris"), ("Lyon", "Lyon"), ("Home", "Remote")]
    }
    session.add_all(sites.values())
    skills = {name: Skill(tenant_id=tenant_id, name=name) for name in SKILLS}
    session.add_all(skills.values())
    teams = {name: Team(tenant_id=tenant_id, name=name) for name in ("Front office", "Back office")}
    session.add_all(teams.values())
    for domain in ("localhost", "127.0.0.1"):
        session.add(AllowedDomain(tenant_id=tenant_id, domain=domain))
    for weekday in range(5):
        session.add(
            BusinessHours(tenant_id=tenant_id, weekday=weekday, opens=time(9), closes=time(18))
        )
    await session.flush()
    agent_index = 0
    for email, name, role, site in PEOPLE:
        user = await service.create_user(
            session,
            tenant_id,
            email=email,
            name=name,
            role=role,
            password=DEMO_PASSWORD,
            actor="demo",
            languages=["fr", "en"],
        )
        user.site_id = sites[site].id
        if role is Role.AGENT:
            for skill_name, levels in SKILLS.items():
                session.add(
                    UserSkill(
                        tenant_id=tenant_id,
                        user_id=user.id,
                        skill_id=skills[skill_name].id,
                        level=levels[agent_index],
                    )
                )
            team = teams["Front office" if agent_index < 2 else "Back office"]
            session.add(TeamMember(tenant_id=tenant_id, team_id=team.id, user_id=user.id))
            agent_index += 1
    await session.flush()


def _summary(settings: Settings) -> str:
    base = settings.base_url
    lines = [
        "Plateaux demo is ready.",
        f"  Operator console : {base}/operator/  ({OPERATOR_EMAIL} / {OPERATOR_PASSWORD})",
        f"  Tenant admin     : {base}/t/{DEMO_SLUG}/admin/  "
        f"(admin@demo.example.com / {DEMO_PASSWORD})",
        f"  Agent console    : {base}/t/{DEMO_SLUG}/agent/  "
        f"(agent1@demo.example.com / {DEMO_PASSWORD})",
        f"  Supervisor       : {base}/t/{DEMO_SLUG}/supervisor/  "
        f"(supervisor@demo.example.com / {DEMO_PASSWORD})",
        f"  Demo shop (widget): {base}/demo/shop",
        f"  API docs         : {base}/api/v1/docs",
    ]
    return "\n".join(lines)
