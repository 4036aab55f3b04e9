"""Tenant sign-in pages and the account page, through HTTP as a browser uses them."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from sqlmodel import col, select

from plateaux.platform.app import create_app
from plateaux.platform.auth import login_csrf
from plateaux.platform.auth.models import UserSession
from plateaux.platform.auth.page_helpers import safe_next, set_session_cookie
from plateaux.platform.auth.sessions import USER_COOKIE
from plateaux.platform.services import Services
from plateaux.platform.settings import Settings
from plateaux.platform.types import utcnow
from plateaux.tenants import service as tenant_service
from plateaux.tenants.models import Role, Site, Skill, Team, TeamMember, User, UserSkill
from tests.support.console_pages import SmtpSink, csrf_from, page_csrf, sign_in
from tests.support.database import TestDatabase
from tests.support.factories import PASSWORD, TenantFactory, TenantWorld
from tests.support.settings import make_settings

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture(autouse=True)
async def _fresh_address_limits(services: Services) -> None:
    # Every request of the test client comes from 127.0.0.1: start each test with the
    # per-address sign-in budget the suite's other logins may have used.
    for key in ("login:127.0.0.1", "reset:127.0.0.1"):
        await services.limiter.reset(key)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
async def mail_app(test_database: TestDatabase, smtp: SmtpSink,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """The application with its outgoing mail going to the SMTP sink."""
    settings = make_settings(test_database, tmp_path_factory.mktemp("mail-app"),
                             smtp_host="127.0.0.1", smtp_port=smtp.port)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def mail_client(mail_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mail_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def mail_services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def delivered(app: FastAPI) -> None:
    """Wait for the mail jobs queued by the last requests."""
    await mail_services(app).jobs.drain()  # type: ignore[attr-defined]


def second_browser(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser (its own cookie jar) on the same application."""
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver")


def set_cookie_headers(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def cookie_header(response: httpx.Response, name: str) -> str:
    found = [h for h in set_cookie_headers(response) if h.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {set_cookie_headers(response)}"
    return found[0]


# ---------------------------------------------------------------------------------------
# Signing in


async def test_login_page_sets_a_strict_form_cookie(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create(name="Acme <Support>")
    page = await client.get(f"/t/{world.slug}/login")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    # The tenant's name is shown, escaped.
    assert "Acme &lt;Support&gt;" in page.text and "<Support>" not in page.text
    header = cookie_header(page, login_csrf.COOKIE).lower()
    assert "samesite=strict" in header and "httponly" in header and "path=/" in header
    assert csrf_from(page.text)
    # Unknown workspaces have no sign-in page.
    assert (await client.get("/t/no-such-workspace-here/login")).status_code == 404


async def test_sign_in_sets_the_session_cookie_and_goes_home_by_role(
    client: httpx.AsyncClient, tenants: TenantFactory, settings: Settings
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR)

    response = await sign_in(client, world.slug, world.admin.email, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == f"/t/{world.slug}/admin/"
    header = cookie_header(response, USER_COOKIE).lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert f"max-age={settings.session_max_age_seconds}" in header
    assert "secure" not in header.replace("samesite", "")  # plain-HTTP base URL

    # Signing in again in the same browser ends the session the cookie held.
    first = client.cookies[USER_COOKIE]
    assert (await client.get(f"/t/{world.slug}/login")).status_code == 303
    token = await page_csrf(client, f"/t/{world.slug}/forgot")  # same form cookie
    again = await client.post(f"/t/{world.slug}/login", data={
        "csrf_token": token, "email": world.admin.email, "password": PASSWORD})
    assert again.status_code == 303
    assert client.cookies[USER_COOKIE] != first
    client.cookies.clear()
    client.cookies.set(USER_COOKIE, first)
    assert (await client.get(f"/t/{world.slug}/agent/")).status_code == 303

    for user, home in ((supervisor, "admin"), (agent, "agent")):
        client.cookies.clear()
        response = await sign_in(client, world.slug, user.email.upper(), PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == f"/t/{world.slug}/{home}/"
    # Signed in, the sign-in page sends the person home.
    again = await client.get(f"/t/{world.slug}/login")
    assert again.status_code == 303 and again.headers["location"] == f"/t/{world.slug}/agent/"


def test_cookies_are_secure_behind_https(test_database: TestDatabase, tmp_path: Path) -> None:
    settings = make_settings(test_database, tmp_path, base_url="https://plateaux.example")
    response = Response()
    set_session_cookie(response, settings, USER_COOKIE, "value", max_age=60)
    login_csrf.LoginCsrf(cookie="c" * 43, field="f", is_new=True).attach(response, settings)
    headers = [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]
    assert len(headers) == 2 and all("Secure" in h for h in headers)


async def test_wrong_password_shows_the_form_again_with_401(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    response = await sign_in(client, world.slug, world.admin.email, "not-the-password")
    assert response.status_code == 401
    assert "Wrong workspace, email or password." in response.text
    assert f'value="{world.admin.email}"' in response.text
    assert USER_COOKIE not in response.headers.get("set-cookie", "")
    unknown = await sign_in(client, world.slug, "nobody@example.com", PASSWORD)
    assert unknown.status_code == 401
    assert "Wrong workspace, email or password." in unknown.text


async def test_account_locks_after_the_maximum_failures(
    client: httpx.AsyncClient, tenants: TenantFactory, settings: Settings
) -> None:
    world = await tenants.create()
    for _ in range(settings.login_max_failures):
        failed = await sign_in(client, world.slug, world.admin.email, "wrong-password-1")
        assert failed.status_code == 401
    # Even the right password is refused while the account is locked.
    locked = await sign_in(client, world.slug, world.admin.email, PASSWORD)
    assert locked.status_code == 401
    assert "locked" in locked.text
    assert USER_COOKIE not in locked.headers.get("set-cookie", "")


async def test_too_many_attempts_from_one_address_get_429(
    app: FastAPI, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    # Counters live in Redis on the PostgreSQL pass: start this address from zero.
    await mail_services(app).limiter.reset("login:198.51.100.23")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.23", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        page = await other.get(f"/t/{world.slug}/login")
        token = csrf_from(page.text)
        statuses = []
        for i in range(31):
            response = await other.post(f"/t/{world.slug}/login", data={
                "csrf_token": token, "email": f"spray-{i}@example.com", "password": "x" * 12})
            statuses.append(response.status_code)
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in response.text
    assert '<form method="post"' in response.text


@pytest.mark.parametrize("target", [
    "https://evil.example/",
    "//evil.example/t/x/",
    "/\\evil.example",
    "/t/{other}/agent/",
    "/t/{slug}/../../operator/",
    "javascript:alert(1)",
    "/t/{slug}/login",
    "/operator/",
])
async def test_next_never_leaves_the_workspace(
    client: httpx.AsyncClient, tenants: TenantFactory, target: str
) -> None:
    world = await tenants.create()
    target = target.format(slug=world.slug, other="someone-else")
    page = await client.get(f"/t/{world.slug}/login", params={"next": target})
    assert 'name="next" value=""' in page.text
    response = await client.post(f"/t/{world.slug}/login", data={
        "csrf_token": csrf_from(page.text), "email": world.admin.email, "password": PASSWORD,
        "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == f"/t/{world.slug}/admin/"


async def test_a_safe_next_is_followed(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    # What a console page sends an unsigned browser to.
    bounced = await client.get(f"/t/{world.slug}/agent/")
    assert bounced.status_code == 303
    assert bounced.headers["location"] == f"/t/{world.slug}/login?next=/t/{world.slug}/agent/"
    response = await sign_in(client, world.slug, world.admin.email, PASSWORD,
                             next=f"/t/{world.slug}/agent/?tab=security")
    assert response.headers["location"] == f"/t/{world.slug}/agent/?tab=security"


def test_safe_next_rules() -> None:
    assert safe_next("/t/acme/agent/", "acme") == "/t/acme/agent/"
    assert safe_next("/t/acme/admin/users?page=2", "acme") == "/t/acme/admin/users?page=2"
    for bad in ("", "/t/acmeevil/", "/t/acme", "http://x/t/acme/", "/t/acme/\r\nX: y",
                "/t/acme/%0d", "/t/acme/./../x", "/t/acme/logout"):
        if bad == "/t/acme/%0d":
            # Percent-escapes stay escaped in a Location header: harmless and same-site.
            assert safe_next(bad, "acme") == bad
            continue
        assert safe_next(bad, "acme") is None, bad


async def test_login_form_without_its_token_is_refused(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    credentials = {"email": world.admin.email, "password": PASSWORD}
    # A forged cross-site post: no cookie and no token.
    missing = await client.post(f"/t/{world.slug}/login", data=credentials)
    assert missing.status_code == 403
    assert USER_COOKIE not in missing.headers.get("set-cookie", "")
    assert "expired" in missing.text
    # The page shown again carries a working token.
    retry = await client.post(f"/t/{world.slug}/login",
                              data={**credentials, "csrf_token": csrf_from(missing.text)})
    assert retry.status_code == 303
    # A token lifted from another browser is useless without that browser's cookie.
    async with second_browser(client) as attacker:
        page = await attacker.get(f"/t/{world.slug}/login")
        stolen = csrf_from(page.text)
    client.cookies.clear()
    await client.get(f"/t/{world.slug}/login")
    forged = await client.post(f"/t/{world.slug}/login", data={**credentials,
                                                                "csrf_token": stolen})
    assert forged.status_code == 403


async def test_junk_posts_get_answers_not_server_errors(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    page = await client.get(f"/t/{world.slug}/login")
    token = csrf_from(page.text)
    junk = [
        {"csrf_token": token, "email": "ad\x00min@x.example", "password": "p\x00w"},
        {"csrf_token": token, "email": "é" * 1000, "password": "x" * 5000},
        {"csrf_token": token},
    ]
    for data in junk:
        response = await client.post(f"/t/{world.slug}/login", data=data)
        # Refused as bad credentials, or as invalid text before reaching the page.
        assert response.status_code in (401, 422), data
    as_json = await client.post(f"/t/{world.slug}/login", json={"email": "a"})
    assert as_json.status_code == 403
    forgot = await client.post(f"/t/{world.slug}/forgot",
                               data={"csrf_token": token, "email": "a\x00b@x.example"})
    assert forgot.status_code in (200, 422)
    assert (await client.get("/t/bad%00slug/login")).status_code in (400, 404)
    await services.limiter.reset("login:127.0.0.1")


# ---------------------------------------------------------------------------------------
# Second factor


async def pending_session_lifetime(services: Services, user: User) -> float:
    """Seconds left to the user's newest session."""
    async with services.unit_of_work(tenant_id=user.tenant_id) as session:
        newest = (await session.scalars(
            select(UserSession).where(UserSession.user_id == user.id)
            .order_by(col(UserSession.created_at).desc()))).first()
    assert newest is not None
    return (newest.expires_at - utcnow()).total_seconds()


async def test_two_factor_setup_then_sign_in_needs_the_code(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    assert (await sign_in(client, world.slug, agent.email, PASSWORD)).status_code == 303
    account = f"/t/{world.slug}/agent/account/"
    token = await page_csrf(client, account)

    started = await client.post(f"{account}two-factor/start", data={"csrf_token": token})
    assert started.status_code == 200
    secret = re.search(r'id="totp-secret">([^<]+)<', started.text)
    assert secret
    key = secret.group(1).replace(" ", "")
    assert "otpauth://totp/" in started.text
    setup = re.search(r'name="setup" value="([^"]+)"', started.text)
    assert setup
    wrong = await client.post(f"{account}two-factor/enable", data={
        "csrf_token": token, "setup": setup.group(1), "code": "000000"})
    assert wrong.status_code == 400
    assert "does not match" in wrong.text and key[:4] in wrong.text  # setup still shown
    tampered = await client.post(f"{account}two-factor/enable", data={
        "csrf_token": token, "setup": setup.group(1)[:-4] + "AAAA",
        "code": pyotp.TOTP(key).now()})
    assert tampered.status_code == 400
    enabled = await client.post(f"{account}two-factor/enable", data={
        "csrf_token": token, "setup": setup.group(1), "code": pyotp.TOTP(key).now()})
    assert enabled.status_code == 303
    assert "two-factor" in (await client.get(account)).text.lower()

    await client.post(f"/t/{world.slug}/logout", data={"csrf_token": token})
    first = await sign_in(client, world.slug, agent.email, PASSWORD)
    assert first.status_code == 303
    assert first.headers["location"] == f"/t/{world.slug}/login/mfa"
    # The password alone opens nothing, and only for a few minutes.
    assert (await client.get(account)).status_code == 303
    assert await pending_session_lifetime(services, agent) <= 600
    mfa_page = await client.get(first.headers["location"])
    assert mfa_page.status_code == 200 and 'name="code"' in mfa_page.text
    mfa_token = csrf_from(mfa_page.text)
    no_token = await client.post(f"/t/{world.slug}/login/mfa", data={"code": "123456"})
    assert no_token.status_code == 403
    bad = await client.post(f"/t/{world.slug}/login/mfa",
                            data={"csrf_token": mfa_token, "code": "123456"})
    assert bad.status_code == 401 and "not valid" in bad.text
    good = await client.post(f"/t/{world.slug}/login/mfa",
                             data={"csrf_token": mfa_token, "code": pyotp.TOTP(key).now()})
    # Signing in lands on the agent console; the account page is beside it.
    assert good.status_code == 303 and good.headers["location"] == f"/t/{world.slug}/agent/"
    page = await client.get(account)
    assert page.status_code == 200 and agent.email in page.text
    assert await pending_session_lifetime(services, agent) > 3600

    # Turning it off needs the password.
    token = csrf_from(page.text)
    refused = await client.post(f"{account}two-factor/disable",
                                data={"csrf_token": token, "password": "wrong-password"})
    assert refused.status_code == 400
    off = await client.post(f"{account}two-factor/disable",
                            data={"csrf_token": token, "password": PASSWORD})
    assert off.status_code == 303
    client.cookies.clear()
    again = await sign_in(client, world.slug, agent.email, PASSWORD)
    assert again.headers["location"] == f"/t/{world.slug}/agent/"


# ---------------------------------------------------------------------------------------
# Signing out, the account page, passwords


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    await sign_in(client, world.slug, world.admin.email, PASSWORD)
    cookie = client.cookies[USER_COOKIE]
    account = f"/t/{world.slug}/agent/account/"
    forged = await client.post(f"/t/{world.slug}/logout")
    assert forged.status_code == 403
    assert (await client.get(account)).status_code == 200
    token = await page_csrf(client, account)
    done = await client.post(f"/t/{world.slug}/logout", data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == f"/t/{world.slug}/login?done=signed-out"
    assert 'plateaux_session=""' in cookie_header(done, USER_COOKIE)
    # The old cookie is dead on the server too, not just forgotten by the browser.
    client.cookies.set(USER_COOKIE, cookie)
    assert (await client.get(account)).status_code == 303


async def test_account_page_shows_who_the_person_is(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT, name="Chloé <b>Bernard</b>")
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        site = Site(tenant_id=world.tenant.id, name="Lyon floor", city="Lyon")
        team = Team(tenant_id=world.tenant.id, name="Front office")
        sales = Skill(tenant_id=world.tenant.id, name="Sales")
        billing = Skill(tenant_id=world.tenant.id, name="Billing")
        session.add_all([site, team, sales, billing])
        await session.flush()
        session.add_all([
            TeamMember(tenant_id=world.tenant.id, team_id=team.id, user_id=agent.id),
            UserSkill(tenant_id=world.tenant.id, user_id=agent.id, skill_id=sales.id, level=4),
            UserSkill(tenant_id=world.tenant.id, user_id=agent.id, skill_id=billing.id,
                      level=2),
        ])
        await tenant_service.update_user(session, await session.merge(agent), actor="test",
                                         site_id=site.id, languages=["fr", "en"])
    await sign_in(client, world.slug, agent.email, PASSWORD)
    page = await client.get(f"/t/{world.slug}/agent/account/")
    assert page.status_code == 200
    text = page.text
    assert "Chloé &lt;b&gt;Bernard&lt;/b&gt;" in text and "<b>Bernard" not in text
    for expected in (agent.email, ">agent<", "Lyon floor", "Front office", "Sales",
                     "4/5", "Billing", "2/5", ">fr<", ">en<", "Change password",
                     "Set up two-factor authentication"):
        assert expected in text, expected
    assert text.index("Sales") < text.index("Billing")  # strongest skill first
    assert "Admin console" not in text


async def test_password_change_keeps_this_session_and_ends_the_others(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    await sign_in(client, world.slug, agent.email, PASSWORD)
    account = f"/t/{world.slug}/agent/account/"
    tokens = (await client.post("/api/v1/auth/token", json={
        "workspace": world.slug, "email": agent.email, "password": PASSWORD})).json()
    async with second_browser(client) as laptop:
        await sign_in(laptop, world.slug, agent.email, PASSWORD)
        assert (await laptop.get(account)).status_code == 200

        token = await page_csrf(client, account)
        changed = await client.post(f"{account}password", data={
            "csrf_token": token, "current_password": PASSWORD,
            "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
        assert changed.status_code == 303
        assert changed.headers["location"] == f"{account}?done=password"
        page = await client.get(changed.headers["location"])
        assert page.status_code == 200 and "Your password has been changed" in page.text

        bounced = await laptop.get(account)
        assert bounced.status_code == 303
        assert bounced.headers["location"].startswith(f"/t/{world.slug}/login")
    refresh = await client.post("/api/v1/auth/refresh",
                                json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401

    client.cookies.clear()
    old = await sign_in(client, world.slug, agent.email, PASSWORD)
    assert old.status_code == 401
    assert (await sign_in(client, world.slug, agent.email, NEW_PASSWORD)).status_code == 303


async def test_password_change_errors_stay_on_the_page(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    await sign_in(client, world.slug, world.admin.email, PASSWORD)
    account = f"/t/{world.slug}/agent/account/"
    token = await page_csrf(client, account)
    cases = [
        ({"current_password": "wrong-password", "new_password": NEW_PASSWORD,
          "new_password_confirm": NEW_PASSWORD}, "The current password is wrong."),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD,
          "new_password_confirm": NEW_PASSWORD + "x"}, "not the same"),
        ({"current_password": PASSWORD, "new_password": "short",
          "new_password_confirm": "short"}, "at least 10 characters"),
    ]
    for data, message in cases:
        response = await client.post(f"{account}password", data={"csrf_token": token, **data})
        assert response.status_code == 400, data
        assert message in response.text
    forged = await client.post(f"{account}password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "new_password_confirm": NEW_PASSWORD})
    assert forged.status_code == 403
    assert (await client.get(account)).status_code == 200


# ---------------------------------------------------------------------------------------
# Forgotten password and invitations, with real mail


def link_in(message_body: str, kind: str) -> str:
    match = re.search(rf"http://testserver(/t/[a-z0-9-]+/{kind}/\S+)", message_body)
    assert match, message_body
    return match.group(1)


async def test_password_reset_through_the_mailed_link(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp: SmtpSink
) -> None:
    world = await TenantFactory(mail_services(mail_app)).create()
    email = world.admin.email
    await mail_services(mail_app).limiter.reset("reset:127.0.0.1")
    await mail_services(mail_app).limiter.reset("login:127.0.0.1")
    # A session open elsewhere before the reset.
    async with second_browser(mail_client) as elsewhere:
        await sign_in(elsewhere, world.slug, email, PASSWORD)
        elsewhere_cookie = elsewhere.cookies[USER_COOKIE]

    page = await mail_client.get(f"/t/{world.slug}/forgot")
    token = csrf_from(page.text)
    unknown = await mail_client.post(f"/t/{world.slug}/forgot", data={
        "csrf_token": token, "email": "nobody@example.com"})
    known = await mail_client.post(f"/t/{world.slug}/forgot", data={
        "csrf_token": token, "email": email})
    assert unknown.status_code == known.status_code == 200
    assert unknown.text.replace("nobody@example.com", email) == known.text
    refused = await mail_client.post(f"/t/{world.slug}/forgot", data={"email": email})
    assert refused.status_code == 403

    await delivered(mail_app)
    messages = smtp.to(email)
    assert len(messages) == 1 and not smtp.to("nobody@example.com")
    assert "Reset your Plateaux password" in str(messages[0]["Subject"])
    link = link_in(SmtpSink.body(messages[0]), "reset")

    form = await mail_client.get(link)
    assert form.status_code == 200
    assert form.headers["referrer-policy"] == "no-referrer"
    reset_token = csrf_from(form.text)
    mismatch = await mail_client.post(link, data={
        "csrf_token": reset_token, "password": NEW_PASSWORD, "password_confirm": "other-one-x"})
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    weak = await mail_client.post(link, data={
        "csrf_token": reset_token, "password": "aaaaaaaaaaaa", "password_confirm": "aaaaaaaaaaaa"})
    assert weak.status_code == 400 and "repetitive" in weak.text
    no_token = await mail_client.post(link, data={
        "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert no_token.status_code == 403
    done = await mail_client.post(link, data={
        "csrf_token": reset_token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert done.headers["location"] == f"/t/{world.slug}/login?done=reset"
    assert "password has been changed" in (await mail_client.get(done.headers["location"])).text

    # The link is spent, the old password and the other session are dead.
    spent = await mail_client.get(link)
    assert spent.status_code == 410 and "no longer valid" in spent.text
    reuse = await mail_client.post(link, data={
        "csrf_token": reset_token, "password": NEW_PASSWORD + "2",
        "password_confirm": NEW_PASSWORD + "2"})
    assert reuse.status_code == 410
    mail_client.cookies.set(USER_COOKIE, elsewhere_cookie)
    assert (await mail_client.get(f"/t/{world.slug}/agent/")).status_code == 303
    mail_client.cookies.clear()
    assert (await sign_in(mail_client, world.slug, email, PASSWORD)).status_code == 401
    assert (await sign_in(mail_client, world.slug, email, NEW_PASSWORD)).status_code == 303


async def test_invitation_is_accepted_with_a_name_and_password(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp: SmtpSink
) -> None:
    services = mail_services(mail_app)
    world: TenantWorld = await TenantFactory(services).create(name="Hotline & Co")
    email = f"new-{uuid.uuid4().hex[:6]}@example.com"
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        await tenant_service.invite_user(
            session, services.settings, world.tenant, email=email, name="Nina",
            role=Role.AGENT, invited_by=world.admin, actor="test")
    await delivered(mail_app)
    (message,) = smtp.to(email)
    link = link_in(SmtpSink.body(message), "invitation")

    page = await mail_client.get(link)
    assert page.status_code == 200
    assert "Join Hotline &amp; Co" in page.text and email in page.text
    assert 'value="Nina"' in page.text
    token = csrf_from(page.text)
    mismatch = await mail_client.post(link, data={
        "csrf_token": token, "name": "Nina Simone", "password": NEW_PASSWORD,
        "password_confirm": "something-else"})
    assert mismatch.status_code == 400
    weak = await mail_client.post(link, data={
        "csrf_token": token, "name": "Nina Simone", "password": "short",
        "password_confirm": "short"})
    assert weak.status_code == 400 and "at least 10" in weak.text
    accepted = await mail_client.post(link, data={
        "csrf_token": token, "name": "Nina Simone", "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD})
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/t/{world.slug}/agent/"
    account = await mail_client.get(accepted.headers["location"])
    assert account.status_code == 200 and "Nina Simone" in account.text

    spent = await mail_client.get(link)
    assert spent.status_code == 410
    unknown = await mail_client.get(f"/t/{world.slug}/invitation/not-a-real-token")
    assert unknown.status_code == 404
    mail_client.cookies.clear()
    assert (await sign_in(mail_client, world.slug, email, NEW_PASSWORD)).status_code == 303
