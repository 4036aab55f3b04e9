"""The loader, the widget's files and its iframe page: weight limits, caching, and the
frame's Content-Security-Policy (framed only by the site's allowed domains)."""

from __future__ import annotations

import gzip
import re

import httpx

from plateaux.embed.assets import STATIC
from tests.embed.embed_helpers import make_widget, problem
from tests.support.factories import TenantFactory

LOADER_LIMIT = 6 * 1024
WIDGET_LIMIT = 40 * 1024


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


async def test_loader_weighs_at_most_6_kb_gzip(client: httpx.AsyncClient) -> None:
    response = await client.get("/embed/v1/loader.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age" in response.headers["cache-control"]
    assert gzipped(response.content) <= LOADER_LIMIT, gzipped(response.content)
    # No dependencies: nothing imported or fetched besides the platform's own frame.
    text = response.text
    assert "import " not in text and "require(" not in text


async def test_the_whole_widget_weighs_at_most_40_kb_gzip(client: httpx.AsyncClient,
                                                          tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, _ = await make_widget(client, world)
    frame = await client.get(f"/embed/v1/sites/{widget['public_key']}/frame")
    assert frame.status_code == 200
    total = gzipped(frame.content)
    for path in re.findall(r'(?:src|href)="(/embed/v1/[^"]+)"', frame.text):
        part = await client.get(path)
        assert part.status_code == 200, path
        total += gzipped(part.content)
    total += gzipped((await client.get("/embed/v1/loader.js")).content)
    assert total <= WIDGET_LIMIT, total


def test_the_files_on_disk_are_the_ones_measured() -> None:
    names = sorted(p.name for p in STATIC.iterdir())
    assert names == ["loader.js", "widget.css", "widget.js"]


async def test_widget_files_are_cacheable_and_revalidated(client: httpx.AsyncClient) -> None:
    response = await client.get("/embed/v1/widget.js")
    assert response.status_code == 200
    assert "max-age=604800" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = await client.get("/embed/v1/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    css = await client.get("/embed/v1/widget.css")
    assert css.headers["content-type"].startswith("text/css")


async def test_the_frame_may_only_be_framed_by_allowed_domains(
        client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, _ = await make_widget(client, world,
                                  allowed_domains=["shop.example.com", "*.example.org",
                                                   "localhost"])
    response = await client.get(f"/embed/v1/sites/{widget['public_key']}/frame")
    assert response.status_code == 200
    assert "x-frame-options" not in response.headers
    csp = response.headers["content-security-policy"]
    ancestors = csp.split("frame-ancestors", 1)[1].split(";")[0].split()
    assert ancestors == ["https://shop.example.com", "https://*.example.org",
                         "https://localhost", "http://localhost:*"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    # With no domain the frame is framed nowhere.
    bare, _ = await make_widget(client, world, name="Bare", allowed_domains=[])
    csp = (await client.get(f"/embed/v1/sites/{bare['public_key']}/frame")
           ).headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp


async def test_the_frame_only_talks_to_an_allowed_parent(client: httpx.AsyncClient,
                                                         tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, _ = await make_widget(client, world)
    key = widget["public_key"]
    good = await client.get(f"/embed/v1/sites/{key}/frame",
                            params={"origin": "https://shop.example.com"})
    assert '"parent": "https://shop.example.com"' in good.text
    bad = await client.get(f"/embed/v1/sites/{key}/frame",
                           params={"origin": "https://evil.example.net"})
    assert '"parent": ""' in bad.text
    # The configuration is JSON in a data block, with markup characters escaped.
    sneaky = await client.get(f"/embed/v1/sites/{key}/frame",
                              params={"origin": "</script><script>alert(1)</script>"})
    assert "<script>alert" not in sneaky.text


async def test_an_unknown_site_has_no_frame(client: httpx.AsyncClient) -> None:
    problem(await client.get("/embed/v1/sites/pk_nope/frame"), 404)
