"""The knowledge base: the category tree, articles with one translation per language,
suggestions for a conversation and sending an article to the customer.

Suggestions read what the customer wrote in the contact (the chat's visitor messages, the
email's new text and subject), keep the words it is most about, and rank the published
articles matching any of them in the conversation's language (the tenant's default
language when nothing matches there).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat import service as chat
from plateaux.channels.chat.models import ConversationMessage, ConversationStatus
from plateaux.channels.email import service as email
from plateaux.channels.email.models import EmailMessage
from plateaux.crm.search import snippet
from plateaux.helpdesk import events, kb_search
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.cases import contact_of, conversation_of
from plateaux.helpdesk.kb_html import plain_text, sanitize, slugify
from plateaux.helpdesk.models import (
    ArticleStatus,
    HelpdeskSettings,
    KbArticle,
    KbCategory,
    KbTranslation,
)
from plateaux.helpdesk.schemas import (
    ArticleHitOut,
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    CategoryIn,
    CategoryPatch,
    SentArticleOut,
    TranslationIn,
    TranslationOut,
)
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import Conflict, NotFound, UnprocessableContent
from plateaux.platform.types import utcnow
from plateaux.routing.models import Contact
from plateaux.tenants.models import Tenant
from plateaux.tenants.service import audit

CHAT_LIMIT = 4800  # under the chat's 5000 characters, with room for the link


# --- categories ------------------------------------------------------------------------------


async def _check_parent(session: AsyncSession, tenant_id: uuid.UUID,
                        parent_id: uuid.UUID | None, moving: uuid.UUID | None = None) -> None:
    if parent_id is None:
        return
    try:
        parent = await repo.get_owned(session, KbCategory, tenant_id, parent_id, "Category")
    except NotFound as error:
        raise UnprocessableContent("Unknown parent category.") from error
    # A category never goes under itself or its own descendants.
    by_id = {c.id: c for c in await repo.categories(session, tenant_id)}
    node: KbCategory | None = parent
    while node is not None:
        if node.id == moving:
            raise UnprocessableContent("A category cannot go under itself.")
        node = by_id.get(node.parent_id) if node.parent_id else None


async def create_category(session: AsyncSession, subject: Subject,
                          body: CategoryIn) -> KbCategory:
    await _check_parent(session, subject.tenant_id, body.parent_id)
    category = KbCategory(tenant_id=subject.tenant_id, parent_id=body.parent_id,
                          names=body.names, position=body.position)
    session.add(category)
    await session.flush()
    return category


async def update_category(session: AsyncSession, subject: Subject, category: KbCategory,
                          body: CategoryPatch) -> KbCategory:
    changes = body.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        await _check_parent(session, subject.tenant_id, changes["parent_id"], category.id)
        category.parent_id = changes["parent_id"]
    if changes.get("names") is not None:
        category.names = changes["names"]
    if changes.get("position") is not None:
        category.position = changes["position"]
    category.updated_at = utcnow()
    session.add(category)
    await session.flush()
    return category


async def delete_category(session: AsyncSession, subject: Subject,
                          category: KbCategory) -> None:
    if await repo.count_in_category(session, subject.tenant_id, category.id):
        raise Conflict("Move or delete its articles and subcategories first.")
    await session.delete(category)
    await session.flush()


def tree(categories: list[KbCategory]) -> list[tuple[int, KbCategory]]:
    """The categories depth first, each with its depth (for indented lists)."""
    children: dict[uuid.UUID | None, list[KbCategory]] = {}
    known = {c.id for c in categories}
    for category in categories:
        parent = category.parent_id if category.parent_id in known else None
        children.setdefault(parent, []).append(category)
    found: list[tuple[int, KbCategory]] = []

    def walk(parent: uuid.UUID | None, depth: int) -> None:
        for child in children.get(parent, []):
            found.append((depth, child))
            walk(child.id, depth + 1)

    walk(None, 0)
    return found


def name_in(names: dict[str, str], language: str, default: str) -> str:
    return names.get(language) or names.get(default) or next(iter(names.values()), "")


# --- articles --------------------------------------------------------------------------------


def _fill(translation: KbTranslation, body: TranslationIn) -> None:
    safe = sanitize(body.body_html)
    translation.title = body.title.strip()
    translation.slug = slugify(body.title)
    translation.body_html = safe
    translation.body_text = plain_text(safe)
    translation.keywords = ",".join(body.keywords)[:1000]
    translation.search_text = " ".join(
        [translation.title, " ".join(body.keywords), translation.body_text])[:200_000]
    translation.updated_at = utcnow()


async def _check_category(session: AsyncSession, tenant_id: uuid.UUID,
                          category_id: uuid.UUID | None) -> None:
    if category_id is None:
        return
    try:
        await repo.get_owned(session, KbCategory, tenant_id, category_id, "Category")
    except NotFound as error:
        raise UnprocessableContent("Unknown category.") from error


def _unique_languages(translations: list[TranslationIn]) -> None:
    languages = [t.language for t in translations]
    if len(set(languages)) != len(languages):
        raise UnprocessableContent("One translation per language.")


async def create_article(session: AsyncSession, subject: Subject, body: ArticleIn) -> KbArticle:
    await _check_category(session, subject.tenant_id, body.category_id)
    _unique_languages(body.translations)
    now = utcnow()
    article = KbArticle(tenant_id=subject.tenant_id, category_id=body.category_id,
                        status=body.status.value, visibility=body.visibility,
                        position=body.position, author_id=subject.user_id,
                        published_at=now if body.status is ArticleStatus.PUBLISHED else None)
    session.add(article)
    await session.flush()
    for item in body.translations:
        translation = KbTranslation(tenant_id=subject.tenant_id, article_id=article.id,
                                    language=item.language, title="", slug="")
        _fill(translation, item)
        session.add(translation)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.article_created",
          target=str(article.id))
    return article


async def update_article(session: AsyncSession, subject: Subject, article: KbArticle,
                         body: ArticlePatch) -> KbArticle:
    changes = body.model_dump(exclude_unset=True)
    if "category_id" in changes:
        await _check_category(session, subject.tenant_id, changes["category_id"])
        article.category_id = changes["category_id"]
    if body.status is not None and body.status.value != article.status:
        article.status = body.status.value
        if body.status is ArticleStatus.PUBLISHED:
            article.published_at = utcnow()
    if body.visibility is not None:
        article.visibility = body.visibility
    if body.position is not None:
        article.position = body.position
    existing = {t.language: t for t in await repo.translations_of(
        session, article.tenant_id, [article.id])}
    if body.translations:
        _unique_languages(body.translations)
        for item in body.translations:
            translation = existing.get(item.language) or KbTranslation(
                tenant_id=article.tenant_id, article_id=article.id, language=item.language,
                title="", slug="")
            _fill(translation, item)
            session.add(translation)
            existing[item.language] = translation
    removing = {kb_search.clean_language(lang, "") for lang in body.remove_languages}
    if removing and not set(existing) - removing:
        raise UnprocessableContent("An article keeps at least one translation.")
    for language in removing:
        if language in existing:
            await session.delete(existing[language])
    article.updated_at = utcnow()
    session.add(article)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.article_updated",
          target=str(article.id))
    return article


async def delete_article(session: AsyncSession, subject: Subject, article: KbArticle) -> None:
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.article_deleted",
          target=str(article.id))
    await session.delete(article)
    await session.flush()


async def articles_out(session: AsyncSession, tenant_id: uuid.UUID,
                       articles: list[KbArticle]) -> list[ArticleOut]:
    translations = await repo.translations_of(session, tenant_id, [a.id for a in articles])
    return [ArticleOut(
        id=a.id, category_id=a.category_id, status=a.status, visibility=a.visibility,
        position=a.position, view_count=a.view_count, sent_count=a.sent_count,
        created_at=a.created_at, updated_at=a.updated_at, published_at=a.published_at,
        translations=[TranslationOut.model_validate(t) for t in translations
                      if t.article_id == a.id]) for a in articles]


def pick(translations: list[KbTranslation], language: str | None,
         default: str) -> KbTranslation | None:
    by_language = {t.language: t for t in translations}
    wanted = kb_search.clean_language(language, default)
    return by_language.get(wanted) or by_language.get(default) or (
        translations[0] if translations else None)


def public_url(base: str, tenant: Tenant, settings: HelpdeskSettings, article: KbArticle,
               translation: KbTranslation) -> str | None:
    if not settings.help_center_enabled or article.visibility != "public" or (
            article.status != ArticleStatus.PUBLISHED):
        return None
    return (f"{base.rstrip('/')}/help/{tenant.slug}/{translation.language}/articles/"
            f"{article.id}-{translation.slug}")


async def hits_out(session: AsyncSession, tenant_id: uuid.UUID,
                   matches: list[kb_search.ArticleMatch], words: list[str]) -> list[ArticleHitOut]:
    settings = await repo.settings_of(session, tenant_id)
    tenant = await session.get(Tenant, tenant_id)
    services = session.info.get("services")
    base = services.settings.base_url if services is not None else ""
    translations = {(t.article_id, t.language): t for t in await repo.translations_of(
        session, tenant_id, [m.article_id for m in matches])}
    articles = {a.id: a for a in (await session.scalars(select(KbArticle).where(
        col(KbArticle.tenant_id) == tenant_id,
        col(KbArticle.id).in_([m.article_id for m in matches])))).all()} if matches else {}
    out = []
    for match in matches:
        translation = translations.get((match.article_id, match.language))
        article = articles.get(match.article_id)
        url = (public_url(base, tenant, settings, article, translation)
               if tenant and article and translation else None)
        out.append(ArticleHitOut(article_id=match.article_id, language=match.language,
                                 title=match.title, snippet=snippet(match.body_text, words),
                                 score=round(match.score, 6), visibility=match.visibility,
                                 url=url))
    return out


async def search(session: AsyncSession, tenant_id: uuid.UUID, query: str, *,
                 language: str | None, limit: int = 10) -> list[ArticleHitOut]:
    settings = await repo.settings_of(session, tenant_id)
    wanted = kb_search.clean_language(language, settings.kb_default_language)
    matches = await kb_search.search(session, tenant_id, query, language=wanted, limit=limit)
    return await hits_out(session, tenant_id, matches, kb_search.words_of(query))


# --- suggestions -----------------------------------------------------------------------------


async def conversation_texts(session: AsyncSession, contact: Contact) -> list[str]:
    """What the customer wrote in this contact (latest first), and its subject."""
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    texts: list[str] = []
    if isinstance(attributes.get("subject"), str):
        texts.append(attributes["subject"])
    conversation = await conversation_of(session, contact)
    if conversation is not None:
        texts += list((await session.scalars(select(ConversationMessage.text).where(
            col(ConversationMessage.tenant_id) == contact.tenant_id,
            col(ConversationMessage.conversation_id) == conversation.id,
            col(ConversationMessage.author_type) == "visitor",
            col(ConversationMessage.kind) == "message")
            .order_by(col(ConversationMessage.seq).desc()).limit(20))).all())
    thread = attributes.get("email_thread_id")
    if thread:
        texts += list((await session.scalars(select(EmailMessage.new_text).where(
            col(EmailMessage.tenant_id) == contact.tenant_id,
            col(EmailMessage.thread_id) == uuid.UUID(str(thread)),
            col(EmailMessage.direction) == "in")
            .order_by(col(EmailMessage.created_at).desc()).limit(5))).all())
    return [t for t in texts if t]


async def contact_language(session: AsyncSession, contact: Contact) -> str | None:
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    if isinstance(attributes.get("language"), str):
        return str(attributes["language"])
    conversation = await conversation_of(session, contact)
    return conversation.language if conversation is not None else None


async def suggest(session: AsyncSession, subject: Subject, contact_id: uuid.UUID, *,
                  limit: int = 5) -> list[ArticleHitOut]:
    contact = await contact_of(session, subject.tenant_id, contact_id)
    words = kb_search.topic_words(await conversation_texts(session, contact))
    if not words:
        return []
    settings = await repo.settings_of(session, subject.tenant_id)
    language = kb_search.clean_language(await contact_language(session, contact),
                                        settings.kb_default_language)
    matches = await kb_search.related(session, subject.tenant_id, words, language=language,
                                      limit=limit)
    if not matches and language != settings.kb_default_language:
        matches = await kb_search.related(session, subject.tenant_id, words,
                                          language=settings.kb_default_language, limit=limit)
    return await hits_out(session, subject.tenant_id, matches, words)


# --- sending ---------------------------------------------------------------------------------


async def send(session: AsyncSession, subject: Subject, article: KbArticle, *,
               contact_id: uuid.UUID, language: str | None) -> SentArticleOut:
    """Into the contact's chat as the agent's message, or as an email reply on its
    thread; the title, the text and the help center link when the article is public."""
    if article.status != ArticleStatus.PUBLISHED:
        raise UnprocessableContent("Only a published article is sent to a customer.")
    contact = await contact_of(session, subject.tenant_id, contact_id)
    settings = await repo.settings_of(session, subject.tenant_id)
    translations = await repo.translations_of(session, subject.tenant_id, [article.id])
    translation = pick(translations, language or await contact_language(session, contact),
                       settings.kb_default_language)
    if translation is None:
        raise UnprocessableContent("The article has no text.")
    tenant = await session.get(Tenant, subject.tenant_id)
    services = session.info.get("services")
    base = services.settings.base_url if services is not None else ""
    url = public_url(base, tenant, settings, article, translation) if tenant else None
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    conversation = await conversation_of(session, contact)
    sent: dict[str, Any]
    if conversation is not None:
        if conversation.status != ConversationStatus.OPEN:
            raise Conflict("The conversation has ended.")
        body = translation.body_text
        if url is not None and len(body) > 600:
            body = body[:600].rsplit(" ", 1)[0] + " …"
        text = f"{translation.title}\n\n{body[:CHAT_LIMIT]}" + (f"\n\n{url}" if url else "")
        actor = await chat.agent_actor(session, subject, conversation)
        await chat.post_message(session, conversation, actor, text=text.strip(),
                                client_id=f"kb-{article.id}-{uuid.uuid4().hex[:8]}")
        sent = {"channel": "chat", "conversation_id": conversation.id, "text": text}
    elif attributes.get("email_thread_id"):
        thread = await email.thread_for(session, subject,
                                        uuid.UUID(str(attributes["email_thread_id"])))
        text = f"{translation.title}\n\n{translation.body_text}" + (
            f"\n\n{url}" if url else "")
        message, _ = await email.reply(session, subject, thread, text=text, cc=[],
                                       attachment_ids=[], client_id=None)
        sent = {"channel": "email", "email_message_id": message.id, "text": text}
    else:
        raise UnprocessableContent("This contact has no chat or email to send an article to.")
    article.sent_count += 1
    session.add(article)
    link = await repo.link_of_contact(session, subject.tenant_id, contact.id)
    if link is not None:
        case = await repo.get_case(session, subject.tenant_id, link.case_id)
        actor_id = subject.user_id
        events.record(session, case, "article_sent", actor_id=actor_id,
                      actor_name=subject.label, body=translation.title,
                      article_id=str(article.id), channel=sent["channel"])
    await session.flush()
    return SentArticleOut(**sent)
