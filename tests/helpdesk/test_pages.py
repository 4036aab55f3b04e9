"""The help desk's pages over HTTP, as a browser posts them: the admin section (settings,
knowledge base, SLA policies, quality, scripts), the public help center (languages,
search, sanitised articles, what stays private), the case pages of the agent console,
the supervisors' review, and the satisfaction survey reached from its email."""

from __future__ import annotations

import re
import uuid

import httpx
from fastapi import FastAPI

from plateaux.platform.services import Services
from tests.helpdesk.conftest import delivered
from tests.helpdesk.world import DESK, desk_world
from tests.support.console_pages import SmtpSink, csrf_from, page_csrf, sign_in
from tests.support.factories import PASSWORD, TenantFactory
from tests.support.servers import loopback_address

HOSTILE = ('<h2>Reset the printer</h2><p onclick="steal()">Hold the <b>power</b> button '
           'for 10 seconds.</p><script>alert(1)</script>'
           '<img src="https://cdn.example.com/printer.png" onerror="alert(2)" alt="Printer">'
           '<a href="javascript:alert(3)">bad</a> <a href="https://shop.example.com/help">more'
           '</a><iframe src="https://evil.example.com"></iframe>'
           '<p style="position:fixed">styled</p>')


def browser(app: FastAPI) -> httpx.AsyncClient:
    """A browser of its own (cookies, client address) on the application."""
    transport = httpx.ASGITransport(app=app, client=(loopback_address(), 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def post_form(client: httpx.AsyncClient, page: str, action: str,
                    data: dict[str, object]) -> httpx.Response:
    token = await page_csrf(client, page)
    return await client.post(action, data={"csrf_token": token, **data})


async def test_admin_pages_and_the_public_help_center(
        desk_app: FastAPI, desk: httpx.AsyncClient, desk_services: Services,
        desk_tenants: TenantFactory) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    slug = world.chat.world.slug
    admin_base = f"/t/{slug}/admin/helpdesk"
    async with browser(desk_app) as admin:
        await sign_in(admin, slug, world.chat.world.admin.email, PASSWORD)
        saved = await post_form(admin, f"{admin_base}/settings", f"{admin_base}/settings", {
            "auto_case_channels": ["email"], "categories": "Printers\nBilling",
            "auto_close_days": "3", "csat_enabled": "on", "help_center_enabled": "on",
            "help_center_title": "Acme help", "kb_languages": "en, fr",
            "kb_default_language": "en"})
        assert saved.status_code == 303, saved.text
        refused = await post_form(admin, f"{admin_base}/settings", f"{admin_base}/settings",
                                  {"kb_languages": "english"})
        assert refused.status_code == 422 and "two-letter" in refused.text
        category = await post_form(admin, f"{admin_base}/kb", f"{admin_base}/kb/categories",
                                   {"name_en": "Printers", "name_fr": "Imprimantes"})
        assert category.status_code == 303, category.text
        kb_page = await admin.get(f"{admin_base}/kb")
        category_id = re.search(r'kb/categories/([0-9a-f-]{36})"', kb_page.text).group(1)
        article = await post_form(admin, f"{admin_base}/kb/articles/new",
                                  f"{admin_base}/kb/articles", {
            "category_id": category_id, "status": "published", "visibility": "public",
            "title_en": "Reset a printer", "keywords_en": "printer, reset, power",
            "body_en": HOSTILE, "title_fr": "Réinitialiser une imprimante",
            "keywords_fr": "imprimante", "body_fr": "<p>Maintenez le bouton.</p>"})
        assert article.status_code == 303, article.text
        article_id = re.search(r"kb/articles/([0-9a-f-]{36})", article.headers["location"]
                               ).group(1)
        internal = await post_form(admin, f"{admin_base}/kb/articles/new",
                                   f"{admin_base}/kb/articles", {
            "status": "published", "visibility": "internal", "title_en": "Printer refund rules",
            "body_en": "<p>Refund printers bought this year.</p>"})
        assert internal.status_code == 303
        draft = await post_form(admin, f"{admin_base}/kb/articles/new",
                                f"{admin_base}/kb/articles", {
            "status": "draft", "title_en": "Printer draft", "body_en": "<p>Not yet.</p>"})
        draft_id = re.search(r"kb/articles/([0-9a-f-]{36})", draft.headers["location"]).group(1)
        edit = await admin.get(f"{admin_base}/kb/articles/{article_id}")
        assert "Reset a printer" in edit.text and "<script>" not in edit.text
        # SLA policies, quality and scripts through their forms.
        policy = await post_form(admin, f"{admin_base}/sla", f"{admin_base}/sla", {
            "name": "Urgent", "priorities": ["urgent", "high"], "channels": ["chat"],
            "first_response_minutes": "30", "resolution_minutes": "480",
            "business_hours": "on", "at_risk_percent": "80", "escalate_at_risk": "on",
            "active": "on"})
        assert policy.status_code == 303, policy.text
        assert "Urgent" in (await admin.get(f"{admin_base}/sla")).text
        bad_policy = await post_form(admin, f"{admin_base}/sla", f"{admin_base}/sla", {
            "name": "Broken", "first_response_minutes": "soon"})
        assert bad_policy.status_code == 422
        code = await post_form(admin, f"{admin_base}/quality", f"{admin_base}/quality/codes",
                               {"code": "fixed", "label": "Fixed"})
        assert code.status_code == 303
        card = await post_form(admin, f"{admin_base}/quality",
                               f"{admin_base}/quality/scorecards", {
            "name": "QA", "criteria": "greeting | Greets | 1\nsolution | Solves | 3",
            "active": "on"})
        assert card.status_code == 303, card.text
        assert "Greets ×1.0" in (await admin.get(f"{admin_base}/quality")).text
        script = await post_form(admin, f"{admin_base}/scripts/new", f"{admin_base}/scripts", {
            "name": "Printer triage", "active": "on", "rows": "3",
            "id_0": "hello", "kind_0": "say", "text_0": "Thank the customer", "next_0": "model",
            "id_1": "model", "kind_1": "question", "text_1": "Which model?",
            "answer_1": "choice", "choices_1": "p1 | P-100 | done\np2 | P-200 | done",
            "required_1": "on", "id_2": "done", "kind_2": "end", "text_2": "Goodbye"})
        assert script.status_code == 303, script.text
        looping = await post_form(admin, f"{admin_base}/scripts/new", f"{admin_base}/scripts", {
            "name": "Loop", "rows": "2", "id_0": "a", "kind_0": "say", "text_0": "A",
            "next_0": "b", "id_1": "b", "kind_1": "say", "text_1": "B", "next_1": "a"})
        assert looping.status_code == 422 and "loops" in looping.text
        # Agents do not reach the section; supervisors see the knowledge base only.
        async with browser(desk_app) as agent:
            await sign_in(agent, slug, world.chat.agent.email, PASSWORD)
            assert (await agent.get(f"{admin_base}/kb")).status_code == 403
        async with browser(desk_app) as supervisor:
            await sign_in(supervisor, slug, world.supervisor.email, PASSWORD)
            assert (await supervisor.get(f"{admin_base}/kb")).status_code == 200
            assert (await supervisor.get(f"{admin_base}/sla")).status_code == 403

    # The public help center.
    visitor = browser(desk_app)
    root = await visitor.get(f"/help/{slug}", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert (root.status_code, root.headers["location"]) == (303, f"/help/{slug}/fr/")
    home = await visitor.get(f"/help/{slug}/en/")
    assert home.status_code == 200, home.text
    assert "Acme help" in home.text and "Reset a printer" in home.text
    assert "Printer refund rules" not in home.text and "Printer draft" not in home.text
    csp = home.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert "img-src 'self' https:" in csp
    assert f'href="/help/{slug}/fr/"' in home.text  # the language switch
    page = await visitor.get(f"/help/{slug}/en/articles/{article_id}-reset-a-printer")
    assert page.status_code == 200, page.text
    body = page.text.split('class="help-body">', 1)[1].split("</div>", 1)[0]
    assert "<h2>Reset the printer</h2>" in body and "<b>power</b>" in body
    assert '<img src="https://cdn.example.com/printer.png" alt="Printer">' in body
    for banned in ("<script", "onclick", "onerror", "javascript:", "<iframe", "style="):
        assert banned not in body, banned
    assert 'href="https://shop.example.com/help" rel="noopener noreferrer nofollow"' in body
    french = await visitor.get(f"/help/{slug}/fr/articles/{article_id}-x")
    assert "Réinitialiser une imprimante" in french.text
    found = await visitor.get(f"/help/{slug}/en/search", params={"q": "printers power"})
    assert "Reset a printer" in found.text and "refund" not in found.text
    category_page = await visitor.get(f"/help/{slug}/fr/categories/{category_id}")
    assert "Imprimantes" in category_page.text
    assert (await visitor.get(f"/help/{slug}/en/articles/{draft_id}-x")).status_code == 404
    assert (await visitor.get(f"/help/{slug}/de/")).status_code == 404
    assert (await visitor.get(f"/help/{slug}/en/articles/not-an-id")).status_code == 404
    # Another tenant's help center does not show this tenant's article.
    other = await desk_world(desk_services, desk_tenants, desk)
    put = await desk.put(f"{DESK}/settings", headers=other.admin,
                         json={"help_center_enabled": True})
    assert put.status_code == 200
    assert (await visitor.get(f"/help/{other.chat.world.slug}/en/articles/{article_id}-x")
            ).status_code == 404
    assert (await visitor.get(f"/help/no-such-{uuid.uuid4().hex[:6]}/en/")).status_code == 404
    await visitor.aclose()


async def test_case_pages_review_and_the_survey_by_email(
        desk_app: FastAPI, desk: httpx.AsyncClient, desk_services: Services,
        desk_tenants: TenantFactory, desk_smtp: SmtpSink) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    slug = world.chat.world.slug
    customer = f"ines-{uuid.uuid4().hex[:6]}@example.net"
    person = await desk.post("/api/v1/crm/people", headers=world.admin, json={
        "name": "Inès", "identities": [{"kind": "email", "value": customer}]})
    assert person.status_code == 201, person.text
    card = await desk.post(f"{DESK}/scorecards", headers=world.admin, json={
        "name": "QA", "criteria": [{"key": "tone", "label": "Tone", "weight": 2},
                                   {"key": "fix", "label": "Fix", "weight": 1}]})
    created = await desk.post(f"{DESK}/cases", headers=world.agent, json={
        "subject": "Wrong invoice address", "person_id": person.json()["id"]})
    case_id = created.json()["id"]
    async with browser(desk_app) as agent:
        await sign_in(agent, slug, world.chat.agent.email, PASSWORD)
        listing = await agent.get(f"/t/{slug}/agent/cases", params={"view": "unassigned"})
        assert "Wrong invoice address" in listing.text
        page = f"/t/{slug}/agent/cases/{case_id}"
        shown = await agent.get(page)
        assert shown.status_code == 200 and "Inès" in shown.text and customer in shown.text
        token = csrf_from(shown.text)
        saved = await agent.post(page, data={
            "csrf_token": token, "subject": "Wrong invoice address", "status": "pending",
            "priority": "high", "level": "1", "owner_id": str(world.chat.agent.id)})
        assert saved.status_code == 303, saved.text
        refused = await agent.post(page, data={"csrf_token": token, "subject": "x",
                                               "owner_id": "nobody"})
        assert refused.status_code == 422
        assert (await agent.post(f"{page}/notes", data={
            "csrf_token": token, "body": "Customer moved in May"})).status_code == 303
        escalated = await agent.post(f"{page}/escalate", data={"csrf_token": token,
                                                                "note": "Billing team"})
        assert escalated.status_code == 303
        solved = await agent.post(f"{page}/solve", data={"csrf_token": token,
                                                         "resolution_note": "Address fixed"})
        assert solved.status_code == 303, solved.text
        after = await agent.get(page + "?done=solved")
        assert "Case solved." in after.text and "Customer moved in May" in after.text
        assert "escalated" in after.text and "level 2" in after.text
        assert (await agent.get(f"/t/{slug}/supervisor/reviews")).status_code == 403
    # The customer is asked by email; the link leads to the survey.
    await delivered(desk_services)
    [mail] = desk_smtp.to(customer)
    link = re.search(r"http://testserver(/t/\S+)", SmtpSink.body(mail)).group(1)
    survey = browser(desk_app)
    form = await survey.get(link)
    assert form.status_code == 200 and "Wrong invoice address" in form.text
    forged = await survey.get(link.split("?")[0] + "?t=forged")
    assert forged.status_code == 404
    answered = await survey.post(link.split("?")[0], data={
        "t": link.split("t=")[1], "score": "2", "comment": "Took a week"})
    assert answered.status_code == 200 and "Thank you" in answered.text
    await survey.aclose()
    detail = (await desk.get(f"{DESK}/cases/{case_id}", headers=world.agent)).json()
    assert (detail["case"]["csat_score"], detail["case"]["csat_source"]) == (2, "email")
    # A low score tells the owner and supervisors.
    assert (await desk.get(f"{DESK}/notifications", headers=world.supervisor_headers)
            ).json()[0]["kind"] == "low_satisfaction"
    # The supervisor reviews it from the review page.
    async with browser(desk_app) as supervisor:
        await sign_in(supervisor, slug, world.supervisor.email, PASSWORD)
        waiting = await supervisor.get(f"/t/{slug}/supervisor/reviews")
        assert "Wrong invoice address" in waiting.text
        review_page = f"/t/{slug}/supervisor/cases/{case_id}/review"
        form_page = await supervisor.get(review_page)
        reviewed = await supervisor.post(review_page, data={
            "csrf_token": csrf_from(form_page.text), "scorecard_id": card.json()["id"],
            "score_tone": "5", "score_fix": "2", "comment": "Kind, slow fix"})
        assert reviewed.status_code == 303, reviewed.text
        done = await supervisor.get(f"/t/{slug}/supervisor/reviews")
        assert "80.0 %" in done.text  # (2×5 + 1×2) / (3×5)
