"""The board's two lanes (issue 11 items 9 and 10) in headless Chromium against a real board process
and Redis: incidents XADDed in a burst show as cards without a reload, the map catches up with all
of them in far fewer redraws than pushes (the slow lane waits for the pushes to pause), and a later
change of state patches the right marker and cell. No wall-clock assertion: only what is shown."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from cityops.config import CityOpsConfig
from dashboard.theme import OVERDUE_COLOUR
from gis.default import load_grid
from streams.bus import connect, publish
from streams.schemas import INCIDENTS, IncidentEvent
from tests.conftest import SMALL_GRID, free_port
from tests.helpers import launch_browser
from tests.services import services, write_config

MAP = "document.querySelector('#board-map .js-plotly-plot')"
MARKERS = f"{MAP}.data.find(t => t.name === 'incidents')"


def incident(grid, k: int, state: str = "dispatched", version: int = 2) -> IncidentEvent:
    cell = grid.cells[k]
    p = cell.geometry.representative_point()
    now = datetime.now(UTC)
    return IncidentEvent(incident_id=100 + k, version=version, action="assigned", state=state, type="illegal_parking",
                         cell=cell.code, lon=p.x, lat=p.y, assignee="insp-a", at=now, opened_at=now)  # fmt: skip


@pytest.mark.browser
def test_a_burst_shows_every_card_and_the_map_catches_up_in_few_redraws(tmp_path, redis_url):
    from playwright.sync_api import sync_playwright

    cfg = CityOpsConfig.model_validate(
        {"data_dir": str(tmp_path / "data"), "grid": SMALL_GRID,
         "dashboard": {"port": free_port(), "refresh_ms": 500}}
    )  # fmt: skip
    grid = load_grid(cfg.grid, cfg.data)
    path = write_config(cfg, tmp_path / "cfg.yaml")
    r = connect(redis_url)
    with services(cfg, path, redis_url, ("dashboard",)), sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        asked: list[str] = []  # the outputs of every callback the page asked for

        def on_request(req):
            if "_dash-update-component" in req.url and req.post_data:
                asked.append(json.loads(req.post_data).get("output", ""))
            elif "/board/cards" in req.url:  # the fast lane: JSON that board.js draws itself
                asked.append("board-cards")

        page.on("request", on_request)
        page.goto(f"http://127.0.0.1:{cfg.dashboard.port}/?lang=en")
        page.wait_for_function(
            f"() => {{ const g = {MAP}; return g && g._fullLayout && g._fullLayout.map"
            " && g._fullLayout.map._subplot.map.loaded(); }",
            timeout=60_000,
        )
        page.wait_for_function(  # the charts follow the map's first draw
            "() => { const g = document.querySelector('#chart-type .js-plotly-plot');"
            " return !!(g && g.data && g.data.length > 0); }",
            timeout=30_000,
        )
        page.evaluate("() => { window.__marker = 'no-reload'; }")
        before = len(asked)

        burst = [incident(grid, k) for k in range(12)]
        for ev in burst:  # one push each (a few tenths of a second apart), the map asked far less often
            publish(r, INCIDENTS, ev)
            time.sleep(0.3)
        # the fast lane: the eight newest cards and the open count, without a reload
        newest = [f"incident-{ev.incident_id}" for ev in reversed(burst)][:8]
        page.wait_for_function(
            "(ids) => { const got = [...document.querySelectorAll('#ticker .incident')].map(e => e.id);"
            " return JSON.stringify(got) === JSON.stringify(ids); }",
            arg=newest,
            timeout=30_000,
        )
        page.wait_for_function("() => document.getElementById('kpi-open').innerText === '12'", timeout=30_000)
        # the slow lane: every marker and every cell's count, in far fewer redraws than events
        ids = [ev.incident_id for ev in burst]
        page.wait_for_function(
            f"(ids) => ids.every(i => {MARKERS}.customdata.includes(i))", arg=ids, timeout=30_000
        )
        page.wait_for_function(f"() => {MAP}.data[0].z.reduce((a, b) => a + b, 0) === 12", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('#chart-type .js-plotly-plot').data[0].x.reduce((a, b) => a + b, 0) === 12",
            timeout=30_000,
        )
        map_asks = [o for o in asked[before:] if "board-map.figure" in o]
        card_asks = [o for o in asked[before:] if o == "board-cards"]
        assert map_asks and len(map_asks) * 3 <= len(card_asks), asked[before:]

        # one closes, one turns overdue: the patched markers stay on their own incidents
        closed = incident(grid, 3, "closed", 3)
        late = incident(grid, 5, "dispatched", 3).model_copy(update={"breaches": ["arrive"]})
        publish(r, INCIDENTS, closed)
        publish(r, INCIDENTS, late)
        page.wait_for_function(
            f"(i) => {{ const m = {MARKERS}; return m.lon[m.customdata.indexOf(i)] === null; }}",
            arg=closed.incident_id,
            timeout=30_000,
        )
        page.wait_for_function(
            f"([i, c]) => {{ const m = {MARKERS}; return m.marker.color[m.customdata.indexOf(i)] === c; }}",
            arg=[late.incident_id, OVERDUE_COLOUR],
            timeout=30_000,
        )
        markers = page.evaluate(
            f"() => {{ const m = {MARKERS}; return [m.customdata, m.lon, m.marker.color]; }}"
        )
        for iid, lon in zip(markers[0], markers[1], strict=True):
            ev = next(e for e in burst if e.incident_id == iid)
            assert lon == (None if iid == closed.incident_id else pytest.approx(ev.lon))
        z = page.evaluate(f"() => {MAP}.data[0].z")
        codes = [c.code for c in grid.cells]
        assert sum(z) == 11 and z[codes.index(closed.cell)] == 0 and z[codes.index(late.cell)] == 1
        page.wait_for_function("() => document.getElementById('kpi-open').innerText === '11'", timeout=30_000)
        assert page.evaluate("() => window.__marker") == "no-reload"
        ctx.close()
    r.close()
    assert errors == [], errors
