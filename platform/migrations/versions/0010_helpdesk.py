"""help desk: cases, SLA policies, escalations, reviews, call scripts, knowledge base

Revision ID: 0010_helpdesk
Revises: 0009_crm
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0010_helpdesk"
down_revision: str | None = "0009_crm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "helpdesk_settings", "helpdesk_sla_policies", "helpdesk_cases", "helpdesk_case_contacts",
    "helpdesk_case_events", "helpdesk_escalations", "helpdesk_notifications",
    "helpdesk_resolution_codes", "helpdesk_scorecards", "helpdesk_reviews",
    "helpdesk_scripts", "helpdesk_script_runs", "helpdesk_kb_categories",
    "helpdesk_kb_articles", "helpdesk_kb_translations",
)
# Knowledge base search on PostgreSQL: each translation's weighted tsvector (title A,
# keywords B, body D) in its language's text search configuration (stemming, stop words;
# 'simple' for the others), kept by a trigger in a column of its own. The application's
# role works under row-level security, which evaluates the tenant's policy before any
# operator that is not leakproof, as text search's @@ is not: an index on the expression
# could not serve it, and computing to_tsvector for every row of the tenant's language
# costs ten times what matching a stored vector does. A GIN index on the vector serves
# whoever is not under the policy. plateaux.helpdesk.kb_search holds
# the same list of languages.
PG_LANGUAGES = {
    "da": "danish", "de": "german", "en": "english", "es": "spanish", "fi": "finnish",
    "fr": "french", "hu": "hungarian", "it": "italian", "nl": "dutch", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "tr": "turkish",
}
KB_FTS = "helpdesk_kb_fts"
KB_FTS_COLUMNS = ("title", "keywords", "body_text")


def _base() -> list[sa.Column]:
    return [sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("tenant_id", sa.Uuid(), nullable=False)]


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


def _fk(column: str, target: str, ondelete: str = "SET NULL") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete)


def _created() -> sa.Column:
    return sa.Column("created_at", UTCDateTime(), nullable=False)


def _updated() -> sa.Column:
    return sa.Column("updated_at", UTCDateTime(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "helpdesk_settings", *_base(),
        sa.Column("auto_case_channels", sa.JSON(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("last_case_number", sa.Integer(), nullable=False),
        sa.Column("auto_close_days", sa.Integer(), nullable=False),
        sa.Column("csat_enabled", sa.Boolean(), nullable=False),
        sa.Column("help_center_enabled", sa.Boolean(), nullable=False),
        sa.Column("help_center_title", sa.String(length=200), nullable=False),
        sa.Column("help_center_intro", sa.String(length=1000), nullable=False),
        sa.Column("kb_languages", sa.JSON(), nullable=True),
        sa.Column("kb_default_language", sa.String(length=10), nullable=False),
        _updated(),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id"))

    op.create_table(
        "helpdesk_sla_policies", *_base(),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("priorities", sa.JSON(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=True),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_minutes", sa.Integer(), nullable=True),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column("at_risk_percent", sa.Integer(), nullable=False),
        sa.Column("escalate_at_risk", sa.Boolean(), nullable=False),
        sa.Column("escalate_on_breach", sa.Boolean(), nullable=False),
        sa.Column("escalation_team_id", sa.Uuid(), nullable=True),
        _created(), _updated(),
        _fk("escalation_team_id", "teams"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "name"))

    op.create_table(
        "helpdesk_cases", *_base(),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("follow_up_of_id", sa.Uuid(), nullable=True),
        sa.Column("sla_policy_id", sa.Uuid(), nullable=True),
        sa.Column("sla", sa.JSON(), nullable=True),
        sa.Column("sla_breached", sa.Boolean(), nullable=False),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("status_log", sa.JSON(), nullable=True),
        sa.Column("resolution_code", sa.String(length=40), nullable=True),
        sa.Column("resolution_note", sa.String(length=2000), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("csat_score", sa.Integer(), nullable=True),
        sa.Column("csat_comment", sa.String(length=2000), nullable=True),
        sa.Column("csat_source", sa.String(length=10), nullable=True),
        sa.Column("csat_at", UTCDateTime(), nullable=True),
        sa.Column("csat_sent_at", UTCDateTime(), nullable=True),
        sa.Column("csat_token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        _created(), _updated(),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("solved_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        _fk("owner_id", "users"), _fk("team_id", "teams"), _fk("person_id", "crm_people"),
        _fk("follow_up_of_id", "helpdesk_cases"), _fk("sla_policy_id", "helpdesk_sla_policies"),
        _fk("created_by_id", "users"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "number"))
    op.create_index("ix_helpdesk_cases_status", "helpdesk_cases",
                    ["tenant_id", "status", "updated_at"])
    op.create_index("ix_helpdesk_cases_person", "helpdesk_cases", ["tenant_id", "person_id"])
    op.create_index("ix_helpdesk_cases_owner", "helpdesk_cases",
                    ["tenant_id", "owner_id", "status"])
    op.create_index("ix_helpdesk_cases_check", "helpdesk_cases", ["tenant_id", "next_check_at"])

    op.create_table(
        "helpdesk_case_contacts", *_base(),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("email_thread_id", sa.Uuid(), nullable=True),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
        _created(),
        _fk("case_id", "helpdesk_cases", "CASCADE"), _fk("contact_id", "contacts", "CASCADE"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "contact_id"))
    op.create_index("ix_helpdesk_case_contacts_case", "helpdesk_case_contacts",
                    ["tenant_id", "case_id"])
    op.create_index("ix_helpdesk_case_contacts_thread", "helpdesk_case_contacts",
                    ["tenant_id", "email_thread_id"])

    op.create_table(
        "helpdesk_case_events", *_base(),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        _created(),
        _fk("case_id", "helpdesk_cases", "CASCADE"), _fk("actor_id", "users"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_helpdesk_case_events_case", "helpdesk_case_events",
                    ["tenant_id", "case_id", "created_at"])

    op.create_table(
        "helpdesk_escalations", *_base(),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("from_level", sa.Integer(), nullable=False),
        sa.Column("to_level", sa.Integer(), nullable=False),
        sa.Column("from_team_id", sa.Uuid(), nullable=True),
        sa.Column("to_team_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        _created(),
        _fk("case_id", "helpdesk_cases", "CASCADE"), _fk("from_team_id", "teams"),
        _fk("to_team_id", "teams"), _fk("actor_id", "users"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_helpdesk_escalations_case", "helpdesk_escalations",
                    ["tenant_id", "case_id"])

    op.create_table(
        "helpdesk_notifications", *_base(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        _created(),
        _fk("user_id", "users", "CASCADE"), _fk("case_id", "helpdesk_cases", "CASCADE"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_helpdesk_notifications_user", "helpdesk_notifications",
                    ["tenant_id", "user_id", "created_at"])

    op.create_table(
        "helpdesk_resolution_codes", *_base(),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _created(),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "code"))

    op.create_table(
        "helpdesk_scorecards", *_base(),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _created(), _updated(),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "name"))

    op.create_table(
        "helpdesk_reviews", *_base(),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("scorecard_id", sa.Uuid(), nullable=True),
        sa.Column("scorecard_name", sa.String(length=120), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("reviewer_name", sa.String(length=200), nullable=False),
        _created(),
        _fk("case_id", "helpdesk_cases", "CASCADE"), _fk("scorecard_id", "helpdesk_scorecards"),
        _fk("agent_id", "users"), _fk("reviewer_id", "users"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "case_id", "scorecard_id"))
    op.create_index("ix_helpdesk_reviews_agent", "helpdesk_reviews",
                    ["tenant_id", "agent_id", "created_at"])

    op.create_table(
        "helpdesk_scripts", *_base(),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("queue_ids", sa.JSON(), nullable=True),
        sa.Column("campaigns", sa.JSON(), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("start", sa.String(length=40), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _created(), _updated(),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "name"))

    op.create_table(
        "helpdesk_script_runs", *_base(),
        sa.Column("script_id", sa.Uuid(), nullable=True),
        sa.Column("script_name", sa.String(length=120), nullable=False),
        sa.Column("script_version", sa.Integer(), nullable=False),
        sa.Column("start", sa.String(length=40), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("path", sa.JSON(), nullable=True),
        sa.Column("current", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        _updated(),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        _fk("script_id", "helpdesk_scripts"), _fk("contact_id", "contacts"),
        _fk("case_id", "helpdesk_cases"), _fk("person_id", "crm_people"),
        _fk("agent_id", "users"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_helpdesk_script_runs_contact", "helpdesk_script_runs",
                    ["tenant_id", "contact_id"])
    op.create_index("ix_helpdesk_script_runs_case", "helpdesk_script_runs",
                    ["tenant_id", "case_id"])

    op.create_table(
        "helpdesk_kb_categories", *_base(),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("names", sa.JSON(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        _created(), _updated(),
        _fk("parent_id", "helpdesk_kb_categories", "CASCADE"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"))

    op.create_table(
        "helpdesk_kb_articles", *_base(),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        _created(), _updated(),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        _fk("category_id", "helpdesk_kb_categories"), _fk("author_id", "users"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_helpdesk_kb_articles_category", "helpdesk_kb_articles",
                    ["tenant_id", "category_id"])

    op.create_table(
        "helpdesk_kb_translations", *_base(),
        sa.Column("article_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=1000), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        _created(), _updated(),
        _fk("article_id", "helpdesk_kb_articles", "CASCADE"),
        _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("article_id", "language"))
    op.create_index("ix_helpdesk_kb_translations_language", "helpdesk_kb_translations",
                    ["tenant_id", "language"])

    for table in TENANT_TABLES:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        enable_tenant_isolation(table)

    if op.get_bind().dialect.name == "postgresql":
        _create_pg_search()
    else:
        _create_fts5()


def _create_pg_search() -> None:
    cases = " ".join(f"WHEN '{code}' THEN '{config}'::regconfig"
                     for code, config in PG_LANGUAGES.items())
    op.execute("ALTER TABLE helpdesk_kb_translations ADD COLUMN search_vector tsvector")
    op.execute("CREATE FUNCTION helpdesk_kb_config(language text) RETURNS regconfig "
               f"LANGUAGE sql IMMUTABLE AS $$ SELECT CASE language {cases} "
               "ELSE 'simple'::regconfig END $$")
    op.execute(
        "CREATE FUNCTION helpdesk_kb_vector() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN NEW.search_vector := "
        "setweight(to_tsvector(helpdesk_kb_config(NEW.language), NEW.title), 'A') || "
        "setweight(to_tsvector(helpdesk_kb_config(NEW.language), NEW.keywords), 'B') || "
        "setweight(to_tsvector(helpdesk_kb_config(NEW.language), NEW.body_text), 'D'); "
        "RETURN NEW; END $$")
    op.execute("CREATE TRIGGER helpdesk_kb_vector BEFORE INSERT OR UPDATE OF language, title, "
               "keywords, body_text ON helpdesk_kb_translations FOR EACH ROW "
               "EXECUTE FUNCTION helpdesk_kb_vector()")
    op.execute("CREATE INDEX ix_helpdesk_kb_vector ON helpdesk_kb_translations "
               "USING GIN (search_vector)")


def _create_fts5() -> None:
    """An FTS5 table over the translations (external content), kept by triggers; the
    porter stemmer over unicode61 without diacritics, title and keywords as their own
    columns so bm25 can weigh them."""
    names = ", ".join(KB_FTS_COLUMNS)
    new = ", ".join(f"new.{c}" for c in KB_FTS_COLUMNS)
    old = ", ".join(f"old.{c}" for c in KB_FTS_COLUMNS)
    table = "helpdesk_kb_translations"
    op.execute(f"CREATE VIRTUAL TABLE {KB_FTS} USING fts5({names}, content='{table}', "
               "content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2')")
    op.execute(f"CREATE TRIGGER {KB_FTS}_ai AFTER INSERT ON {table} BEGIN "
               f"INSERT INTO {KB_FTS}(rowid, {names}) VALUES (new.rowid, {new}); END")
    op.execute(f"CREATE TRIGGER {KB_FTS}_ad AFTER DELETE ON {table} BEGIN "
               f"INSERT INTO {KB_FTS}({KB_FTS}, rowid, {names}) VALUES ('delete', old.rowid, "
               f"{old}); END")
    op.execute(f"CREATE TRIGGER {KB_FTS}_au AFTER UPDATE OF {names} ON {table} BEGIN "
               f"INSERT INTO {KB_FTS}({KB_FTS}, rowid, {names}) VALUES ('delete', old.rowid, "
               f"{old}); INSERT INTO {KB_FTS}(rowid, {names}) VALUES (new.rowid, {new}); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS helpdesk_kb_vector ON helpdesk_kb_translations")
        op.execute("DROP FUNCTION IF EXISTS helpdesk_kb_vector()")
        op.execute("DROP FUNCTION IF EXISTS helpdesk_kb_config(text)")
    else:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {KB_FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {KB_FTS}")
    for table in reversed(TENANT_TABLES):
        disable_tenant_isolation(table)
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
        op.drop_table(table)
