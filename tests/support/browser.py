"""Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from tests.support.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MEDIA_FLAGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@asynccontextmanager
async def chromium(*, media: bool = False) -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            "Debian's chromium is required for browser tests (apt-get install "
            "chromium); `make test` installs it."
        )
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS + (MEDIA_FLAGS if media else [])
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Page, slug: str, email: str, then: str) -> None:
    """Sign in through the tenant's sign-in page, landing on ``then``."""
    await page.goto(f"/t/{slug}/login?next={then}")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    if not page.url.endswith(then):
        await page.goto(then)
