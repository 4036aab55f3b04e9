"""Row-level security for tenant tables, used by migrations.

Each tenant table gets RLS enabled *and forced* (so even the table owner obeys it) and one
policy: a row is visible and writable only when its ``tenant_id`` equals the transaction's
``app.tenant_id``. With no tenant set the comparison is NULL and nothing is visible.
"""

from __future__ import annotations

from alembic import op

POLICY_NAME = "tenant_isolation"
_TENANT_EXPR = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def enable_tenant_isolation(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(
        f'CREATE POLICY {POLICY_NAME} ON "{table}" '
        f"USING (tenant_id = {_TENANT_EXPR}) WITH CHECK (tenant_id = {_TENANT_EXPR})"
    )


def disable_tenant_isolation(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"')
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
