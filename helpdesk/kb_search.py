"""Knowledge base search, the same approach as the CRM's search (``crm/search.py``): words
cut to what neither query syntax reads as an operator, one interface, two backends.

- PostgreSQL: each language's own text search configuration (English stems "printers" to
  "printer", French "imprimantes" to "imprim", stop words dropped), matched against each
  translation's stored vector (title weighted A, keywords B, body D; kept by a trigger of
  the migration, which explains why it is stored) and ranked by ``ts_rank``.
- SQLite: an FTS5 table with the porter stemmer over unicode61 without diacritics, ranked
  by ``bm25`` with the title and keywords weighing more than the body.

Searching ("all" words, each a prefix) is what an agent or a help center visitor types;
suggesting ("any" word) is what the console asks with the words of a conversation.
Only published articles are found.
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.crm.search import words_of

Mode = Literal["all", "any"]
# Languages with their own configuration; any other is searched with 'simple'. The
# migration's trigger holds the same list.
PG_LANGUAGES = {
    "da": "danish", "de": "german", "en": "english", "es": "spanish", "fi": "finnish",
    "fr": "french", "hu": "hungarian", "it": "italian", "nl": "dutch", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "tr": "turkish",
}
LANGUAGE = re.compile(r"^[a-z]{2}$")
MAX_SUGGESTION_WORDS = 16
# Words too common to say what a conversation is about (SQLite has no stop word lists;
# PostgreSQL's configurations drop these anyway).
STOP_WORDS = frozenset("""
a an and are as at be but by can could do does for from had has have hello hi how i if
in is it its me my no not of on or our please so than thank thanks that the their them
then there this to us was we were what when where which who why will with would you your
yes au aux avec bonjour ce ces dans de des du elle en est et il je la le les leur ma
mais me merci mes moi mon ne nous on ou par pas pour qu que qui sa se ses son sur ta te
tes toi ton tu un une vos votre vous der die das und ist nicht ein eine ich sie mit von
zu el los las por para con una es que
""".split())  # noqa: SIM905


@dataclass(frozen=True, slots=True)
class ArticleMatch:
    article_id: uuid.UUID
    language: str
    title: str
    body_text: str
    visibility: str
    score: float


def clean_language(language: str | None, default: str = "en") -> str:
    base = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return base if LANGUAGE.match(base) else default


def topic_words(texts: list[str], *, limit: int = MAX_SUGGESTION_WORDS) -> list[str]:
    """The words a conversation is most about: frequent first, then long, stop words and
    very short words left out."""
    counts: Counter[str] = Counter()
    for chunk in texts:
        for word in words_of_all(chunk):
            if len(word) >= 3 and word not in STOP_WORDS and not word.isdigit():
                counts[word] += 1
    ranked = sorted(counts, key=lambda w: (-counts[w], -len(w), w))
    return ranked[:limit]


def words_of_all(value: str) -> list[str]:
    # The CRM's word cutting, without its cap on the number of words.
    found: list[str] = []
    for piece in value.split():
        found.extend(words_of(piece))
    return [w.strip("@.+-") for w in found if w.strip("@.+-")]


class KbSearch(ABC):
    @abstractmethod
    def statement(self, language: str, mode: Mode, words: list[str],
                  visibility: str | None) -> tuple[str, dict[str, Any]]:
        """The SQL and its parameters (tenant and limit are bound by the caller)."""

    async def search(self, session: AsyncSession, tenant_id: uuid.UUID, words: list[str], *,
                     language: str, mode: Mode = "all", visibility: str | None = None,
                     limit: int = 10) -> list[ArticleMatch]:
        if not words:
            return []
        sql, params = self.statement(clean_language(language), mode, words, visibility)
        statement = text(sql).bindparams(bindparam("tenant", type_=Uuid())).columns(
            article_id=Uuid())
        rows = (await session.execute(statement, {**params, "tenant": tenant_id,
                                                  "limit": limit})).all()
        return [ArticleMatch(article_id=row.article_id, language=row.language,
                             title=row.title, body_text=row.body_text,
                             visibility=row.visibility, score=float(row.score or 0))
                for row in rows]


class PostgresKbSearch(KbSearch):
    def statement(self, language: str, mode: Mode, words: list[str],
                  visibility: str | None) -> tuple[str, dict[str, Any]]:
        # The query in the configuration the migration's trigger built the translation's
        # vector with (the same list of languages); its name is a constant of this module.
        config = PG_LANGUAGES.get(language, "simple")
        joiner = " & " if mode == "all" else " | "
        params: dict[str, Any] = {
            "language": language,
            "q": joiner.join(f"'{w}':*" if mode == "all" else f"'{w}'" for w in words)}
        query = f"to_tsquery('{config}', :q)"
        sql = (
            "SELECT t.article_id, t.language, t.title, t.body_text, a.visibility,"  # noqa: S608
            f" ts_rank(t.search_vector, {query}) AS score"
            " FROM helpdesk_kb_translations t"
            " JOIN helpdesk_kb_articles a ON a.id = t.article_id"
            " WHERE t.tenant_id = :tenant AND t.language = :language"
            f" AND t.search_vector @@ {query} AND a.status = 'published'")
        if visibility is not None:
            sql += " AND a.visibility = :visibility"
            params["visibility"] = visibility
        sql += " ORDER BY score DESC, t.updated_at DESC LIMIT :limit"
        return sql, params


class SqliteKbSearch(KbSearch):
    def statement(self, language: str, mode: Mode, words: list[str],
                  visibility: str | None) -> tuple[str, dict[str, Any]]:
        quoted = ['"' + w.replace('"', "") + '"' for w in words]
        query = " ".join(q + "*" for q in quoted) if mode == "all" else " OR ".join(quoted)
        params: dict[str, Any] = {"q": query, "language": language}
        rank = "bm25(helpdesk_kb_fts, 10.0, 5.0, 1.0)"
        sql = (
            "SELECT t.article_id, t.language, t.title, t.body_text, a.visibility,"  # noqa: S608
            f" -{rank} AS score"
            " FROM helpdesk_kb_fts f"
            " JOIN helpdesk_kb_translations t ON t.rowid = f.rowid"
            " JOIN helpdesk_kb_articles a ON a.id = t.article_id"
            " WHERE helpdesk_kb_fts MATCH :q AND t.tenant_id = :tenant"
            " AND t.language = :language AND a.status = 'published'")
        if visibility is not None:
            sql += " AND a.visibility = :visibility"
            params["visibility"] = visibility
        sql += f" ORDER BY {rank}, t.updated_at DESC LIMIT :limit"
        return sql, params


def backend_for(session: AsyncSession) -> KbSearch:
    dialect = session.get_bind().dialect.name
    return PostgresKbSearch() if dialect == "postgresql" else SqliteKbSearch()


async def search(session: AsyncSession, tenant_id: uuid.UUID, query: str, *, language: str,
                 visibility: str | None = None, limit: int = 10) -> list[ArticleMatch]:
    """What someone typed: every word, each a prefix."""
    return await backend_for(session).search(session, tenant_id, words_of(query),
                                             language=language, mode="all",
                                             visibility=visibility, limit=limit)


async def related(session: AsyncSession, tenant_id: uuid.UUID, words: list[str], *,
                  language: str, visibility: str | None = None,
                  limit: int = 5) -> list[ArticleMatch]:
    """Articles about any of ``words``, those matching more and rarer ones first."""
    return await backend_for(session).search(session, tenant_id, words, language=language,
                                             mode="any", visibility=visibility, limit=limit)
