"""chat: a message and a read receipt stored by one statement each (PostgreSQL)

Revision ID: 0011_chat_store_functions
Revises: 0010_helpdesk
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_chat_store_functions"
down_revision: str | None = "0010_helpdesk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A chat message sent on a WebSocket took three round trips: the transaction's opening with
# the tenant's binding for row-level security, the statement, the commit. Called on its
# own, one of these functions is a transaction of its own (committed when it returns), and
# binds the tenant inside it (transaction-local, as the application's units of work do), so
# the whole store is one round trip. They run as their caller (SECURITY INVOKER, the
# default): the tenant's policy applies to every row they touch, as it would to the
# statements they hold. plateaux.channels.chat.writer calls them and says what each
# checks.
STORE_MESSAGE = """
CREATE FUNCTION chat_store_message(
    p_tenant uuid, p_conversation uuid, p_visitor uuid, p_widget uuid, p_id uuid,
    p_kind varchar, p_author_type varchar, p_author_id uuid, p_author_name varchar,
    p_body text, p_text text, p_client_id varchar, p_attachments json,
    p_created_at timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    stored integer;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    WITH numbered AS (
        UPDATE conversations SET last_seq = last_seq + 1
        WHERE tenant_id = p_tenant AND id = p_conversation AND status = 'open'
          AND (p_visitor IS NULL OR (visitor_id = p_visitor AND widget_id = p_widget))
          AND NOT EXISTS (SELECT 1 FROM conversation_messages
                          WHERE conversation_id = p_conversation
                            AND client_id = p_client_id)
        RETURNING last_seq
    )
    INSERT INTO conversation_messages (id, tenant_id, conversation_id, seq, kind,
                                       author_type, author_id, author_name, body, text,
                                       attachments, client_id, created_at)
    SELECT p_id, p_tenant, p_conversation, last_seq, p_kind, p_author_type, p_author_id,
           p_author_name, p_body, p_text, p_attachments, p_client_id, p_created_at
    FROM numbered
    RETURNING seq INTO stored;
    RETURN stored;
END
$$
"""

MARK_READ = """
CREATE FUNCTION chat_mark_read(
    p_tenant uuid, p_conversation uuid, p_by_visitor boolean, p_seq integer,
    p_visitor uuid, p_widget uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    IF p_by_visitor THEN
        UPDATE conversations SET visitor_read_seq = LEAST(p_seq, last_seq)
        WHERE tenant_id = p_tenant AND id = p_conversation
          AND visitor_read_seq < LEAST(p_seq, last_seq)
          AND (p_visitor IS NULL OR (visitor_id = p_visitor AND widget_id = p_widget))
        RETURNING visitor_read_seq INTO moved;
    ELSE
        UPDATE conversations SET agent_read_seq = LEAST(p_seq, last_seq)
        WHERE tenant_id = p_tenant AND id = p_conversation
          AND agent_read_seq < LEAST(p_seq, last_seq)
          AND (p_visitor IS NULL OR (visitor_id = p_visitor AND widget_id = p_widget))
        RETURNING agent_read_seq INTO moved;
    END IF;
    RETURN moved;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(STORE_MESSAGE)
    op.execute(MARK_READ)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS chat_mark_read(uuid, uuid, boolean, integer, uuid, uuid)")
    op.execute("DROP FUNCTION IF EXISTS chat_store_message(uuid, uuid, uuid, uuid, uuid, "
               "varchar, varchar, uuid, varchar, text, text, varchar, json, timestamptz)")
