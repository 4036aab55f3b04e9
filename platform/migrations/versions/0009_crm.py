"""crm: people, companies, identities, custom fields, notes, timeline, privacy, webhooks

Revision ID: 0009_crm
Revises: 0008_voice
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0009_crm"
down_revision: str | None = "0008_voice"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("crm_companies", "crm_people", "crm_identities", "crm_custom_fields",
                 "crm_notes", "crm_settings", "crm_webhooks", "crm_webhook_deliveries",
                 "crm_external_records")

# Full-text search: (index or FTS5 table, table, indexed expression or columns).
# PostgreSQL: GIN indexes on the same to_tsvector expressions the queries use.
PG_SEARCH = (
    ("ix_crm_people_fts", "crm_people", "to_tsvector('simple', search_text)"),
    ("ix_crm_notes_fts", "crm_notes", "to_tsvector('simple', body)"),
    ("ix_conversation_messages_fts", "conversation_messages", "to_tsvector('simple', text)"),
    ("ix_email_messages_fts", "email_messages",
     "to_tsvector('simple', subject || ' ' || new_text)"),
)
# SQLite: FTS5 tables over the rows themselves (external content), kept by triggers.
SQLITE_SEARCH = (
    ("crm_people_fts", "crm_people", ("search_text",)),
    ("crm_notes_fts", "crm_notes", ("body",)),
    ("conversation_messages_fts", "conversation_messages", ("text",)),
    ("email_messages_fts", "email_messages", ("subject", "new_text")),
)


def _base() -> list[sa.Column]:
    return [sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("tenant_id", sa.Uuid(), nullable=False)]


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


def _tenant_index(table: str) -> None:
    op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])


def upgrade() -> None:
    op.create_table("crm_companies", *_base(),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("domain", sa.String(length=253), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "name"))

    op.create_table("crm_people", *_base(),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("company_id", sa.Uuid(), nullable=True),
    sa.Column("owner_id", sa.Uuid(), nullable=True),
    sa.Column("language", sa.String(length=10), nullable=True),
    sa.Column("tags", sa.JSON(), nullable=True),
    sa.Column("custom", sa.JSON(), nullable=True),
    sa.Column("search_text", sa.Text(), nullable=False),
    sa.Column("source", sa.String(length=20), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("last_contact_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["company_id"], ["crm_companies.id"], ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="SET NULL"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_crm_people_tenant_seen", "crm_people", ["tenant_id", "last_contact_at"])

    op.create_table("crm_identities", *_base(),
    sa.Column("person_id", sa.Uuid(), nullable=False),
    sa.Column("kind", sa.String(length=10), nullable=False),
    sa.Column("value", sa.String(length=320), nullable=False),
    sa.Column("verified", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["crm_people.id"], ondelete="CASCADE"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("tenant_id", "kind", "value"))
    op.create_index("ix_crm_identities_person", "crm_identities", ["tenant_id", "person_id"])

    op.create_table("crm_custom_fields", *_base(),
    sa.Column("key", sa.String(length=40), nullable=False),
    sa.Column("label", sa.String(length=120), nullable=False),
    sa.Column("type", sa.String(length=10), nullable=False),
    sa.Column("choices", sa.JSON(), nullable=True),
    sa.Column("required", sa.Boolean(), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "key"))

    op.create_table("crm_notes", *_base(),
    sa.Column("person_id", sa.Uuid(), nullable=False),
    sa.Column("author_id", sa.Uuid(), nullable=True),
    sa.Column("author_name", sa.String(length=200), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["crm_people.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_crm_notes_person", "crm_notes", ["tenant_id", "person_id", "created_at"])

    op.create_table("crm_settings", *_base(),
    sa.Column("lookup_url", sa.String(length=2000), nullable=True),
    sa.Column("lookup_secret_encrypted", sa.String(length=500), nullable=True),
    sa.Column("phone_region", sa.String(length=2), nullable=True),
    sa.Column("conversation_retention_days", sa.Integer(), nullable=True),
    sa.Column("person_retention_days", sa.Integer(), nullable=True),
    sa.Column("last_retention_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id"))

    op.create_table("crm_webhooks", *_base(),
    sa.Column("url", sa.String(length=2000), nullable=False),
    sa.Column("description", sa.String(length=200), nullable=False),
    sa.Column("secret_encrypted", sa.String(length=500), nullable=False),
    sa.Column("events", sa.JSON(), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"))

    op.create_table("crm_webhook_deliveries", *_base(),
    sa.Column("webhook_id", sa.Uuid(), nullable=False),
    sa.Column("event_id", sa.Uuid(), nullable=False),
    sa.Column("event", sa.String(length=60), nullable=False),
    sa.Column("person_id", sa.Uuid(), nullable=True),
    sa.Column("payload", sa.JSON(), nullable=True),
    sa.Column("status", sa.String(length=10), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("log", sa.JSON(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["webhook_id"], ["crm_webhooks.id"], ondelete="CASCADE"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("webhook_id", "event_id"))
    op.create_index("ix_crm_webhook_deliveries_hook", "crm_webhook_deliveries",
                    ["tenant_id", "webhook_id", "created_at"])
    op.create_index("ix_crm_webhook_deliveries_person", "crm_webhook_deliveries",
                    ["tenant_id", "person_id"])

    op.create_table("crm_external_records", *_base(),
    sa.Column("person_id", sa.Uuid(), nullable=False),
    sa.Column("data", sa.JSON(), nullable=True),
    sa.Column("fetched_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["crm_people.id"], ondelete="CASCADE"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "person_id"))

    for table in TENANT_TABLES:
        _tenant_index(table)
        enable_tenant_isolation(table)

    # The routed contact carries the person it was matched to. A plain ADD COLUMN on both
    # databases (SQLite takes the REFERENCES clause inline): a batch copy of ``contacts``
    # on SQLite would drop the table under the rows that point at it.
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("contacts", sa.Column("person_id", sa.Uuid(), nullable=True))
        op.create_foreign_key("fk_contacts_person_id", "contacts", "crm_people",
                              ["person_id"], ["id"], ondelete="SET NULL")
    else:
        op.execute("ALTER TABLE contacts ADD COLUMN person_id CHAR(32) "
                   "REFERENCES crm_people (id) ON DELETE SET NULL")
    op.create_index("ix_contacts_tenant_person", "contacts", ["tenant_id", "person_id"])

    if op.get_bind().dialect.name == "postgresql":
        for index, table, expression in PG_SEARCH:
            op.execute(f'CREATE INDEX {index} ON "{table}" USING GIN ({expression})')
    else:
        for fts, table, columns in SQLITE_SEARCH:
            _create_fts5(fts, table, columns)


def _create_fts5(fts: str, table: str, columns: tuple[str, ...]) -> None:
    # Names from this module's constants only, never input.
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
               f"content_rowid='rowid')")
    op.execute(f"INSERT INTO {fts}(rowid, {names}) SELECT rowid, {names} FROM {table}")
    op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
               f"INSERT INTO {fts}(rowid, {names}) VALUES (new.rowid, {new}); END")
    op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
               f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.rowid, {old});"
               f" END")
    op.execute(f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {names} ON {table} BEGIN "
               f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.rowid, {old});"
               f" INSERT INTO {fts}(rowid, {names}) VALUES (new.rowid, {new}); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index, _table, _expression in PG_SEARCH:
            op.execute(f'DROP INDEX IF EXISTS {index}')
    else:
        for fts, _table, _columns in SQLITE_SEARCH:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    op.drop_index("ix_contacts_tenant_person", table_name="contacts")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        if op.get_bind().dialect.name == "postgresql":
            batch_op.drop_constraint("fk_contacts_person_id", type_="foreignkey")
        batch_op.drop_column("person_id")
    for table in reversed(TENANT_TABLES):
        disable_tenant_isolation(table)
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
        op.drop_table(table)
