"""The knowledge base on the backend under test: the category tree, articles in several
languages, full-text search ranked (titles and keywords before bodies, stemming in each
language's own way), only published articles, suggestions from a conversation's text and
sending one into the chat."""

from __future__ import annotations

import httpx

from plateaux.platform.services import Services
from tests.channels.chat_world import assigned_conversation
from tests.helpdesk.world import API, DESK, desk_world, problem
from tests.support.factories import TenantFactory


def article(title: str, body: str, *, language: str = "en", keywords: tuple[str, ...] = (),
            status: str = "published", visibility: str = "public",
            category: str | None = None) -> dict[str, object]:
    return {"status": status, "visibility": visibility, "category_id": category,
            "translations": [{"language": language, "title": title, "keywords": list(keywords),
                              "body_html": f"<p>{body}</p>"}]}


async def test_search_ranking_suggestions_and_sending(
        desk: httpx.AsyncClient, desk_services: Services, desk_tenants: TenantFactory) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    editor, agent = world.supervisor_headers, world.agent
    settings = await desk.put(f"{DESK}/settings", headers=world.admin, json={
        "kb_languages": ["en", "fr"], "kb_default_language": "en"})
    assert settings.status_code == 200, settings.text
    top = await desk.post(f"{DESK}/kb/categories", headers=editor,
                          json={"names": {"en": "Hardware", "fr": "Matériel"}})
    assert top.status_code == 201, top.text
    sub = await desk.post(f"{DESK}/kb/categories", headers=editor, json={
        "names": {"en": "Printers"}, "parent_id": top.json()["id"]})
    assert sub.status_code == 201
    problem(await desk.patch(f"{DESK}/kb/categories/{top.json()['id']}", headers=editor,
                             json={"parent_id": sub.json()["id"]}), 422)  # no loops
    problem(await desk.post(f"{DESK}/kb/categories", headers=agent,
                            json={"names": {"en": "Nope"}}), 403)
    made: dict[str, str] = {}
    for key, body in {
        "reset": article("Reset a printer", "Hold the power button for ten seconds.",
                         keywords=("printer", "reset"), category=sub.json()["id"]),
        "jam": article("Printer paper jams", "Open the tray and remove the jammed paper "
                       "gently, then close the printer.", keywords=("paper", "jam")),
        "billing": article("Change your billing address", "Invoices show the address of "
                           "your account; a printer rental has its own invoice.",
                           keywords=("invoice", "address")),
        "french": article("Réinitialiser l'imprimante", "Maintenez le bouton des "
                          "imprimantes enfoncé dix secondes.", language="fr"),
        "internal": article("Printer refunds", "Refund a printer within a year.",
                            visibility="internal"),
        "draft": article("Printer firmware", "Not ready yet.", status="draft"),
    }.items():
        created = await desk.post(f"{DESK}/kb/articles", headers=editor, json=body)
        assert created.status_code == 201, created.text
        made[key] = created.json()["id"]
    problem(await desk.delete(f"{DESK}/kb/categories/{sub.json()['id']}", headers=editor), 409)

    async def search(q: str, language: str = "en") -> list[str]:
        found = await desk.get(f"{DESK}/kb/search", headers=agent,
                               params={"q": q, "language": language})
        assert found.status_code == 200, found.text
        ids = {v: k for k, v in made.items()}
        return [ids[h["article_id"]] for h in found.json()]

    # Stemmed ("printers" finds "printer"), titles and keywords before bodies, published
    # only (internal ones are for agents, so found here), in the language asked.
    printers = await search("printers")
    assert set(printers) == {"reset", "jam", "billing", "internal"}
    assert printers.index("billing") == len(printers) - 1
    assert (await search("reset printer"))[0] == "reset"
    assert (await search("jammed"))[0] == "jam"
    assert await search("firmware") == []
    assert await search("imprimantes", "fr") == ["french"]
    assert await search("imprimante", "en") == []
    hits = (await desk.get(f"{DESK}/kb/search", headers=agent,
                           params={"q": "tray"})).json()
    assert "tray" in hits[0]["snippet"] and hits[0]["url"] is None  # no help center yet
    # Agents read published articles only; editors see drafts.
    assert made["draft"] not in [a["id"] for a in (await desk.get(
        f"{DESK}/kb/articles", headers=agent)).json()]
    problem(await desk.get(f"{DESK}/kb/articles/{made['draft']}", headers=agent), 404)
    assert (await desk.get(f"{DESK}/kb/articles/{made['draft']}", headers=editor)
            ).status_code == 200

    # While the agent handles a chat, the console suggests articles from what was said.
    chat = await assigned_conversation(
        desk_services, desk, world.chat,
        text="Hello, my printer is jammed with paper, what should I do?")
    suggested = await desk.get(f"{DESK}/contacts/{chat['contact_id']}/suggestions",
                               headers=agent)
    assert suggested.status_code == 200, suggested.text
    ids = [h["article_id"] for h in suggested.json()]
    assert ids[0] == made["jam"] and made["draft"] not in ids
    case = await desk.post(f"{DESK}/cases", headers=agent, json={"contact_id": chat["contact_id"]})
    assert case.status_code == 201
    sent = await desk.post(f"{DESK}/kb/articles/{made['jam']}/send", headers=agent,
                           json={"contact_id": chat["contact_id"]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["channel"] == "chat"
    messages = (await desk.get(f"{API}/conversations/{chat['conversation_id']}/messages",
                               headers=agent)).json()
    assert messages[-1]["text"].startswith("Printer paper jams\n\nOpen the tray")
    assert messages[-1]["author_type"] == "agent"
    problem(await desk.post(f"{DESK}/kb/articles/{made['draft']}/send", headers=editor,
                            json={"contact_id": chat["contact_id"]}), 422)
    detail = (await desk.get(f"{DESK}/cases/{case.json()['id']}", headers=agent)).json()
    assert detail["events"][0]["kind"] == "article_sent"
    counted = (await desk.get(f"{DESK}/kb/articles/{made['jam']}", headers=agent)).json()
    assert counted["sent_count"] == 1
    # Another tenant neither finds nor sends these articles.
    other = await desk_world(desk_services, desk_tenants, desk)
    assert (await desk.get(f"{DESK}/kb/search", headers=other.agent,
                           params={"q": "printer"})).json() == []
    problem(await desk.post(f"{DESK}/kb/articles/{made['jam']}/send", headers=other.agent,
                            json={"contact_id": chat["contact_id"]}), 404)
    # Editing a translation changes what search finds; removing the last one is refused.
    edited = await desk.patch(f"{DESK}/kb/articles/{made['billing']}", headers=editor, json={
        "translations": [{"language": "en", "title": "Change your billing address",
                          "body_html": "<p>Invoices show your account's address.</p>"}]})
    assert edited.status_code == 200, edited.text
    assert "billing" not in await search("printers")
    problem(await desk.patch(f"{DESK}/kb/articles/{made['billing']}", headers=editor,
                             json={"remove_languages": ["en"]}), 422)
