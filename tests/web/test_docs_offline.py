"""The OpenAPI page `/docs` works without internet: Swagger UI comes from the package
(`/ui/vendor/swagger-ui/`), not from a CDN.

The browser test opens `/docs` in headless Chromium with every request to a host other than the
server aborted, waits for Swagger UI to render the /v1/jobs operations, and takes a full-page
screenshot at artifacts/docs/swagger.png. The HTTP test reads the page's HTML and its assets
without a token. (Like every test in tests/web, both are skipped when Chromium is not installed.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import BrowserContext, Page, Request, Route, expect

from cpnet.web import __file__ as web_init

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "docs"
STATIC = Path(web_init).resolve().parent / "static"
SWAGGER_UI = "/ui/vendor/swagger-ui/"
ASSETS = {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}


def _local(url: str, server: str) -> bool:
    """Whether the browser's request stays on this server (data: and blob: URLs go nowhere)."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or f"{parts.scheme}://{parts.netloc}" == server


def test_docs_renders_offline(live: Any, new_context: Callable[[], BrowserContext]) -> None:
    server: str = live.url
    ctx = new_context()
    requests: list[Request] = []
    aborted: list[str] = []
    ctx.on("request", lambda r: requests.append(r))

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # no internet in the data centre
            aborted.append(route.request.url)
            route.abort("internetdisconnected")

    ctx.route("**/*", offline)
    page: Page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{server}/docs")
    jobs = page.locator('.opblock .opblock-summary-path[data-path="/v1/jobs"]')
    expect(jobs.first).to_be_visible()
    expect(page.locator('.opblock-post .opblock-summary-path[data-path="/v1/jobs"]')).to_be_visible()
    expect(page.locator('.opblock-get .opblock-summary-path[data-path="/v1/jobs"]')).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("cpnet control plane")
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "swagger.png"), full_page=True)

    # Nothing left for another host, nothing was refused, nothing failed.
    assert aborted == []
    assert [r.url for r in requests if not _local(r.url, server)] == []
    assert failed == [] and errors == []
    # The scripts and styles came from this server, and the styles applied (a POST's method
    # badge is Swagger UI's green, not an unstyled transparent span).
    scripts = page.evaluate("() => [...document.scripts].map(s => s.src).filter(Boolean)")
    styles = page.evaluate("() => [...document.styleSheets].map(s => s.href).filter(Boolean)")
    icons = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert scripts == [f"{server}{SWAGGER_UI}swagger-ui-bundle.js"]
    assert styles == [f"{server}{SWAGGER_UI}swagger-ui.css"]
    assert icons == [f"{server}{SWAGGER_UI}favicon-32x32.png"]
    badge = page.locator(".opblock-post .opblock-summary-method").first
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(73, 204, 144)"
    fetched = {urlsplit(r.url).path for r in requests}
    assert {"/docs", "/openapi.json", *(SWAGGER_UI + name for name in ASSETS)} <= fetched


def test_docs_html_names_only_vendored_assets(live: Any) -> None:
    server: str = live.url
    with httpx.Client(base_url=server, timeout=30) as c:  # no token: the page and its files are public
        page = c.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert not re.search(r"https?://", html), "the page names an external URL"
        linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert sorted(linked) == sorted(SWAGGER_UI + name for name in ASSETS)
        assert "'/openapi.json'" in html or '"/openapi.json"' in html
        for name, kind in ASSETS.items():
            r = c.get(SWAGGER_UI + name)
            assert r.status_code == 200, name
            assert kind in r.headers["content-type"], (name, r.headers["content-type"])
            assert r.content == (STATIC / "vendor" / "swagger-ui" / name).read_bytes()
        assert c.get("/openapi.json").status_code == 200
        # ReDoc is not served (it would load from a CDN), nor FastAPI's OAuth2 redirect page: no
        # longer public (401 without a token), and no such path (404) with one.
        for gone in ("/redoc", "/docs/oauth2-redirect"):
            assert c.get(gone).status_code == 401
            assert c.get(gone, headers={"Authorization": f"Bearer {live.tokens.admin}"}).status_code == 404
        # No other HTML page the server serves names an external URL either.
        assert not re.search(r"https?://", c.get("/").text)
    for html_file in STATIC.rglob("*.html"):
        assert not re.search(r"https?://", html_file.read_text()), html_file
