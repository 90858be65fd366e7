"""Headers and offline pages in real headless Chromium (issue 16 items 12 and 13): the API's /docs and
/redoc render their operations with every request outside the API refused (no CDN), and the board
renders under its Content-Security-Policy with no violation, showing markup from data as text."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from streams.bus import publish
from streams.schemas import INCIDENTS, IncidentEvent
from tests.helpers import launch_browser

LINK = '<a href="https://evil.example/">click me</a>'

WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def _wait(page, expression: str, timeout: float) -> None:
    """Poll ``expression`` with page.evaluate (DevTools evaluation, which the page's CSP does not
    block, unlike wait_for_function's)."""
    end = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < end, f"timed out waiting for {expression}"
        time.sleep(0.25)


def _offline(ctx, base: str) -> list[str]:
    """Refuse every request that does not go to ``base``; returns the refused URLs."""
    refused: list[str] = []

    def handle(route):
        url = route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    ctx.route("**/*", handle)
    return refused


@pytest.mark.browser
def test_api_docs_render_offline(api_url, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        refused = _offline(ctx, api_url)
        ctx.add_init_script(WATCH_CSP)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(f"{api_url}/docs")
        _wait(page, "document.querySelectorAll('.opblock').length >= 10", 30)
        ops = page.evaluate("document.querySelectorAll('.opblock').length")
        assert "/open311/v2/requests.{fmt}" in page.inner_text("body")
        csp_docs = page.evaluate("window.__csp")
        page.goto(f"{api_url}/redoc")
        _wait(page, "document.body.innerText.includes('/open311/v2/requests.{fmt}')", 60)
        _wait(
            page,
            "document.querySelectorAll('img').length > 0 && [...document.images].every(i => i.complete)",
            30,
        )
        page.wait_for_timeout(1000)  # late loads
        csp_redoc = page.evaluate("window.__csp")
        ctx.close()
    assert ops >= 10
    assert refused == [], f"the docs tried the network: {refused}"
    assert csp_docs == [] and csp_redoc == [], (csp_docs, csp_redoc)
    assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.mark.browser
def test_board_renders_under_its_csp_and_shows_markup_as_text(board, r, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    cfg, url = board
    now = datetime.now(UTC)
    publish(r, INCIDENTS, IncidentEvent(incident_id=1, version=1, action="created", state="dispatched",
                                        type=LINK, lon=118.19, lat=39.65, at=now, opened_at=now))  # fmt: skip
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        _offline(ctx, url)  # an offline board: nothing from outside, and it must still render
        ctx.add_init_script(WATCH_CSP)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        resp = page.goto(url + "/?lang=en")
        csp = resp.headers.get("content-security-policy", "")
        page.wait_for_selector("#chart-type .main-svg", timeout=60_000)
        _wait(page, "document.querySelector('#chart-type').textContent.includes('click me')", 60)
        page.wait_for_selector("#board-map canvas", timeout=60_000)  # the map drew
        chart_text = page.evaluate("document.querySelector('#chart-type').textContent")
        links = page.evaluate("document.querySelectorAll('#chart-type a').length")
        violations = page.evaluate("window.__csp")
        for path in ("/console", "/inspector", "/citizen"):  # the other pages render under it too
            page.goto(f"{url}{path}?lang=en")
            page.wait_for_selector(".page", timeout=60_000)
            _wait(page, "document.readyState === 'complete'", 30)
            page.wait_for_timeout(1500)  # late script and image loads
            violations += [f"{path}: {v}" for v in page.evaluate("window.__csp")]
        ctx.close()
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert violations == [], violations
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert links == 0, "a type code became a link on the board's chart"
    assert "<a href" in chart_text  # shown as text
