"""A page's first load in one round trip (issue 11 item 10): Dash's ``/_dash-layout`` carries the page
that asked for it (its address is the request's Referer, sent to the board's own origin only), so
no routing callback runs before the first draw; navigation inside the app, the language switch and a
browser that sends no Referer still get the right page, from the routing callback."""

from __future__ import annotations

import json

import pytest

from dashboard.app import create_app, page_key, referring_page
from dashboard.live import LiveState
from gis.default import load_grid
from tests.conftest import make_config
from tests.helpers import launch_browser


@pytest.fixture
def client(tmp_path, redis_url):
    cfg = make_config(tmp_path)
    app = create_app(cfg, LiveState(redis_url), load_grid(cfg.grid, cfg.data))
    return app.server.test_client()


def _page(res) -> dict | None:
    """The ``#page`` div's children in a ``/_dash-layout`` answer."""
    return _page_of(json.loads(res.data))


def _page_of(shell: dict) -> dict | None:
    (page,) = [c for c in shell["props"]["children"] if c["props"].get("id") == "page"]
    return page["props"].get("children")


def _shown(res) -> str | None:
    children = json.loads(res.data)["props"]["children"]
    (store,) = [c for c in children if c["props"].get("id") == "page-shown"]
    return store["props"].get("data")


def test_the_layout_carries_the_page_that_asked(client):
    res = client.get("/_dash-layout", headers={"Referer": "http://wall.example:8050/console?lang=en"})
    assert res.status_code == 200
    page = _page(res)
    assert page["props"]["className"] == "page page-console" and page["props"]["lang"] == "en"
    assert _shown(res) == "/console?lang=en"
    assert res.headers["Cache-Control"] == "no-store" and "Referer" in res.headers["Vary"]

    board = _page(client.get("/_dash-layout", headers={"Referer": "http://127.0.0.1/"}))
    assert board["props"]["className"] == "page page-board"
    assert board["props"]["lang"] == "zh-CN"  # the configured language without ?lang=
    lost = _page(client.get("/_dash-layout", headers={"Referer": "http://127.0.0.1/nowhere"}))
    assert lost["props"]["className"] == "page"  # the not-found page, with the nav


@pytest.mark.parametrize("referrer", [None, "", "not a url", "about:blank", "//", "data:text/html,x"])
def test_without_a_usable_referer_the_page_comes_empty(client, referrer):
    headers = {"Referer": referrer} if referrer is not None else {}
    res = client.get("/_dash-layout", headers=headers)
    assert res.status_code == 200
    assert _page(res) is None and _shown(res) is None  # the routing callback fills it


def test_page_keys_match_the_browsers_location():
    # the clientside callback compares location.pathname + location.search with page_key
    assert page_key(*referring_page("http://h:1/console?lang=en&x=1")) == "/console?lang=en&x=1"
    assert page_key(*referring_page("http://h:1/")) == "/"
    assert page_key(*referring_page("http://h:1/?")) == "/"  # location.search is "" for a bare "?"
    assert referring_page(None) is None and referring_page("zh-CN") is None


def test_the_routing_callback_answers_a_wanted_page(client):
    body = {
        "output": "..page.children...page-shown.data..",
        "outputs": [{"id": "page", "property": "children"}, {"id": "page-shown", "property": "data"}],
        "inputs": [{"id": "page-wanted", "property": "data", "value": "/inspector?lang=en"}],
        "changedPropIds": ["page-wanted.data"],
    }
    res = client.post("/_dash-update-component", json=body)
    assert res.status_code == 200
    got = res.get_json()["response"]
    assert got["page"]["children"]["props"]["className"] == "page page-inspector"
    assert got["page-shown"]["data"] == "/inspector?lang=en"


@pytest.mark.parametrize("wanted", [None, 3, ["/"], {"path": "/"}])
def test_a_hostile_routing_call_changes_nothing(client, wanted):
    body = {
        "output": "..page.children...page-shown.data..",
        "outputs": [{"id": "page", "property": "children"}, {"id": "page-shown", "property": "data"}],
        "inputs": [{"id": "page-wanted", "property": "data", "value": wanted}],
        "changedPropIds": ["page-wanted.data"],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 204


def _routes(requests: list[str]) -> int:
    return sum('"page-wanted' in body for body in requests)


@pytest.mark.browser
def test_first_load_navigation_and_a_browser_without_referer(board, tmp_path):
    from playwright.sync_api import sync_playwright

    _cfg, url = board
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        posts: list[str] = []
        page.on(
            "request",
            lambda q: "_dash-update-component" in q.url and posts.append(q.post_data or ""),
        )
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))

        page.goto(url + "/?lang=en")
        page.wait_for_selector("#board-map .js-plotly-plot", timeout=60_000)
        page.wait_for_selector(".page-board[lang=en]", timeout=10_000)
        page.wait_for_timeout(1000)
        first_routes = _routes(posts)
        plotly_scripts = page.evaluate("document.querySelectorAll('script[src*=\"plotly.min.js\"]').length")

        page.click("nav a[href^='/console']")  # inside the app: no reload, the routing callback
        page.wait_for_selector(".page-console", timeout=30_000)
        assert page.locator(".page-board").count() == 0
        after_nav = _routes(posts)
        page.go_back()
        page.wait_for_selector(".page-board #board-map .js-plotly-plot", timeout=30_000)
        page.click("#lang-switch")  # a reload in the other language
        page.wait_for_selector(".page-board[lang=zh-CN]", timeout=30_000)

        # a browser (or a proxy) that strips the Referer: the page still comes, by the callback
        def strip(route):
            got = route.fetch(
                headers={k: v for k, v in route.request.headers.items() if k.lower() != "referer"}
            )
            stripped.append(_page_of(got.json()))
            route.fulfill(response=got)

        stripped: list = []
        page.route("**/_dash-layout", strip)
        posts.clear()
        page.goto(url + "/inspector?lang=en")
        page.wait_for_selector(".page-inspector[lang=en]", timeout=30_000)
        page.wait_for_timeout(500)
        stripped_routes = _routes(posts)
        ctx.close()
    assert first_routes == 0, "the first load asked for its page in a second round trip"
    assert plotly_scripts == 1, "plotly.js was added twice"
    assert after_nav == 1, after_nav
    assert stripped == [None], "the layout came with a page: the Referer was not stripped"
    assert stripped_routes == 1, stripped_routes
    assert errors == [], errors


def test_concurrent_first_layouts_on_a_fresh_board(board):
    """32 first loads of every page at once on a just-started board (the real process): each gets
    its own page in the layout, none another's, and the board stays up."""
    import threading
    import urllib.request

    _cfg, url = board
    pages = {"/": "page-board", "/console": "page-console", "/inspector": "page-inspector",
             "/citizen": "page-citizen", "/reports": "page-reports", "/evaluation": "page-evaluation",
             "/zones": "page-zones", "/cameras": "page-cameras"}  # fmt: skip
    asks = [(path, lang) for lang in ("en", "zh-CN") for path in pages] * 2
    barrier = threading.Barrier(len(asks))
    got: list = [None] * len(asks)

    def load(k: int) -> None:
        path, lang = asks[k]
        req = urllib.request.Request(f"{url}/_dash-layout", headers={"Referer": f"{url}{path}?lang={lang}"})
        barrier.wait()
        with urllib.request.urlopen(req, timeout=120) as resp:
            got[k] = (resp.status, json.loads(resp.read()))

    pool = [threading.Thread(target=load, args=(k,)) for k in range(len(asks))]
    for t in pool:
        t.start()
    for t in pool:
        t.join(180)
    for (path, lang), answer in zip(asks, got, strict=True):
        assert answer is not None and answer[0] == 200, (path, answer)
        page = _page_of(answer[1])
        assert page["props"]["className"] == f"page {pages[path]}" and page["props"]["lang"] == lang, path
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as resp:
        assert resp.status == 200
