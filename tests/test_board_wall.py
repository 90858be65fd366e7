"""The wall board as operators see it (issue 11 items 5-8), in real headless Chromium against real
processes (dispatch, API, board), a real store and Redis, on the full 2,257-cell default grid, with
the basemap from a real MBTiles file (tests/data/basemap).

- one screen at 1920x1080, 2560x1440 and 3840x2160: no scrolling, every panel inside the viewport,
  type, map and chart text scaled with the wall; the camera panel a summary with a link to the camera
  wall (tests/test_camera_wall.py: the same with 7,803 cameras);
- readable at a glance: overdue markers red, a legend, cards with street, community and inspector
  names, citizen photos as thumbnails, a click on a card flies the map there and opens its detail, the
  header in Chinese;
- drill-down: a click on a street's bar highlights it and filters KPIs, cards and charts;
- every page's map draws the basemap the board serves.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from cityops.config import CityOpsConfig
from dashboard.theme import OVERDUE_COLOUR
from dispatch.accounts import create_user
from dispatch.store import open_store
from gis.default import load_grid
from streams.bus import connect, publish
from streams.schemas import DETECTIONS, Detection
from tests.conftest import OUTPUT, ROOT, free_port
from tests.helpers import BOARD_FIT, CHARTS_DRAWN, MAP_PAINTED, launch_browser, map_shows, png
from tests.services import services, write_config

MBTILES = ROOT / "tests" / "data" / "basemap" / "world-z0-4.mbtiles"
ROSTER = [{"id": "insp-a", "name": "张伟", "cells": ["130203001", "130203002", "130203003", "130203004", "130203005"]},
          {"id": "insp-b", "name": "王芳", "cells": ["130203006", "130203007", "130203008", "130203009", "130203010"]}]  # fmt: skip
CAMERAS = [{"id": "gate-east", "name": "东门", "source": "demo:", "lon": 118.17, "lat": 39.64},
           {"id": "gate-west", "name": "西门", "source": "demo:", "lon": 118.20, "lat": 39.66}]  # fmt: skip
SIZES = [(1920, 1080), (2560, 1440), (3840, 2160)]


@pytest.fixture
def stack(tmp_path, redis_url):
    cfg = CityOpsConfig.model_validate(
        {"data_dir": str(tmp_path / "data"), "roster": ROSTER, "cameras": CAMERAS,
         "store": {"url": f"sqlite:///{tmp_path}/cityops.db"},
         "sla": {"accept_s": 4, "arrive_s": 4, "resolve_s": 3600},
         "dispatch": {"port": free_port(), "sla_sweep_s": 1, "citizen_rate_per_min": 1000},
         "dashboard": {"port": free_port(), "tiles": str(MBTILES),
                       "tiles_attribution": "Development Seed (BSD-3-Clause)"}}
    )  # fmt: skip
    grid = load_grid(cfg.grid, cfg.data)
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    engine.dispose()
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("dispatch", "api", "dashboard")):
        yield cfg, grid, connect(redis_url)


def detect(r, grid, k: int, type_: str = "illegal_parking"):
    cell = grid.cells[k]
    p = cell.geometry.representative_point()
    det = Detection(
        id=f"wall-{k}-{time.time_ns()}", type=type_, lon=p.x, lat=p.y, observed_at=datetime.now(UTC)
    )
    publish(r, DETECTIONS, det)
    return cell


def citizen_report(cfg, grid, k: int):
    cell = grid.cells[k]
    p = cell.geometry.representative_point()
    res = httpx.post(
        f"{cfg.api_url}/open311/v2/requests.json",
        data={
            "service_code": "exposed_rubbish",
            "lat": p.y,
            "long": p.x,
            "description": "rubbish by the gate",
        },
        files={"media": ("p.png", png((320, 240)), "image/png")},
        timeout=30,
    )
    assert res.status_code == 201, res.text
    return cell


def open_board(ctx, url: str, size: tuple[int, int]):
    page = ctx.new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_function(MAP_PAINTED, arg=None, timeout=90_000, polling=200)
    page.wait_for_function(CHARTS_DRAWN, timeout=60_000, polling=200)
    return page


PHONE = """() => {
  const box = (q) => document.querySelector(q).getBoundingClientRect();
  const px = (q) => parseFloat(getComputedStyle(document.querySelector(q)).fontSize);
  return {docW: document.documentElement.scrollWidth,
          wide: [...document.querySelectorAll('.board *')].filter(e => e.getBoundingClientRect().right > 391)
                  .map(e => e.id || e.className).slice(0, 5),
          map: box('#board-map').height,
          charts: ['#chart-trend', '#chart-type', '#chart-street'].map(q => box(q).height),
          order: ['#map-panel', '#side-panel', '#trend-panel', '#type-panel', '#street-panel', '#camera-panel']
                   .map(q => box(q).top),
          fonts: [px('.kpi-label'), px('#ticker .inc-place'), px('.legend')],
          chartFont: document.querySelector('#chart-type .js-plotly-plot')._fullLayout.font.size}; }"""


@pytest.mark.browser
def test_board_fits_one_screen_at_every_wall_size(tmp_path, stack):
    from playwright.sync_api import sync_playwright

    cfg, grid, r = stack
    for k in (5, 400, 900, 1300, 1700, 2100, 2200, 60, 700, 1500):  # cards enough to overflow a list
        detect(r, grid, k)
    url = f"http://127.0.0.1:{cfg.dashboard.port}/"
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        got, seen = {}, {}
        for size in SIZES:
            page = open_board(ctx, url, size)
            page.wait_for_function(
                "() => document.querySelectorAll('#ticker .incident').length >= 8", timeout=30_000
            )
            page.wait_for_timeout(500)  # responsive plots settle
            got[size] = page.evaluate(BOARD_FIT)
            shot = page.screenshot(path=str(OUTPUT / f"board-wall-{size[0]}x{size[1]}.png"))
            seen[size] = map_shows(shot, page.locator("#board-map").bounding_box())
            page.close()
        # a phone: one column that scrolls, type a phone can read, the map most of a screen tall
        page = open_board(ctx, url, (390, 844))
        page.wait_for_function(
            "() => document.querySelectorAll('#ticker .incident').length >= 8", timeout=30_000
        )
        w, s, e, n = grid.bounds  # the whole district in view once the page told its scale
        page.wait_for_function(
            "([w, s, e, n]) => { const g = document.querySelector('#board-map .js-plotly-plot');"
            " const b = g._fullLayout.map._subplot.map.getBounds();"
            " return b.contains([w, s]) && b.contains([e, n]); }",
            arg=[w, s, e, n],
            timeout=30_000,
        )
        page.wait_for_function(CHARTS_DRAWN, timeout=30_000)  # at the phone's scale (they follow the map)
        phone = page.evaluate(PHONE)
        shot = page.screenshot(path=str(OUTPUT / "board-phone-390x844.png"), full_page=True)
        seen["phone"] = map_shows(shot, page.locator("#board-map").bounding_box())
        page.close()
        ctx.close()
    assert phone["docW"] == 390 and phone["wide"] == [], phone  # nothing wider than the phone
    assert phone["map"] >= 0.5 * 844 and phone["charts"] and min(phone["charts"]) >= 150, phone
    assert phone["order"] == sorted(phone["order"]), phone  # map, cards, charts, cameras: one column
    assert min(phone["fonts"]) >= 11, phone  # KPI labels, card text, legend
    assert phone["chartFont"] >= 12, phone  # the charts' axes too (half of 1920's type would be 8 px)
    for (w, h), fit in got.items():
        assert (fit["vw"], fit["vh"]) == (w, h)
        assert fit["docH"] == h and fit["bodyH"] <= h and fit["docW"] == w, fit
        assert fit["out"] == [], f"{w}x{h}: outside the screen: {fit['out']}"
        # the camera panel: a summary (district, then streets worst first) and a link to the wall
        assert fit["tiles"] == 0 and fit["cams"] >= 2 and "(2)" in fit["link"] and fit["visible"] >= 3, fit
        assert fit["map"] > 0.45 * h, fit  # the map takes most of the height, not an island
    for size, shows in seen.items():  # in the screenshots, the map is drawn: not blank, not half-painted
        assert shows["top"] < 0.9 and shows["streets"] > 0.004 and shows["markers"] > 0.0003, (size, shows)
    small, big = got[SIZES[0]], got[SIZES[-1]]
    for key in ("title", "kpi", "chartFont"):
        assert big[key] == pytest.approx(2 * small[key], rel=0.1), key  # twice the pixels, twice the type
    assert got[SIZES[1]]["title"] == pytest.approx(small["title"] * 4 / 3, rel=0.1)


@pytest.mark.browser
def test_board_reads_at_a_glance_and_drills_down(tmp_path, stack):
    from playwright.sync_api import sync_playwright

    cfg, grid, r = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        tiles: list[tuple[int, str]] = []
        ctx.on("response", lambda res: "/tiles/" in res.url and tiles.append((res.status, res.url)))
        page = open_board(ctx, url + "/", (1920, 1080))
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        header = page.locator(".header").inner_text()
        assert "Lubei" not in header and "路北" in header
        legend = page.locator("#board-legend").inner_text()
        assert all(word in legend for word in ("新立案", "已派遣", "超时", "摄像机")), legend
        page.evaluate("() => { window.__marker = 'no-reload'; }")

        # a camera detection in insp-a's street: its card names the street, the community, the inspector
        cell = detect(r, grid, 3)
        page.wait_for_selector("#ticker .incident", timeout=30_000)
        card = page.locator("#ticker .incident").first
        text = card.inner_text()
        assert cell.street_zh in text and cell.community_zh in text and "张伟" in text, text
        assert cell.code not in text  # names, not the 15-digit code
        # past its SLA the marker turns red (and the card says so)
        page.wait_for_function(
            "(c) => { const g = document.querySelector('#board-map .js-plotly-plot');"
            " return g.data.find(d => d.name === 'incidents').marker.color.includes(c); }",
            arg=OVERDUE_COLOUR,
            timeout=30_000,
        )
        assert "overdue" in card.get_attribute("class")
        # a citizen's photo shows as the card's thumbnail
        report_cell = citizen_report(cfg, grid, 1800)
        page.wait_for_function(
            "(s) => [...document.querySelectorAll('#ticker .incident')].some(e => e.innerText.includes(s))",
            arg=report_cell.community_zh,
            timeout=30_000,
        )
        photo_card = page.locator("#ticker .incident", has_text=report_cell.community_zh).first
        thumb = photo_card.locator("img.thumb")
        thumb.wait_for(timeout=10_000)
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle(), timeout=15_000
        )
        assert thumb.evaluate("img => img.naturalWidth") == 320
        # a click on the card flies the map to it and opens its detail
        iid = int(photo_card.get_attribute("data-id"))
        photo_card.click()
        page.wait_for_selector("#board-detail:not(.hidden)", timeout=15_000)
        detail = page.locator("#board-detail").inner_text()
        assert f"#{iid}" in detail and report_cell.community_zh in detail and "市民上报" in detail, detail
        centre = page.evaluate("() => document.querySelector('#board-map .js-plotly-plot').layout.map.center")
        point = report_cell.geometry.representative_point()
        assert centre["lon"] == pytest.approx(point.x, abs=0.002) and centre["lat"] == pytest.approx(
            point.y, abs=0.002
        )
        page.screenshot(path=str(OUTPUT / "board-wall-detail-1920x1080.png"))
        page.click("#detail-close")
        page.wait_for_selector("#board-detail.hidden", state="attached", timeout=15_000)

        # cell tooltips: names and open/overdue counts, not "130203008008012: 0"
        cells = page.evaluate("""() => { const g = document.querySelector('#board-map .js-plotly-plot');
                                         return {tpl: g.data[0].hovertemplate, text: g.data[0].text,
                                                 codes: g.data[0].locations, over: g.data[0].customdata}; }""")
        k = cells["codes"].index(cell.code)
        assert cell.street_zh in cells["text"][k] and cell.community_zh in cells["text"][k]
        assert "未结" in cells["tpl"] and "超时" in cells["tpl"] and cells["over"][k] == 1

        # drill-down: a click on a street's bar highlights it and filters KPIs, cards and charts
        assert page.locator("#kpi-open").inner_text() == "2"
        street_of_report = report_cell.street
        page.wait_for_function(  # the charts follow the map (the slow lane), after the cards
            "(s) => s.every(c => document.querySelector('#chart-street .js-plotly-plot').data[0].customdata.includes(c))",
            arg=[street_of_report, cell.street],
            timeout=30_000,
        )
        bars = page.evaluate(
            "() => document.querySelector('#chart-street .js-plotly-plot').data[0].customdata"
        )
        assert street_of_report in bars and cell.street in bars
        box = page.locator("#chart-street .bars .point").nth(bars.index(street_of_report)).bounding_box()
        page.mouse.move(
            box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        )  # plotly's hover finds the bar
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function("() => document.getElementById('kpi-open').innerText === '1'", timeout=15_000)
        assert report_cell.street_zh in page.locator("#drill-label").inner_text()
        assert page.locator("#ticker .incident").count() == 1
        highlighted = """() => { const g = document.querySelector('#board-map .js-plotly-plot');
                                 const h = g.data.find(d => d.name === 'highlight');
                                 return [h.lon.filter(x => x !== null), h.lat.filter(x => x !== null)]; }"""
        page.wait_for_function(f"() => ({highlighted})()[0].length > 10", timeout=15_000)
        lons, lats = page.evaluate(highlighted)
        w, s, e, n = next(u for u in grid.streets if u.code == street_of_report).geometry.bounds
        assert (
            w - 1e-3 <= min(lons)
            and max(lons) <= e + 1e-3
            and s - 1e-3 <= min(lats)
            and max(lats) <= n + 1e-3
        )
        centre = page.evaluate("() => document.querySelector('#board-map .js-plotly-plot').layout.map.center")
        assert w <= centre["lon"] <= e and s <= centre["lat"] <= n  # the map moved to the street
        page.wait_for_function("() => document.getElementById('by-unit-title').innerText.includes('社区')")
        page.screenshot(path=str(OUTPUT / "board-wall-drill-1920x1080.png"))
        page.click("#drill-reset")
        page.wait_for_function("() => document.getElementById('kpi-open').innerText === '2'", timeout=15_000)
        assert page.evaluate("() => window.__marker") == "no-reload"  # every update without a reload
        drawn = [s for s, u in tiles if s == 200]
        assert drawn, f"the board drew no basemap tile: {tiles[:5]}"

        # the other pages' maps draw the same basemap through the board
        tiles.clear()
        other = ctx.new_page()
        other.goto(url + "/citizen")
        other.wait_for_selector("#citizen-map .js-plotly-plot, .js-plotly-plot", timeout=60_000)
        deadline = time.monotonic() + 30
        while not any(s == 200 for s, _ in tiles) and time.monotonic() < deadline:
            other.wait_for_timeout(250)
        assert any(s == 200 for s, _ in tiles), tiles[:5]
        other.screenshot(path=str(OUTPUT / "citizen-basemap-1920x1080.png"))
        ctx.close()
    assert not [e for e in errors if "404" not in e], errors
