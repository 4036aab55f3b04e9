"""The operator console: signing in, creating, suspending and deleting tenants."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest
from sqlmodel import select

from plateaux.platform.auth import totp
from plateaux.platform.auth.models import Operator
from plateaux.platform.auth.sessions import OPERATOR_COOKIE, USER_COOKIE
from plateaux.platform.demo import seed_plans
from plateaux.platform.models import tenant_table_names
from plateaux.platform.operators import create_operator_account
from plateaux.platform.services import Services
from plateaux.platform.settings import Settings
from plateaux.tenants.models import Role, Site, Skill, Team, TeamMember, UserSkill
from tests.support.console_pages import (
    csrf_from,
    operator_sign_in,
    page_csrf,
    sign_in,
)
from tests.support.database import TestDatabase
from tests.support.factories import PASSWORD, TenantFactory
from tests.support.mail import logged_mail

OPERATOR_PASSWORD = "operator-passphrase-42"


@dataclass
class OperatorAccount:
    email: str
    password: str


@pytest.fixture(autouse=True)
async def _fresh_address_limits(services: Services) -> None:
    # The test client always comes from 127.0.0.1; give each test the full sign-in budget.
    for key in ("oplogin:127.0.0.1", "login:127.0.0.1", "reset:127.0.0.1"):
        await services.limiter.reset(key)


@pytest.fixture
async def operator(settings: Settings, services: Services) -> OperatorAccount:
    await seed_plans(services.db)
    email = f"ops-{uuid.uuid4().hex[:8]}@plateaux.example"
    await create_operator_account(settings, email=email, name="Olivia Ops",
                                  password=OPERATOR_PASSWORD)
    return OperatorAccount(email=email, password=OPERATOR_PASSWORD)


@pytest.fixture
async def console(client: httpx.AsyncClient,
                  operator: OperatorAccount) -> AsyncIterator[httpx.AsyncClient]:
    """The test client, signed in as an operator."""
    response = await operator_sign_in(client, operator.email, operator.password)
    assert response.status_code == 303, response.text
    yield client


def new_slug() -> str:
    return f"op-{uuid.uuid4().hex[:10]}"


async def create_tenant(console: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = await page_csrf(console, "/operator/tenants/new")
    data = {"slug": new_slug(), "name": "Acme Support", "plan": "business",
            "timezone": "Europe/Paris", "admin_email": "boss@acme.example",
            "admin_name": "Bea Boss", "admin_password": "", **fields}
    return await console.post("/operator/tenants/new", data={"csrf_token": token, **data})


def rows_of(test_database: TestDatabase, services: Services, table: str,
            tenant_id: uuid.UUID) -> int:
    """Rows of ``table`` for a tenant, seen by the superuser (row-level security would
    hide them from the application's role)."""
    if test_database.backend == "postgresql":
        column = "id" if table == "tenants" else "tenant_id"
        return int(test_database.superuser_sql(
            f"SELECT count(*) FROM \"{table}\" WHERE {column} = '{tenant_id}'"))
    import sqlite3

    path = test_database.app_url.split(":///", 1)[1]
    column = "id" if table == "tenants" else "tenant_id"
    with sqlite3.connect(path) as conn:
        # SQLAlchemy stores UUIDs on SQLite as 32 hex digits.
        (count,) = conn.execute(f'SELECT count(*) FROM "{table}" WHERE {column} = ?',
                                (tenant_id.hex,)).fetchone()
    return int(count)


# ---------------------------------------------------------------------------------------
# Signing in


async def test_operator_pages_send_strangers_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/operator/", "/operator/tenants/new", "/operator/tenants/anything/users"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/operator/login?next={path}"
    post = await client.post("/operator/tenants/new", data={"slug": "x"})
    assert post.status_code == 303
    assert post.headers["location"].startswith("/operator/login")
    # A tenant user's session is not an operator session.
    client.cookies.set(USER_COOKIE, "x.y")
    assert (await client.get("/operator/")).status_code == 303


async def test_operator_sign_in_errors_and_next(
    client: httpx.AsyncClient, operator: OperatorAccount, settings: Settings
) -> None:
    wrong = await operator_sign_in(client, operator.email, "not-the-password")
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    assert OPERATOR_COOKIE not in wrong.headers.get("set-cookie", "")
    forged = await client.post("/operator/login", data={
        "email": operator.email, "password": operator.password})
    assert forged.status_code == 403
    page = await client.get("/operator/login", params={"next": "https://evil.example/"})
    assert 'name="next" value=""' in page.text
    page = await client.get("/operator/login", params={"next": "/operator/tenants/new"})
    response = await client.post("/operator/login", data={
        "csrf_token": csrf_from(page.text), "email": operator.email.upper(),
        "password": operator.password, "next": "/operator/tenants/new"})
    assert response.status_code == 303
    assert response.headers["location"] == "/operator/tenants/new"
    header = next(h for h in response.headers.get_list("set-cookie")
                  if h.startswith(OPERATOR_COOKIE)).lower()
    assert "httponly" in header and "samesite=lax" in header
    assert f"max-age={settings.session_max_age_seconds}" in header
    assert (await client.get("/operator/")).status_code == 200


async def test_operator_lockout(client: httpx.AsyncClient, operator: OperatorAccount,
                                settings: Settings) -> None:
    for _ in range(settings.login_max_failures):
        assert (await operator_sign_in(client, operator.email, "bad-bad-bad")).status_code == 401
    locked = await operator_sign_in(client, operator.email, operator.password)
    assert locked.status_code == 401 and "locked" in locked.text


async def test_operator_logout_needs_the_token(console: httpx.AsyncClient) -> None:
    cookie = console.cookies[OPERATOR_COOKIE]
    assert (await console.post("/operator/logout")).status_code == 403
    token = await page_csrf(console, "/operator/")
    done = await console.post("/operator/logout", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/operator/login"
    console.cookies.set(OPERATOR_COOKIE, cookie)
    assert (await console.get("/operator/")).status_code == 303


async def test_operator_with_two_factor_gives_a_code(
    client: httpx.AsyncClient, operator: OperatorAccount, services: Services
) -> None:
    secret = pyotp.random_base32()
    async with services.unit_of_work() as session:
        row = (await session.scalars(
            select(Operator).where(Operator.email == operator.email))).one()
        row.totp_secret_encrypted = totp.seal(services.settings.secret_key, secret)
        row.totp_enabled = True
    first = await operator_sign_in(client, operator.email, operator.password)
    assert first.headers["location"] == "/operator/login/mfa"
    assert (await client.get("/operator/")).status_code == 303
    page = await client.get("/operator/login/mfa")
    token = csrf_from(page.text)
    bad = await client.post("/operator/login/mfa", data={"csrf_token": token, "code": "000000"})
    assert bad.status_code == 401
    good = await client.post("/operator/login/mfa",
                             data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert good.status_code == 303 and good.headers["location"] == "/operator/"
    assert (await client.get("/operator/")).status_code == 200


# ---------------------------------------------------------------------------------------
# Creating tenants


async def test_create_a_tenant_whose_admin_has_a_password(
    console: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    slug = new_slug()
    created = await create_tenant(console, slug=slug.upper(), name="Acme <Support>",
                                  plan="enterprise", timezone="America/Montreal",
                                  admin_email="Boss@Acme.example",
                                  admin_password="first-admin-passphrase")
    assert created.status_code == 303, created.text
    assert created.headers["location"] == f"/operator/tenants/{slug}?done=created"
    detail = await console.get(created.headers["location"])
    assert detail.status_code == 200
    for expected in ("Acme &lt;Support&gt;", "Enterprise", "America/Montreal", "active",
                     "The tenant has been created."):
        assert expected in detail.text, expected
    users = await console.get(f"/operator/tenants/{slug}/users")
    assert "boss@acme.example" in users.text and "Bea Boss" in users.text
    assert ">admin<" in users.text and "never" in users.text
    listing = await console.get("/operator/", params={"q": slug})
    assert listing.status_code == 200
    row = re.search(rf"<tr>\s*<td><a href=\"/operator/tenants/{slug}\".*?</tr>", listing.text,
                    re.S)
    assert row and "Enterprise" in row.group(0) and "<td>1</td>" in row.group(0)

    # The new admin can sign in at once.
    signed = await sign_in(client, slug, "boss@acme.example", "first-admin-passphrase")
    assert signed.status_code == 303 and signed.headers["location"] == f"/t/{slug}/admin/"
    activity = await console.get(f"/operator/tenants/{slug}/activity")
    text = activity.text
    assert text.index("user.login") < text.index("user.created") < text.index("tenant.created")


async def test_create_a_tenant_whose_admin_is_invited(
    console: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    slug = new_slug()
    with caplog.at_level(logging.WARNING, logger="plateaux.platform.mail"):
        created = await create_tenant(console, slug=slug, admin_email="invitee@acme.example")
        assert created.headers["location"] == f"/operator/tenants/{slug}?done=invited"
        body = await logged_mail(caplog, "invitee@acme.example")
    match = re.search(rf"http://testserver(/t/{slug}/invitation/\S+)", body)
    assert match
    detail = await console.get(created.headers["location"])
    assert "invitee@acme.example" in detail.text and "Pending invitations" in detail.text

    async with httpx.AsyncClient(transport=console._transport,
                                 base_url="http://testserver") as invitee:
        page = await invitee.get(match.group(1))
        assert page.status_code == 200
        accepted = await invitee.post(match.group(1), data={
            "csrf_token": csrf_from(page.text), "name": "Ines Invitee",
            "password": "invitee-passphrase", "password_confirm": "invitee-passphrase"})
        assert accepted.status_code == 303
        assert accepted.headers["location"] == f"/t/{slug}/admin/"


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"slug": "Not a slug!"}, 400, "lowercase letters"),
    ({"slug": "admin"}, 400, "lowercase letters"),
    ({"plan": "platinum"}, 400, "Choose one of the plans"),
    ({"timezone": "Mars/Olympus"}, 400, "Unknown time zone"),
    ({"admin_email": "not-an-email"}, 400, "email address"),
    ({"admin_name": ""}, 400, "first admin&#39;s name"),
    ({"name": ""}, 400, "company&#39;s name"),
    ({"admin_password": "short"}, 400, "at least 10 characters"),
])
async def test_create_tenant_refusals_keep_the_form(
    console: httpx.AsyncClient, test_database: TestDatabase, services: Services,
    fields: dict[str, str], status: int, message: str
) -> None:
    response = await create_tenant(console, **{"name": "Kept Name &", **fields})
    assert response.status_code == status
    assert message in response.text
    if "name" not in fields:
        assert 'value="Kept Name &amp;"' in response.text
    assert 'name="admin_password" value' not in response.text


async def test_a_taken_identifier_is_refused(
    console: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    existing = await tenants.create()
    taken = await create_tenant(console, slug=existing.slug)
    assert taken.status_code == 409 and "already exists" in taken.text


async def test_create_needs_the_operator_token(console: httpx.AsyncClient) -> None:
    slug = new_slug()
    forged = await console.post("/operator/tenants/new", data={
        "slug": slug, "name": "X", "plan": "starter", "timezone": "UTC",
        "admin_email": "a@b.example", "admin_name": "A"})
    assert forged.status_code == 403
    assert (await console.get(f"/operator/tenants/{slug}")).status_code == 404


# ---------------------------------------------------------------------------------------
# Managing tenants


async def test_tenants_list_search_and_pages(
    console: httpx.AsyncClient, services: Services
) -> None:
    from plateaux.tenants import service as tenant_service

    marker = uuid.uuid4().hex[:8]
    for i in range(27):
        async with services.unit_of_work() as session:
            await tenant_service.create_tenant(session, slug=f"list-{marker}-{i:02d}",
                                               name=f"Listed {marker.upper()} {i:02d}",
                                               actor="test")
    first = await console.get("/operator/", params={"q": marker.upper()})
    assert first.status_code == 200
    assert "27 tenants" in first.text and "Page 1 of 2" in first.text
    assert first.text.count(f'href="/operator/tenants/list-{marker}-') == 25
    # Newest first.
    assert first.text.index(f"list-{marker}-26") < first.text.index(f"list-{marker}-02")
    second = await console.get("/operator/", params={"q": marker, "page": 2})
    assert second.text.count(f'href="/operator/tenants/list-{marker}-') == 2
    assert f"/operator/?q={marker}&amp;page=1" in second.text
    none = await console.get("/operator/", params={"q": f"{marker}%"})
    assert "No tenant matches" in none.text


async def test_plan_change_suspend_and_reactivate(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    base = f"/operator/tenants/{world.slug}"
    token = await page_csrf(console, base)

    plan = await console.post(f"{base}/plan", data={"csrf_token": token, "plan": "business"})
    assert plan.status_code == 303
    assert "Business" in (await console.get(base)).text
    bogus = await console.post(f"{base}/plan", data={"csrf_token": token, "plan": "gold"})
    assert bogus.status_code == 400

    no_reason = await console.post(f"{base}/suspend", data={"csrf_token": token, "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    suspended = await console.post(f"{base}/suspend", data={
        "csrf_token": token, "reason": "Unpaid <invoices>"})
    assert suspended.status_code == 303
    detail = await console.get(base)
    assert "Unpaid &lt;invoices&gt;" in detail.text and "Reactivate" in detail.text

    # The tenant's people can still sign in and read, but not change anything.
    async with httpx.AsyncClient(transport=client._transport,
                                 base_url="http://testserver") as admin:
        assert (await sign_in(admin, world.slug, world.admin.email, PASSWORD)).status_code == 303
        account = await admin.get(f"/t/{world.slug}/agent/account/")
        assert account.status_code == 200 and "suspended" in account.text
        change = {"csrf_token": csrf_from(account.text), "current_password": PASSWORD,
                  "new_password": "another-passphrase", "new_password_confirm":
                  "another-passphrase"}
        refused = await admin.post(f"/t/{world.slug}/agent/account/password", data=change)
        assert refused.status_code == 403
        # Signing out still works.
        out = await admin.post(f"/t/{world.slug}/logout",
                               data={"csrf_token": csrf_from(account.text)})
        assert out.status_code == 303

        again = await console.post(f"{base}/reactivate", data={"csrf_token": token})
        assert again.status_code == 303
        assert "Suspend" in (await console.get(base)).text
        await sign_in(admin, world.slug, world.admin.email, PASSWORD)
        token_user = await page_csrf(admin, f"/t/{world.slug}/agent/account/")
        allowed = await admin.post(f"/t/{world.slug}/agent/account/password",
                                   data={**change, "csrf_token": token_user})
        assert allowed.status_code == 303

    activity = (await console.get(f"{base}/activity")).text
    for action in ("tenant.plan_changed", "tenant.suspended", "tenant.active"):
        assert action in activity
    assert "Unpaid &lt;invoices&gt;" in activity


async def test_users_and_activity_show_only_that_tenant(
    console: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    a = await tenants.create()
    b = await tenants.create()
    await tenants.add_user(b, email=f"only-b@{b.slug}.example", name="Only B")
    users = await console.get(f"/operator/tenants/{a.slug}/users")
    assert a.admin.email in users.text and "only-b@" not in users.text
    assert "1 user" in users.text
    activity = await console.get(f"/operator/tenants/{a.slug}/activity")
    assert a.admin.email in activity.text and b.slug not in activity.text
    assert (await console.get("/operator/tenants/no-such-tenant/users")).status_code == 404


async def test_delete_removes_everything_of_the_tenant(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tenants: TenantFactory,
    services: Services, test_database: TestDatabase
) -> None:
    world = await tenants.create()
    keep = await tenants.create()
    tid = world.tenant.id
    agent = await tenants.add_user(world, role=Role.AGENT)
    async with services.unit_of_work(tenant_id=tid) as session:
        site, team, skill = (Site(tenant_id=tid, name="Paris"), Team(tenant_id=tid, name="T"),
                             Skill(tenant_id=tid, name="S"))
        session.add_all([site, team, skill])
        await session.flush()
        session.add_all([TeamMember(tenant_id=tid, team_id=team.id, user_id=agent.id),
                         UserSkill(tenant_id=tid, user_id=agent.id, skill_id=skill.id, level=3)])
    async with httpx.AsyncClient(transport=client._transport,
                                 base_url="http://testserver") as admin:
        await sign_in(admin, world.slug, world.admin.email, PASSWORD)
        session_cookie = admin.cookies[USER_COOKIE]
        page = await admin.get(f"/t/{world.slug}/forgot")
        await admin.post(f"/t/{world.slug}/forgot", data={
            "csrf_token": csrf_from(page.text), "email": agent.email})
    tables = tenant_table_names()
    before = {t: rows_of(test_database, services, t, tid) for t in tables}
    assert before["users"] == 2 and before["user_sessions"] >= 1
    assert before["password_resets"] == 1 and before["audit_entries"] > 0

    base = f"/operator/tenants/{world.slug}"
    token = await page_csrf(console, base)
    wrong = await console.post(f"{base}/delete", data={"csrf_token": token,
                                                       "confirm": world.slug + "x"})
    assert wrong.status_code == 400 and "exactly" in wrong.text
    assert rows_of(test_database, services, "tenants", tid) == 1
    deleted = await console.post(f"{base}/delete", data={"csrf_token": token,
                                                         "confirm": world.slug})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/operator/?done=deleted"
    listing = await console.get(deleted.headers["location"])
    assert "all of its data have been deleted" in listing.text

    assert (await console.get(base)).status_code == 404
    assert rows_of(test_database, services, "tenants", tid) == 0
    left = {t: n for t in tables if (n := rows_of(test_database, services, t, tid))}
    assert not left, f"rows of the deleted tenant remain: {left}"
    # Its people's sessions are gone with it; the other tenant is untouched.
    client.cookies.set(USER_COOKIE, session_cookie)
    assert (await client.get(f"/t/{world.slug}/agent/")).status_code == 303
    assert rows_of(test_database, services, "users", keep.tenant.id) == 1
