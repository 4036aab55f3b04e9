"""The operator console and the sign-in pages in a real browser against a real server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Page

from plateaux.platform.database import Database
from plateaux.platform.demo import seed_plans
from plateaux.platform.operators import create_operator_account
from tests.support.browser import chromium
from tests.support.database import TestDatabase
from tests.support.servers import LiveServer, own_address
from tests.support.settings import make_settings

pytestmark = pytest.mark.browser

OPERATOR_PASSWORD = "operator-passphrase-42"
ADMIN_PASSWORD = "first-admin-passphrase"
SCREENSHOTS = Path("/tmp")


async def submit(page: Page, selector: str = "button[type=submit]") -> int:
    """Click a submit button and return the status of the page it leads to."""
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    response = await navigation.value
    assert response is not None
    return response.status


async def test_operator_creates_a_tenant_whose_admin_signs_in_with_two_factor(
    live_server: LiveServer, test_database: TestDatabase, tmp_path: Path
) -> None:
    settings = make_settings(test_database, tmp_path)
    db = Database(settings)
    try:
        await seed_plans(db)
    finally:
        await db.dispose()
    operator_email = f"ops-{uuid.uuid4().hex[:8]}@plateaux.example"
    await create_operator_account(settings, email=operator_email, name="Olivia Ops",
                                  password=OPERATOR_PASSWORD)
    slug = f"browser-{uuid.uuid4().hex[:8]}"
    admin_email = f"admin@{slug}.example"

    async with chromium() as browser:
        context = await browser.new_context(base_url=live_server.url,
                                            extra_http_headers=own_address(),
                                            viewport={"width": 1280, "height": 900})
        page = await context.new_page()

        # The operator signs in (the console sends a stranger to the sign-in page).
        await page.goto("/operator/")
        assert page.url.endswith("/operator/login?next=/operator/")
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-operator-login.png"))
        await page.fill("input[name=email]", operator_email)
        await page.fill("input[name=password]", OPERATOR_PASSWORD)
        assert await submit(page) == 200
        assert page.url == f"{live_server.url}/operator/"
        assert await page.is_visible("text=Olivia Ops")

        # ... and creates a tenant whose first admin has a password.
        await page.click("a.button:has-text('New tenant')")
        await page.wait_for_url("**/operator/tenants/new")
        await page.fill("input[name=name]", "Browser Test Company")
        await page.fill("input[name=slug]", slug)
        await page.select_option("select[name=plan]", "business")
        await page.fill("input[name=timezone]", "Europe/Paris")
        await page.fill("input[name=admin_name]", "Bea Boss")
        await page.fill("input[name=admin_email]", admin_email)
        await page.fill("input[name=admin_password]", ADMIN_PASSWORD)
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-operator-new-tenant.png"),
                              full_page=True)
        assert await submit(page, "button:has-text('Create the tenant')") == 200
        assert page.url.endswith(f"/operator/tenants/{slug}?done=created")
        assert await page.is_visible("text=The tenant has been created.")
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-operator-tenant.png"),
                              full_page=True)
        await page.goto(f"/operator/?q={slug}")
        row = page.locator("tbody tr", has_text=slug)
        assert await row.count() == 1
        assert "Browser Test Company" in await row.inner_text()
        await page.goto("/operator/")
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-operator-console.png"),
                              full_page=True)
        await page.click("header button:has-text('Sign out')")
        await page.wait_for_url("**/operator/login")

        # The new admin signs in at the tenant's address.
        await page.goto(f"/t/{slug}/login")
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-login.png"))
        await page.fill("input[name=email]", admin_email)
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        status = await submit(page)
        assert page.url == f"{live_server.url}/t/{slug}/admin/"
        assert status == 200
        assert await page.is_visible("h1:has-text('Browser Test Company')")
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-admin-console.png"),
                              full_page=True)
        # The admin configures a skill through the console's forms.
        await page.click("nav a:has-text('Skills')")
        await page.fill("input[name=name]", "Support")
        await page.fill("input[name=description]", "After-sales questions")
        assert await submit(page, "button:has-text('Create skill')") == 200
        assert await page.is_visible("text=Skill Support created.")
        assert await page.is_visible("td:has-text('After-sales questions')")
        await page.goto(f"/t/{slug}/agent/account/")
        assert await page.is_visible("h1:has-text('My account')")
        assert await page.is_visible(f"text={admin_email}")

        # Two-factor authentication, set up with a code computed like a phone would.
        await page.click("button:has-text('Set up two-factor authentication')")
        await page.wait_for_selector("#totp-secret")
        secret = (await page.inner_text("#totp-secret")).replace(" ", "")
        assert (await page.get_attribute("#totp-uri", "href") or "").startswith("otpauth://")
        assert await page.is_visible("#totp-qr")
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-two-factor-setup.png"),
                              full_page=True)
        await page.fill("input[name=code]", pyotp.TOTP(secret).now())
        assert await submit(page, "button:has-text('Turn on')") == 200
        assert await page.is_visible("text=Two-factor authentication is on")
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-account.png"), full_page=True)

        # Signing in again now asks for the code.
        await page.click("header button:has-text('Sign out')")
        await page.wait_for_url(f"**/t/{slug}/login?done=signed-out")
        await page.fill("input[name=email]", admin_email)
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        assert await submit(page) == 200
        assert page.url == f"{live_server.url}/t/{slug}/login/mfa"
        await page.screenshot(path=str(SCREENSHOTS / "plateaux-mfa.png"))
        await page.fill("input[name=code]", "000000")
        assert await submit(page) == 401
        assert await page.is_visible("text=That code is not valid.")
        await page.fill("input[name=code]", pyotp.TOTP(secret).now())
        await submit(page)
        assert page.url == f"{live_server.url}/t/{slug}/admin/"
        await page.goto(f"/t/{slug}/agent/account/")
        assert await page.is_visible("h1:has-text('My account')")
        await context.close()
