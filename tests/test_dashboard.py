"""The wall board and the operator console in real headless Chromium, against real processes
(dispatch, API, board), a real store and Redis, on the full 2,257-cell default grid."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from cityops.config import CityOpsConfig
from dashboard.metrics import hourly_trend, kpis
from dispatch.accounts import create_user
from dispatch.store import open_store
from gis.default import load_grid
from streams.bus import connect, publish
from streams.schemas import DETECTIONS, Detection, IncidentEvent
from tests.conftest import OUTPUT, free_port
from tests.helpers import launch_browser
from tests.services import services, write_config

ROSTER = [{"id": "insp-a", "name": "A", "cells": ["130203001", "130203002", "130203003"]},
          {"id": "insp-b", "name": "B", "cells": ["130203004", "130203005", "130203006"]},
          {"id": "insp-c", "name": "C", "cells": ["130203007", "130203008", "130203009", "130203010"]}]  # fmt: skip


@pytest.fixture
def stack(tmp_path, redis_url):
    cfg = CityOpsConfig.model_validate(
        {"data_dir": str(tmp_path / "data"), "roster": ROSTER, "store": {"url": f"sqlite:///{tmp_path}/cityops.db"},
         "dispatch": {"port": free_port()}, "dashboard": {"port": free_port(), "refresh_ms": 500}}
    )  # fmt: skip
    grid = load_grid(cfg.grid, cfg.data)
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    engine.dispose()
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("dispatch", "api", "dashboard")):
        yield cfg, grid, connect(redis_url)


def detect(r, grid, k: int, type_: str = "illegal_parking") -> str:
    cell = grid.cells[k]
    p = cell.geometry.representative_point()
    det = Detection(
        id=f"browser-{k}-{time.time_ns()}", type=type_, lon=p.x, lat=p.y, observed_at=datetime.now(UTC)
    )
    publish(r, DETECTIONS, det)
    return cell.code


@pytest.mark.browser
def test_board_and_console_live_without_reload(tmp_path, stack):
    from playwright.sync_api import sync_playwright

    cfg, grid, r = stack
    board_url = f"http://127.0.0.1:{cfg.dashboard.port}"
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        board = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors = []
        board.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        board.on("pageerror", lambda e: errors.append(str(e) + " " + (e.stack or "")[:600]))
        board.goto(board_url + "/")
        board.wait_for_selector("#board-map .js-plotly-plot", timeout=60000)
        n = board.evaluate("document.querySelector('#board-map .js-plotly-plot').data[0].locations.length")
        assert n == 2257 == len(grid)
        board.wait_for_function("() => document.querySelector('#board-map canvas') !== null", timeout=30000)
        board.evaluate("window.__marker = 'no-reload'")

        console = ctx.new_page()
        console.goto(board_url + "/console")
        console.fill("#console-user", "olga")
        console.fill("#console-password", "olga-password")
        console.click("#console-login")
        console.wait_for_selector("#console-table", state="visible", timeout=30000)
        console.evaluate("window.__marker = 'no-reload'")
        code = detect(r, grid, 100)  # a cell of some street: assigned by roster
        board.wait_for_selector("#ticker [id^=incident-]", timeout=30000)
        assert grid.by_code[code].community_zh in board.locator("#ticker").inner_text()  # names, not codes
        console.wait_for_function(
            "() => document.querySelectorAll('#console-table tbody tr td').length > 0", timeout=30000
        )
        text = console.locator("#console-table").inner_text()  # names, not the 15-digit cell code
        assert grid.by_code[code].community_zh in text and grid.by_code[code].street_zh in text
        # the map follows the cards (its slow lane redraws once the pushes pause)
        board.wait_for_function(
            "() => document.querySelector('#board-map .js-plotly-plot').data[0].z.some(v => v > 0)",
            timeout=30000,
        )
        z = board.evaluate("document.querySelector('#board-map .js-plotly-plot').data[0].z")
        assert sum(z) == 1 and z[list(grid.codes).index(code)] == 1
        markers = "document.querySelector('#board-map .js-plotly-plot').data.find(d => d.name == 'incidents')"
        assert board.evaluate(f"{markers}.lon.length") == 1
        board.screenshot(path=str(OUTPUT / "board-live-1920x1080.png"))
        # the operator reassigns it to insp-c
        console.locator("#console-table input[type=radio]").first.check()
        console.wait_for_selector("#timeline li", timeout=30000)
        console.click("#assign-to")
        console.get_by_text("C (insp-c)").click()  # the option list opens in a popover
        console.fill("#action-note", "<script>alert(1)</script> swap")
        console.click("#console-actions button:has-text('派遣/改派 #')")  # the button names the incident
        console.wait_for_function(
            "() => document.getElementById('action-msg').innerText.endsWith(' · C')", timeout=30000
        )  # the roster's name of insp-c
        console.wait_for_function(
            "() => document.getElementById('timeline').innerText.includes('<script>alert(1)</script> swap')",
            timeout=30000,
        )
        console.screenshot(path=str(OUTPUT / "console-1920x1080.png"))
        board.wait_for_function(
            "() => document.getElementById('ticker').innerText.includes('处置人 C')", timeout=30000
        )
        assert board.evaluate("window.__marker") == console.evaluate("window.__marker") == "no-reload"
        # a second incident elsewhere only patches what changed
        detect(r, grid, 2000, "exposed_rubbish")
        board.wait_for_function(
            "() => document.querySelector('#board-map .js-plotly-plot').data.find(d => d.name === 'incidents').lon.length === 2",
            timeout=30000,
        )
        assert board.locator("#ticker [id^=incident-]").count() == 2
        board.set_viewport_size({"width": 3840, "height": 2160})
        board.wait_for_timeout(1500)
        board.screenshot(path=str(OUTPUT / "board-3840x2160.png"))
        cycling = ctx.new_page()  # an unattended wall walks through the streets by itself
        cycling.goto(board_url + "/?cycle=1")
        cycling.wait_for_function(
            "() => (document.getElementById('drill-label') || {innerText: ''}).innerText.includes('130203')",
            timeout=30000,
        )
        assert "街道" in cycling.locator("#drill-label").inner_text()
        assert errors == [], errors  # no script or map errors on any update
        ctx.close()


def test_board_figures_from_live_incidents():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 local

    def ev(i, state, minutes_ago, breaches=()):
        at = datetime.fromtimestamp(now.timestamp() - minutes_ago * 60, UTC)
        return IncidentEvent(incident_id=i, version=1, action="created", state=state, type="illegal_parking", lon=0, lat=0,
                             at=at, opened_at=at, breaches=list(breaches))  # fmt: skip

    incs = [
        ev(1, "dispatched", 10, ["accept"]),
        ev(2, "closed", 30),
        ev(3, "accepted", 90),
        ev(4, "dispatched", 60 * 30),
    ]
    stamps = {2: {"dispatched": incs[1].opened_at, "accepted": incs[1].opened_at.replace(minute=31), "closed": now},
              3: {"dispatched": incs[2].opened_at, "accepted": incs[2].opened_at.replace(second=30)}}  # fmt: skip
    k = kpis(incs, stamps, now, tz)
    assert (k.today_new, k.open, k.overdue, k.today_closed) == (3, 3, 1, 1)
    assert k.sla_compliance == pytest.approx(2 / 3)
    labels, counts = hourly_trend(incs, now, tz)
    assert len(labels) == 24 and sum(counts) == 3 and labels[-1] == "12:00"


def test_board_cycle_walks_district_then_each_street():
    from dashboard.pages.board import next_in_cycle

    streets = ["s1", "s2", "s3"]
    state, seen = {"level": "district"}, []
    for _ in range(5):
        state = next_in_cycle(state, streets)
        seen.append(state.get("code", "district"))
    assert seen == ["s1", "s2", "s3", "district", "s1"]
    assert next_in_cycle({"level": "community", "code": "c9"}, streets) == {"level": "street", "code": "s1"}
    assert next_in_cycle({}, []) == {"level": "district"}
