"""Full-text search over people, conversations (chat messages and email) and notes, behind
one interface: PostgreSQL's text search (GIN indexes on ``to_tsvector('simple', ...)``) in
production, SQLite's FTS5 tables in the embedded default. Both take the same query words
(each a prefix, all required) and return hits of the tenant only.
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.types import UTCDateTime

Kind = Literal["person", "conversation", "email", "note"]
KINDS: tuple[Kind, ...] = ("person", "conversation", "email", "note")
# Words as the user typed them, cut to characters that mean nothing to either query
# syntax (no quotes, operators or parentheses reach the database's parser).
_WORD = re.compile(r"[\w@.+'-]+", re.UNICODE)
MAX_WORDS = 8


@dataclass(frozen=True, slots=True)
class Hit:
    kind: Kind
    ref_id: uuid.UUID
    person_id: uuid.UUID | None
    title: str
    snippet: str
    at: datetime | None


def words_of(query: str) -> list[str]:
    words = []
    for raw in _WORD.findall(query):
        word = raw.strip(".'-+").replace("'", "")
        if word and len(word) <= 100:
            words.append(word.lower())
    return words[:MAX_WORDS]


# Per kind: the SQL that finds the rows (filtered on the tenant) and what a hit shows.
# ``{match}`` is the backend's condition; every query selects id, person, title, body, at.
_PERSON = ("SELECT p.id AS ref_id, p.id AS person_id, p.name AS title, p.search_text AS body,"
           " p.last_contact_at AS at FROM crm_people p {join} WHERE p.tenant_id = :tenant"
           " AND {match}")
_NOTE = ("SELECT n.id AS ref_id, n.person_id AS person_id, n.author_name AS title,"
         " n.body AS body, n.created_at AS at FROM crm_notes n {join}"
         " WHERE n.tenant_id = :tenant AND {match}")
_CONVERSATION = ("SELECT m.conversation_id AS ref_id, c.person_id AS person_id,"
                 " m.author_name AS title, m.text AS body, m.created_at AS at"
                 " FROM conversation_messages m {join}"
                 " JOIN conversations v ON v.id = m.conversation_id"
                 " LEFT JOIN contacts c ON c.id = v.contact_id"
                 " WHERE m.tenant_id = :tenant AND m.kind = 'message' AND {match}")
_EMAIL = ("SELECT e.thread_id AS ref_id, c.person_id AS person_id, e.subject AS title,"
          " e.new_text AS body, e.created_at AS at FROM email_messages e {join}"
          " LEFT JOIN email_threads t ON t.id = e.thread_id"
          " LEFT JOIN contacts c ON c.id = t.contact_id"
          " WHERE e.tenant_id = :tenant AND {match}")


class SearchBackend(ABC):
    @abstractmethod
    def statement(self, kind: Kind, words: list[str]) -> tuple[str, dict[str, Any]]:
        """SQL and parameters for hits of ``kind`` (tenant and limit bound by the caller)."""

    async def search(self, session: AsyncSession, tenant_id: uuid.UUID, query: str, *,
                     kinds: tuple[Kind, ...] = KINDS, limit: int = 20) -> list[Hit]:
        words = words_of(query)
        if not words:
            return []
        hits: list[Hit] = []
        for kind in kinds:
            sql, params = self.statement(kind, words)
            statement = text(sql + " ORDER BY at DESC LIMIT :limit").bindparams(
                bindparam("tenant", type_=Uuid())).columns(
                ref_id=Uuid(), person_id=Uuid(), at=UTCDateTime())
            rows = (await session.execute(
                statement, {**params, "tenant": tenant_id, "limit": limit})).all()
            seen: set[uuid.UUID] = set()
            for row in rows:
                ref_id = _uuid(row.ref_id)
                if ref_id is None or ref_id in seen:
                    continue
                seen.add(ref_id)
                hits.append(Hit(kind=kind, ref_id=ref_id, person_id=_uuid(row.person_id),
                                title=row.title or "", snippet=snippet(row.body or "", words),
                                at=row.at))
        return hits


class PostgresSearch(SearchBackend):
    EXPRESSIONS = {"person": "to_tsvector('simple', p.search_text)",
                   "note": "to_tsvector('simple', n.body)",
                   "conversation": "to_tsvector('simple', m.text)",
                   "email": "to_tsvector('simple', e.subject || ' ' || e.new_text)"}

    def statement(self, kind: Kind, words: list[str]) -> tuple[str, dict[str, Any]]:
        # Each word a prefix; the words are bound as one parameter to to_tsquery, quoted
        # as lexemes so nothing in them is read as an operator.
        query = " & ".join(f"'{w}':*" for w in words)
        template = {"person": _PERSON, "note": _NOTE, "conversation": _CONVERSATION,
                    "email": _EMAIL}[kind]
        match = f"{self.EXPRESSIONS[kind]} @@ to_tsquery('simple', :q)"
        return template.format(join="", match=match), {"q": query}


class SqliteSearch(SearchBackend):
    TABLES = {"person": ("crm_people_fts", "p"), "note": ("crm_notes_fts", "n"),
              "conversation": ("conversation_messages_fts", "m"),
              "email": ("email_messages_fts", "e")}

    def statement(self, kind: Kind, words: list[str]) -> tuple[str, dict[str, Any]]:
        fts, alias = self.TABLES[kind]
        query = " ".join('"' + w.replace('"', "") + '"*' for w in words)
        template = {"person": _PERSON, "note": _NOTE, "conversation": _CONVERSATION,
                    "email": _EMAIL}[kind]
        join = f"JOIN {fts} f ON f.rowid = {alias}.rowid"
        return template.format(join=join, match=f"{fts} MATCH :q"), {"q": query}


def backend_for(session: AsyncSession) -> SearchBackend:
    dialect = session.get_bind().dialect.name
    return PostgresSearch() if dialect == "postgresql" else SqliteSearch()


async def search(session: AsyncSession, tenant_id: uuid.UUID, query: str, *,
                 kinds: tuple[Kind, ...] = KINDS, limit: int = 20) -> list[Hit]:
    return await backend_for(session).search(session, tenant_id, query, kinds=kinds,
                                             limit=limit)


def snippet(body: str, words: list[str], size: int = 160) -> str:
    flat = " ".join(body.split())
    lowered = flat.lower()
    at = min((i for i in (lowered.find(w) for w in words) if i >= 0), default=0)
    start = max(0, at - size // 3)
    piece = flat[start:start + size]
    return ("…" if start else "") + piece + ("…" if start + size < len(flat) else "")


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
