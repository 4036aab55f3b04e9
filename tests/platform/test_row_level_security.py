"""Row-level security is the second wall between tenants: check it is really there."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from plateaux.platform.models import tenant_table_names
from plateaux.platform.services import Services
from tests.support.database import APP_ROLE, TestDatabase
from tests.support.factories import TenantFactory

pytestmark = pytest.mark.postgres_only


def test_every_tenant_table_has_a_forced_policy(test_database: TestDatabase) -> None:
    tables = test_database.superuser_sql(
        "SELECT table_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY 1"
    ).split()
    assert tables, "no tenant table found"
    assert set(tables) == set(tenant_table_names()), "metadata and schema disagree"
    policies = set(
        test_database.superuser_sql(
            "SELECT tablename FROM pg_policies WHERE schemaname = 'public'"
        ).split()
    )
    missing = sorted(set(tables) - policies)
    assert not missing, f"tenant tables without a row-level security policy: {missing}"
    flags = test_database.superuser_sql(
        "SELECT relname || ':' || relrowsecurity || ':' || relforcerowsecurity FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
    ).split()
    state = {row.split(":")[0]: row.split(":")[1:] for row in flags}
    not_forced = [t for t in tables if state[t] != ["true", "true"]]
    assert not not_forced, f"RLS not enabled and forced on: {not_forced}"


def test_application_role_cannot_bypass_row_security(test_database: TestDatabase) -> None:
    row = test_database.superuser_sql(
        f"SELECT rolsuper || ':' || rolbypassrls FROM pg_roles WHERE rolname = '{APP_ROLE}'"
    )
    assert row == "false:false"
    owners = set(
        test_database.superuser_sql(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).split()
    )
    assert APP_ROLE not in owners


async def test_a_session_without_tenant_sees_no_tenant_rows(
    services: Services, tenants: TenantFactory
) -> None:
    await tenants.create()
    async with services.db.engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM users"))
    assert count == 0


async def test_a_session_bound_to_one_tenant_cannot_see_or_write_another(
    services: Services, tenants: TenantFactory
) -> None:
    a = await tenants.create()
    b = await tenants.create()
    async with services.unit_of_work(tenant_id=a.tenant.id) as session:
        emails = (await session.execute(text("SELECT email FROM users"))).scalars().all()
        assert a.admin.email in emails and b.admin.email not in emails
        updated = await session.execute(
            text("UPDATE users SET name = 'pwned' WHERE id = :id"), {"id": b.admin.id}
        )
        assert updated.rowcount == 0  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="row-level security"):
        async with services.unit_of_work(tenant_id=a.tenant.id) as session:
            await session.execute(
                text(
                    "INSERT INTO teams (id, tenant_id, name, description, created_at) "
                    "VALUES (gen_random_uuid(), :t, 'x', '', now())"
                ),
                {"t": b.tenant.id},
            )
