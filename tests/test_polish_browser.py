"""Issue 11, the last polish (real headless Chromium, real dispatch, API and board processes, a real
store and Redis): the inspector's case detail by names with the basemap, the grid and a navigate
link at 390x844; the console scaling with a 4K screen instead of staying a small island; audit
trails by people's names and roles, not usernames."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from dashboard.maps import cells_near
from dashboard.people import person_label
from gis.default import load_grid
from streams.bus import connect, publish
from streams.schemas import DETECTIONS, Detection
from tests.conftest import ROOT, free_port, make_config
from tests.helpers import launch_browser
from tests.services import create_users, services, write_config

MBTILES = ROOT / "tests" / "data" / "basemap" / "world-z0-4.mbtiles"
ROSTER = [
    {"id": "insp-a", "name": "王小明", "cells": ["130203001"]},
    {"id": "sup-1", "name": "赵主管", "cells": ["130203"], "role": "supervisor"},
]
CODE = re.compile(r"\d{15}")  # a cell code
COORD = re.compile(r"\d{2,3}\.\d{4,}")  # a raw coordinate


def test_person_label_names_roles_and_fallbacks():
    people = {
        "ivan": {"name": "王小明", "role": "inspector"},
        "olga": {"name": None, "role": "operator"},
        "dora": {"name": "孙明", "role": "department", "department": "区环卫中心"},
        "system": {"name": None, "role": "system"},
        "gone": {"name": None, "role": "unknown"},
    }
    assert person_label("ivan", people, "zh-CN") == "王小明（网格员）"
    assert person_label("ivan", people, "en") == "王小明 (grid inspector)"
    assert person_label("olga", people, "zh-CN") == "olga（值班员）"  # no name known: the username
    assert person_label("dora", people, "zh-CN") == "孙明（区环卫中心）"
    assert person_label("system", people, "en") == "system"
    assert person_label("citizen", {}, "zh-CN") == "市民"
    assert person_label("gone", people, "zh-CN") == "gone"
    assert person_label("nobody", None, "en") == "nobody"  # an older API without people: as before


def test_cells_near_keeps_the_cells_around_a_site_only():
    def square(code, x, y, d=0.001):
        ring = [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]
        return {
            "type": "Feature",
            "properties": {"code": code},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    big = {"type": "Feature", "properties": {"code": "big"},
           "geometry": {"type": "MultiPolygon", "coordinates": [[[[117, 39], [119, 39], [119, 40], [117, 39]]]]}}  # fmt: skip
    layer = {
        "type": "FeatureCollection",
        "features": [square("here", 118.0, 39.6), square("far", 118.2, 39.6), big],
    }
    codes = [f["properties"]["code"] for f in cells_near(layer, [(118.0005, 39.6005)])["features"]]
    assert codes == ["here", "big"]  # a cell around the whole view counts; one 17 km away does not
    assert [f["properties"]["code"] for f in cells_near(layer, [(118.0, 39.6), (118.2, 39.6)])["features"]] == [
        "here", "far", "big"
    ]  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("polish")
    cfg = make_config(tmp, roster=ROSTER, sla={"accept_s": 600, "arrive_s": 3600, "resolve_s": 7200},
                      departments=[{"id": "sanitation", "name": "区环卫中心", "kind": "nobody",
                                    "staff": [{"id": "san-1", "name": "孙明"}]}],
                      dispatch={"port": free_port()},
                      dashboard={"port": free_port(), "tiles": str(MBTILES), "phone_refresh_ms": 2000})  # fmt: skip
    r = connect(redis_server)
    r.flushdb()
    create_users(cfg, ("olga", "operator"), ("ivan", "inspector", "insp-a"), ("zhao", "inspector", "sup-1"),
                 ("dora", "department", "san-1"))  # fmt: skip
    path = write_config(cfg, tmp / "cfg.yaml")
    grid = load_grid(cfg.grid, cfg.data)
    with services(cfg, path, redis_server, ("dispatch", "api", "dashboard")):
        yield cfg, grid, r
    r.close()


def call(cfg, method: str, path: str, body: dict | None = None, user: str | None = None):
    headers = {"Content-Type": "application/json"}
    if user:
        token = call(cfg, "POST", "/api/v1/login", {"username": user, "password": f"{user}-password"})[
            "token"
        ]
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://127.0.0.1:{cfg.dispatch.port}{path}", method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def incident(cfg, grid, r, k: int, tag: str) -> dict:
    """A camera finding in the k-th cell of insp-a's street, dispatched to insp-a; its API record."""
    cell = [c for c in grid.cells if c.street == "130203001"][k]
    p = cell.geometry.representative_point()
    publish(r, DETECTIONS, Detection(id=f"polish-{tag}", type="fire_lane_blocked", camera_id="cam-1", lon=p.x,
                                     lat=p.y, observed_at=datetime.now(UTC)))  # fmt: skip
    for _ in range(100):
        found = [
            i for i in call(cfg, "GET", "/api/v1/incidents?limit=100", user="olga") if i["cell"] == cell.code
        ]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no incident for {cell.code}")


def test_api_names_the_people_of_an_audit_trail(stack):
    cfg, grid, r = stack
    inc = incident(cfg, grid, r, 1, "api")
    iid = inc["id"]
    call(cfg, "POST", f"/api/v1/incidents/{iid}/accept", {}, user="ivan")
    call(cfg, "POST", f"/api/v1/incidents/{iid}/escalate", {"note": "need help"}, user="ivan")
    detail = call(cfg, "GET", f"/api/v1/incidents/{iid}", user="olga")
    people = detail["people"]
    assert {e["actor"] for e in detail["events"]} <= people.keys()
    assert people["ivan"] == {"name": "王小明", "role": "inspector", "department": None}
    assert people["system"]["role"] == "system" and people["system"]["name"] is None
    # an inspector's own view of the case names the people too
    assert call(cfg, "GET", f"/api/v1/incidents/{iid}", user="ivan")["people"]["ivan"]["name"] == "王小明"


@pytest.mark.browser
def test_inspector_detail_by_names_with_basemap_grid_and_navigate(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, r = stack
    inc = incident(cfg, grid, r, 4, "insp")
    cell = grid.by_code[inc["cell"]]
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.set_viewport_size({"width": 390, "height": 844})
        tiles = []
        page.on("response", lambda res: tiles.append(res.status) if "/tiles/" in res.url else None)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/inspector")
        page.fill("#insp-username", "ivan")
        page.fill("#insp-password", "ivan-password")
        page.click("#insp-login-btn")
        page.locator("[id*='insp-card']").filter(has_text=f"#{inc['id']} ").first.click()
        place = page.locator("#insp-place")
        expect(place).to_contain_text(cell.street_zh, timeout=30000)
        expect(place).to_contain_text(cell.community_zh)
        expect(place).to_contain_text(f"网格 {cell.code[-3:]}")
        info = page.locator("#insp-info").inner_text()
        assert not CODE.search(info) and not COORD.search(info), info  # names, no codes or coordinates
        nav = page.locator("#insp-navigate")
        expect(nav).to_be_visible()
        assert nav.get_attribute("href").startswith(f"geo:{inc['lat']:.6f},{inc['lon']:.6f}")
        page.wait_for_function(
            "() => { const gd = document.querySelector('#insp-map .js-plotly-plot');"
            " const m = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;"
            " return !!(m && m.map && m.map.loaded() && m.map.areTilesLoaded()); }",
            timeout=30000,
        )  # fmt: skip
        layers = page.evaluate(
            "() => document.querySelector('#insp-map .js-plotly-plot').layout.map.layers"
            ".map(l => [l.sourcetype, l.type || '', Array.isArray(l.source) ? l.source[0] : 'geojson'])"
        )
        assert ["raster", "", "/tiles/{z}/{x}/{y}"] in layers  # the basemap the board serves
        assert ["geojson", "line", "geojson"] in layers  # the grid over it
        traces = page.evaluate(
            "() => document.querySelector('#insp-map .js-plotly-plot').data.map(t => t.mode)"
        )
        assert "markers" in traces  # the incident's marker
        assert tiles and 200 in tiles  # the map really fetched basemap tiles
        box = page.locator("#insp-map").bounding_box()
        assert box["width"] > 300 and box["height"] > 200  # drawn, not a collapsed blank box
        # the case's history by people's names and roles
        call(cfg, "POST", f"/api/v1/incidents/{inc['id']}/accept", {}, user="ivan")
        expect(page.locator("#insp-history")).to_contain_text("接收 · 王小明（网格员）", timeout=30000)
        expect(page.locator("#insp-history")).not_to_contain_text("ivan")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.locator("#insp-map").scroll_into_view_if_needed()
        page.screenshot(path=str(ROOT / "test-output" / "polish-inspector-detail-390x844.png"))
        assert errors == []
        ctx.close()


def console_metrics(page) -> dict:
    return page.evaluate(
        """() => {
            const td = document.querySelector('#console-table td[data-dash-column=type]');
            const table = document.querySelector('#console-table table');
            const h2 = document.querySelector('#detail-title');
            return {font: parseFloat(getComputedStyle(td).fontSize), table: table.getBoundingClientRect().width,
                    title: parseFloat(getComputedStyle(h2).fontSize),
                    map: document.querySelector('#detail-map').getBoundingClientRect().height,
                    scrollW: document.documentElement.scrollWidth, innerW: window.innerWidth};
        }"""
    )


@pytest.mark.browser
def test_console_scales_with_a_4k_screen_and_names_people(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, r = stack
    inc = incident(cfg, grid, r, 7, "console")
    iid = inc["id"]
    call(cfg, "POST", f"/api/v1/incidents/{iid}/accept", {}, user="ivan")
    call(cfg, "POST", f"/api/v1/incidents/{iid}/escalate", {"note": "需要支援"}, user="ivan")
    call(
        cfg, "POST", f"/api/v1/incidents/{iid}/assign", {"assignee": "insp-a", "note": "请继续"}, user="olga"
    )
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    sizes = {}
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(url + "/console")
        page.fill("#console-user", "olga")
        page.fill("#console-password", "olga-password")
        page.click("#console-login")
        cell = page.locator("#console-table td[data-dash-column=id]").filter(
            has_text=re.compile(rf"^\s*{iid}\s*$")
        )
        cell.first.click(timeout=30000)
        trail = page.locator("#timeline")
        expect(trail).to_contain_text(
            "王小明（网格员）", timeout=30000
        )  # names from the roster, with the role
        expect(trail).to_contain_text("olga（值班员）")  # an operator has no roster name: the username
        expect(trail).to_contain_text("系统")
        assert not re.search(r"· ivan ·", trail.inner_text())
        assert not CODE.search(
            page.locator("#detail-facts").inner_text()
        )  # the cell by its number, not its code
        for w, h in ((1920, 1080), (3840, 2160)):
            page.set_viewport_size({"width": w, "height": h})
            page.wait_for_timeout(1500)  # the map's resize
            sizes[w] = console_metrics(page)
            page.screenshot(path=str(ROOT / "test-output" / f"polish-console-{w}x{h}.png"))
        ctx.close()
    small, big = sizes[1920], sizes[3840]
    for m in (small, big):
        assert m["scrollW"] <= m["innerW"], m  # no horizontal scroll
    assert small["font"] >= 14 and big["font"] / small["font"] == pytest.approx(2, rel=0.05), sizes
    assert big["title"] / small["title"] == pytest.approx(2, rel=0.05), sizes
    assert big["table"] / small["table"] == pytest.approx(2, rel=0.1), sizes  # not a small island
    assert big["map"] / small["map"] == pytest.approx(2, rel=0.1), sizes
