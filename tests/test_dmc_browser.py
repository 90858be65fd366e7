"""The seven steps by clicks in real headless Chromium: the cell's inspector's and a department's
staff's phones and the centre's console (the desk):
核实 confirmed and refuted, 不予立案, 立案 and 派遣, 回退, 延期 refused and approved, 处置反馈 with a
photo, 返工 with the inspector's photo, 核查 and 结案. Real API and board processes, store and Redis."""

from __future__ import annotations

import io
import json
import re
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from dashboard.i18n import t
from gis.default import load_grid
from streams.bus import connect
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import BOARD_FIT, CHARTS_DRAWN, MAP_PAINTED, launch_browser
from tests.services import create_users, services, write_config
from tests.test_console_browser import desk_login, pick, wait_cell, wait_row

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("dmc")
    cfg = make_config(
        tmp,
        roster=[{"id": "insp-a", "name": "A", "cells": ["130203"]}],
        departments=[
            {"id": "sanitation", "name": "区环卫中心", "kind": "sanitation", "staff": [{"id": "san-1", "name": "S"}]},
            {"id": "enforcement", "name": "城管执法局", "kind": "enforcement", "staff": [{"id": "enf-1", "name": "E"}]},
        ],
        workflow={"check_citizen_reports": True},
        dispatch={"port": free_port(), "citizen_rate_per_min": 100},
        dashboard={"port": free_port(), "phone_refresh_ms": 1000, "refresh_ms": 500},
    )  # fmt: skip
    r = connect(redis_server)
    r.flushdb()
    grid = load_grid(cfg.grid, cfg.data)
    create_users(cfg, ("olga", "operator"), ("ivan", "inspector", "insp-a"), ("sam", "department", "san-1"))
    path = write_config(cfg, tmp / "cfg.yaml")
    with services(cfg, path, redis_server, ("api", "dashboard")):
        yield cfg, grid
    r.close()


def call(cfg, method, path, body=None, user=None, form=None):
    headers = {"Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    if form is not None:
        headers, data = (
            {"Content-Type": "application/x-www-form-urlencoded"},
            urllib.parse.urlencode(form).encode(),
        )
    if user:
        token = call(cfg, "POST", "/api/v1/login", {"username": user, "password": f"{user}-password"})[
            "token"
        ]
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{cfg.dispatch.port}{path}", method=method, headers=headers, data=data
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def citizen_report(cfg, grid, k: int) -> int:
    p = grid.cells[k].geometry.representative_point()
    call(
        cfg,
        "POST",
        "/open311/v2/requests.json",
        form={"service_code": "exposed_rubbish", "lat": p.y, "long": p.x},
    )
    rows = call(cfg, "GET", "/api/v1/incidents", user="olga")
    return next(r["id"] for r in rows if abs(r["lat"] - p.y) < 1e-9 and abs(r["lon"] - p.x) < 1e-9)


def state(cfg, iid) -> dict:
    return call(cfg, "GET", f"/api/v1/incidents/{iid}", user="olga")


def phone(p, tmp_path, url, user):
    ctx = launch_browser(p, tmp_path / user)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.set_viewport_size(PHONE)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + "/inspector")
    page.fill("#insp-username", user)
    page.fill("#insp-password", f"{user}-password")
    page.click("#insp-login-btn")
    page.wait_for_selector("#insp-main", state="visible")
    return ctx, page


def choose(page, iid):
    page.locator(f"[id*='insp-card'][id*='\"index\":{iid}']").click()
    page.wait_for_function(
        "iid => { const e = document.querySelector('#insp-info .inc-id'); return e && e.innerText.trim() === '#' + iid; }",
        arg=str(iid), timeout=20000,
    )  # fmt: skip


def do(page, expect, iid, action, note="", hours=None, photo=None, done="ph-ok"):
    choose(page, iid)
    button = page.locator(f"#insp-do-{action}")
    expect(button).to_be_visible(timeout=20000)
    if photo:
        page.set_input_files("#insp-upload input[type=file]", str(photo))
        expect(page.locator("#insp-photo-list img")).to_have_count(1, timeout=15000)
    if note:
        page.fill("#insp-note", note)
    if hours is not None:
        page.fill("#insp-ext-hours", str(hours))
    button.click()
    expect(page.locator(f"#insp-msg .{done}")).to_be_visible(timeout=15000)


def wait_state(cfg, iid, want, tries=100):
    import time

    for _ in range(tries):
        got = state(cfg, iid)
        if got["state"] == want:
            return got
        time.sleep(0.2)
    raise AssertionError(f"incident {iid} is {got['state']}, not {want}")


def desk(page, expect, iid, action, note="", assignee=None):
    """The centre's step on the console: select the case's row, (pick the department), write the note,
    press the action's button (labelled with its zh-CN term and the case's id) and see it done."""
    label = f"{t('action.' + action, 'zh-CN')} #{iid}"
    wait_row(page, iid)
    pick(page, iid)
    button = page.locator(f"#console-actions button:text-is('{label}')")
    expect(button).to_be_visible(timeout=20000)  # drawn when the API lists the action for the case now
    if assignee:
        page.click("#assign-to")
        page.get_by_text(assignee, exact=True).click()
    page.fill("#action-note", note)
    button.click()
    expect(page.locator(f"#action-msg .ok[data-incident='{iid}']")).to_contain_text(label.split(" #")[0],
                                                                                   timeout=15000)  # fmt: skip


@pytest.mark.browser
def test_seven_steps_on_the_phones_and_the_desk(tmp_path, stack):
    """Every step and branch by clicks: the inspector's and the department's phones (390x844) and the
    centre's console (1920x1080). One case is refuted on site and not filed (不予立案); the other is
    confirmed, filed, returned (回退) and dispatched again by hand, its extension refused and then
    approved (延期), handled, sent back for rework (返工), handled again, verified and closed (结案)."""
    from playwright.sync_api import expect, sync_playwright

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    after, again, bad = tmp_path / "after.png", tmp_path / "again.png", tmp_path / "rework.png"
    for path, colour in ((after, "#226644"), (again, "#224466"), (bad, "#662244")):
        Image.new("RGB", (200, 150), colour).save(path, "PNG")
    false_report, case = citizen_report(cfg, grid, 3), citizen_report(cfg, grid, 9)
    assert state(cfg, case)["state"] == "checking"
    with sync_playwright() as p:
        ictx, ivan = phone(p, tmp_path, url, "ivan")
        sctx, sam = phone(p, tmp_path, url, "sam")
        dctx, olga = desk_login(p, tmp_path, url)

        # 核实 on the inspector's phone: one refuted, and the centre does not file it (不予立案)
        do(ivan, expect, false_report, "refute", note="nothing there")
        wait_state(cfg, false_report, "new")
        desk(olga, expect, false_report, "reject", note="核实不属实")
        wait_state(cfg, false_report, "rejected")
        # the other confirmed, and filed (立案) at the desk: it goes to its department by type and place
        do(ivan, expect, case, "confirm", note="rubbish by the gate")
        assert wait_state(cfg, case, "new")["checked_at"]
        ivan.screenshot(path=str(OUTPUT / "dmc-inspector-confirmed-390x844.png"))
        desk(olga, expect, case, "file", note="立案")
        assert wait_state(cfg, case, "dispatched")["department"] == "sanitation"
        wait_cell(olga, case, "assignee", "区环卫中心")  # the department's name, not its id

        # the department: 回退; the desk dispatches it again by hand (派遣, the department picked)
        do(sam, expect, case, "return", note="needs a truck from the enforcement pound")
        wait_state(cfg, case, "returned")
        desk(olga, expect, case, "assign", note="yours after all", assignee="区环卫中心 (sanitation)")
        wait_state(cfg, case, "dispatched")
        # 延期: refused at the desk, asked again, approved at the desk
        do(sam, expect, case, "request_extension", note="truck tomorrow", hours=4)
        sam.screenshot(path=str(OUTPUT / "dmc-department-extension-390x844.png"))
        desk(olga, expect, case, "refuse_extension", note="no: today")
        do(sam, expect, case, "request_extension", note="truck booked", hours=2)
        expect(olga.locator("#detail-extension")).to_contain_text("延期申请：2 小时", timeout=20000)
        expect(olga.locator("#detail-extension")).to_contain_text("truck booked")
        olga.screenshot(path=str(OUTPUT / "dmc-desk-extension-1920x1080.png"))
        desk(olga, expect, case, "approve_extension")
        assert state(cfg, case)["extension_h"] == 2
        # 处置反馈 with a photo
        choose(sam, case)
        sam.click("#insp-accept")
        wait_state(cfg, case, "accepted")
        sam.set_input_files("#insp-upload input[type=file]", str(after))
        expect(sam.locator("#insp-photo-list img")).to_have_count(1, timeout=15000)
        sam.fill("#insp-note", "cleared")
        sam.click("#insp-resolve")
        wait_state(cfg, case, "resolved")

        # 核查 on the inspector's phone: 返工 with a photo, then handled again and verified
        do(ivan, expect, case, "rework", note="half of it is left", photo=bad)
        wait_state(cfg, case, "dispatched")
        choose(sam, case)
        sam.click("#insp-accept")
        wait_state(cfg, case, "accepted")
        sam.set_input_files("#insp-upload input[type=file]", str(again))  # another file: a new upload
        expect(sam.locator("#insp-photo-list img")).to_have_count(1, timeout=15000)
        sam.click("#insp-resolve")
        wait_state(cfg, case, "resolved")
        do(ivan, expect, case, "verify", note="clean")
        wait_state(cfg, case, "verified")
        # 结案 at the desk; the audit trail names the steps in their standard terms
        desk(olga, expect, case, "close", note="结案")
        wait_state(cfg, case, "closed")
        expect(olga.locator("#timeline")).to_contain_text("结案", timeout=15000)
        expect(olga.locator("#timeline")).to_contain_text("返工")
        olga.screenshot(path=str(OUTPUT / "dmc-desk-closed-1920x1080.png"))
        assert ivan.errors == [] and sam.errors == [] and olga.errors == []
        for c in (ictx, sctx, dctx):
            c.close()

    acts = [(e["extra"].get("act"), e["actor"]) for e in state(cfg, case)["events"] if e["extra"].get("act")]
    assert acts == [("request_check", "system"), ("confirm", "ivan"), ("file", "olga"), ("assign", "system"),
                    ("return", "sam"), ("assign", "olga"), ("request_extension", "sam"),
                    ("refuse_extension", "olga"), ("request_extension", "sam"), ("approve_extension", "olga"),
                    ("accept", "sam"), ("resolve", "sam"), ("rework", "ivan"), ("accept", "sam"),
                    ("resolve", "sam"), ("verify", "ivan"), ("close", "olga")]  # fmt: skip
    rework = next(e for e in state(cfg, case)["events"] if e["extra"].get("act") == "rework")
    assert rework["actor"] == "ivan" and len(rework["extra"]["photos"]) == 1
    rejected = [(e["extra"].get("act"), e["actor"]) for e in state(cfg, false_report)["events"]]
    assert ("reject", "olga") in rejected and state(cfg, false_report)["state"] == "rejected"


@pytest.mark.browser
def test_evaluation_league_table_and_csv(tmp_path, stack):
    from openpyxl import load_workbook
    from playwright.sync_api import expect, sync_playwright

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    from gis.components import Component, activate_components

    iid = citizen_report(cfg, grid, 20)
    call(cfg, "POST", f"/api/v1/incidents/{iid}/reject", {"note": "outside our remit"}, user="olga")
    spots = [grid.cells[k].geometry.representative_point() for k in (1, 2, 30)]
    activate_components([Component("MH-1", "C0101", spots[0].x, spots[0].y, grid.cells[1].code),
                         Component("MH-2", "C0101", spots[1].x, spots[1].y, grid.cells[2].code),
                         Component("SL-1", "C0108", spots[2].x, spots[2].y, grid.cells[30].code)], cfg.data)  # fmt: skip
    rows = call(cfg, "GET", "/api/v1/reports/evaluation?by=street&period=month", user="olga")
    total = rows[-1]
    assert total["key"] == "(all)" and total["reports"] >= 1
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/evaluation?lang=zh-CN")
        page.fill("#ev-user", "olga")
        page.fill("#ev-password", "olga-password")
        page.click("#ev-login")
        table = page.locator("#ev-table")
        expect(table).to_contain_text("全区合计", timeout=20000)
        expect(table).to_contain_text("按期结案率")
        last = page.locator("#ev-table tbody tr").last
        assert last.locator("td[data-dash-column=reports]").inner_text().strip() == str(total["reports"])
        # the map: streets in their grade's colour, and one clustered layer per component type
        page.wait_for_function(
            "() => { const gd = document.querySelector('#ev-map .js-plotly-plot');"
            " return gd && gd.data && gd.data.length === 3 && gd.data[1].name === '上水井盖' && gd.data[2].name === '路灯'; }",
            timeout=20000,
        )  # fmt: skip
        page.screenshot(path=str(OUTPUT / "dmc-evaluation-1920.png"))
        # the date readable (dark on the picker's light fill, as the dropdowns beside it), the page
        # scaled with the screen: twice the type on a 4K wall
        picked = page.locator("input#ev-date")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", picked.input_value())
        ink, fill = picked.evaluate(
            "e => [getComputedStyle(e).color, getComputedStyle(e.closest('.dash-datepicker')).backgroundColor]"
        )
        assert (ink, fill) == ("rgb(11, 26, 49)", "rgb(255, 255, 255)"), (ink, fill)
        cell_px = "e => parseFloat(getComputedStyle(e).fontSize)"
        first = page.locator("#ev-table td[data-dash-column=reports]").first
        assert first.evaluate(cell_px) == 15
        zoom_js = "() => document.querySelector('#ev-map .js-plotly-plot').layout.map.zoom"
        zoom = page.evaluate(zoom_js)
        page.set_viewport_size({"width": 3840, "height": 2160})
        page.wait_for_function(f"() => ({zoom_js})() > {zoom} + 0.9", timeout=20000)  # the map zooms too
        assert first.evaluate(cell_px) == 30 and picked.evaluate(cell_px) == 32
        assert (
            page.evaluate("() => document.querySelector('#ev-map .js-plotly-plot').layout.legend.font.size")
            == 24
        )
        page.screenshot(path=str(OUTPUT / "dmc-evaluation-3840.png"))
        page.set_viewport_size({"width": 1920, "height": 1080})
        with page.expect_download() as dl:
            page.click("#ev-csv")
        text = dl.value.path().read_text(encoding="utf-8")
        assert text.splitlines()[0].startswith("key,上报数,立案数,结案数")
        assert len(text.splitlines()) == len(rows) + 1
        with page.expect_download() as dl:  # the same table as an Excel workbook
            page.click("#ev-xlsx")
        assert dl.value.suggested_filename.endswith(".xlsx")
        sheet = load_workbook(io.BytesIO(dl.value.path().read_bytes())).active
        got = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert got[0][:4] == ["key", "上报数", "立案数", "结案数"] and len(got) == len(rows) + 1
        assert got[-1][0] == "(all)" and got[-1][1] == total["reports"]
        assert errors == []
        ctx.close()


@pytest.mark.browser
def test_board_evaluation_panel(tmp_path, stack):
    """The wall board's 综合评价 toggle: the month's league tables (streets, then communities; and
    departments) in their grade's colour, the same figures and order as the API's, over the side
    panel; the streets (communities) coloured by grade over the map; the board still one screen; off
    again at a second press."""
    from playwright.sync_api import expect, sync_playwright

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    # a street with a filed case still open (red), one with a case not filed, the rest with nothing
    refused, filed = citizen_report(cfg, grid, 25), citizen_report(cfg, grid, 50)
    call(cfg, "POST", f"/api/v1/incidents/{refused}/reject", {"note": "not ours"}, user="olga")
    call(cfg, "POST", f"/api/v1/incidents/{filed}/confirm", {"note": "seen"}, user="ivan")
    call(cfg, "POST", f"/api/v1/incidents/{filed}/file", {"note": "立案"}, user="olga")
    streets = call(cfg, "GET", "/api/v1/reports/evaluation?by=street&period=month", user="olga")
    depts = call(cfg, "GET", "/api/v1/reports/evaluation?by=department&period=month", user="olga")
    communities = call(cfg, "GET", "/api/v1/reports/evaluation?by=community&period=month", user="olga")
    assert {r["colour"] for r in streets} >= {"red"}
    keys = lambda page, table: page.eval_on_selector_all(  # noqa: E731
        f"#{table} tbody tr", "rows => rows.map(r => [r.dataset.key, r.dataset.colour])"
    )
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path / "board")
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.set_viewport_size({"width": 1920, "height": 1080})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/?lang=zh-CN")
        page.wait_for_function(MAP_PAINTED, arg=None, timeout=60000)
        page.wait_for_function(CHARTS_DRAWN, timeout=60000)
        expect(page.locator("#eval-side-box")).to_be_hidden()
        page.click("#eval-toggle")
        expect(page.locator("#eval-regions")).to_be_visible(timeout=20000)
        expect(page.locator("#eval-title")).to_contain_text("综合评价")
        assert keys(page, "eval-regions") == [[r["key"], r["colour"]] for r in streets]
        assert keys(page, "eval-departments") == [[r["key"], r["colour"]] for r in depts]
        names = page.locator("#eval-regions tbody tr .eval-name").all_inner_texts()
        assert names[-1] == "全区合计" and grid.cells[50].street_zh in names  # names, not codes
        depts_text = page.locator("#eval-departments").inner_text()
        assert "区环卫中心" in depts_text and "未派遣" in depts_text and "(none)" not in depts_text
        red = page.locator("#eval-regions tr[data-colour=red]").first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert red == "rgb(168, 7, 26)"  # the evaluation page's red
        # the map: every street in its grade's colour (grey where nothing was reported)
        page.wait_for_function("() => { const g = document.querySelector('#eval-map .js-plotly-plot');"
                               " return g && g.data && g.data.length === 1; }", timeout=20000)  # fmt: skip
        colours = page.evaluate("() => { const d = document.querySelector('#eval-map .js-plotly-plot').data[0];"
                                " return Object.fromEntries(d.locations.map((c, k) => [c, d.customdata[k]])); }")  # fmt: skip
        for r in streets[:-1]:
            assert colours[r["key"]] == r["colour"]
        assert set(colours.values()) - {r["colour"] for r in streets} <= {"grey"}
        # still one screen, the overlays inside the viewport
        fit = page.evaluate(BOARD_FIT)
        assert fit["out"] == [] and fit["docH"] <= fit["vh"] and fit["docW"] <= fit["vw"], fit
        for box in ("#eval-side-box", "#eval-map-box"):
            r = page.locator(box).bounding_box()
            assert (
                r["x"] >= 0 and r["y"] >= 0 and r["x"] + r["width"] <= 1920 and r["y"] + r["height"] <= 1080
            )
        page.wait_for_timeout(1500)  # the map's tiles and the outline layers settle
        page.screenshot(path=str(OUTPUT / "board-evaluation-1920x1080.png"))
        # communities instead of streets
        page.click('[id*=\'"level":"community"\']')
        expect(page.locator("#eval-regions th").nth(1)).to_have_text("按社区", timeout=20000)
        page.wait_for_function(
            "n => { const d = document.querySelector('#eval-map .js-plotly-plot').data[0];"
            " return d.locations.length === n; }",
            arg=len({c.community for c in grid.cells}), timeout=20000,
        )  # fmt: skip
        assert keys(page, "eval-regions") == [[r["key"], r["colour"]] for r in communities]
        # off: the live board is back
        page.click("#eval-toggle")
        expect(page.locator("#eval-side-box")).to_be_hidden(timeout=20000)
        expect(page.locator("#eval-map-box")).to_be_hidden()
        expect(page.locator("#ticker")).to_be_visible()
        # a wall that shows the evaluation from the start
        page.goto(url + "/?eval=1&lang=zh-CN")
        expect(page.locator("#eval-regions")).to_be_visible(timeout=30000)
        expect(page.locator("#eval-toggle")).to_have_class("drill eval-toggle on")
        assert errors == []
        ctx.close()


COMP_TRACES = """() => document.querySelector('#board-map .js-plotly-plot').data
  .filter(d => (d.uid || '').startsWith('comp-'))
  .map(d => ({uid: d.uid, name: d.name, n: d.lon.filter(x => x !== null).length, text: d.text,
              cluster: !!(d.cluster && d.cluster.enabled)}))"""
#: the map's own layers of the component traces: visibility, and features drawn in the view
COMP_LAYERS = """() => { const m = document.querySelector('#board-map .js-plotly-plot')._fullLayout.map._subplot.map;
  return Object.fromEntries(m.getStyle().layers.filter(l => l.id.startsWith('plotly-trace-layer-comp-'))
    .map(l => [l.id, [m.getLayoutProperty(l.id, 'visibility') || 'visible',
                      m.queryRenderedFeatures({layers: [l.id]}).length]])); }"""


@pytest.mark.browser
def test_board_component_layer(tmp_path, stack):
    """The wall board's 部件 toggle: the component registry over the board's map, one layer per type
    (named, hover with type, code, state and owner by name), hidden at first, shown at a press with
    every component, clustered for a type with many, hidden again at a second press; the board still
    one screen."""
    from playwright.sync_api import expect, sync_playwright

    from gis.components import Component, activate_components

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    n = len(grid.cells)
    at = lambda k: grid.cells[k % n].geometry.representative_point()  # noqa: E731
    comps = [Component("MH-9", "C0101", at(15).x, at(15).y, grid.cells[15 % n].code, owner="enforcement", state="damaged"),
             Component("MH-10", "C0101", at(40).x, at(40).y, grid.cells[40 % n].code),
             Component("MH-11", "C0101", at(70).x, at(70).y, grid.cells[70 % n].code),
             Component("BIN-1", "C0302", at(20).x, at(20).y, grid.cells[20 % n].code),
             Component("BIN-2", "C0302", at(60).x, at(60).y, grid.cells[60 % n].code)]  # fmt: skip
    lamps = [
        Component(f"SL-{k}", "C0108", at(k).x + k * 1e-5, at(k).y, grid.cells[k % n].code) for k in range(150)
    ]
    activate_components([*comps, *lamps], cfg.data)
    want = {"comp-C0101": ("上水井盖", 3, False), "comp-C0108": (t("type.C0108", "zh-CN"), 150, True),
            "comp-C0302": ("垃圾箱", 2, False)}  # fmt: skip
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path / "board")
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.set_viewport_size({"width": 1920, "height": 1080})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/?lang=zh-CN")
        page.wait_for_function(MAP_PAINTED, arg=None, timeout=60000)
        page.wait_for_function(CHARTS_DRAWN, timeout=60000)
        toggle = page.locator("#comp-toggle")
        expect(toggle).to_have_text("部件")
        expect(toggle).to_have_class("drill eval-toggle")
        traces = {d["uid"]: d for d in page.evaluate(COMP_TRACES)}  # hidden at first: no points
        assert {u: (d["name"], d["n"], d["cluster"]) for u, d in traces.items()} == {
            u: (name, 0, cluster) for u, (name, _, cluster) in want.items()
        }
        layers = page.evaluate(COMP_LAYERS)
        assert layers and all(n == 0 for _, n in layers.values()), layers
        # shown: every type's layer, every component (the lamps in clusters)
        toggle.click()
        expect(toggle).to_have_class("drill eval-toggle on", timeout=20000)
        page.wait_for_function(
            "() => document.querySelector('#board-map .js-plotly-plot').data"
            ".filter(d => (d.uid || '').startsWith('comp-')).every(d => d.lon[0] !== null)",
            timeout=30000,
        )
        traces = {d["uid"]: d for d in page.evaluate(COMP_TRACES)}
        assert {u: (d["name"], d["n"], d["cluster"]) for u, d in traces.items()} == want
        mh9 = traces["comp-C0101"]["text"][0]
        assert "MH-9" in mh9 and "上水井盖" in mh9 and "损坏" in mh9 and "城管执法局" in mh9
        assert "enforcement" not in mh9 and "C0101" not in mh9
        assert "区环卫中心" in traces["comp-C0302"]["text"][0]  # the type's owner, by name
        page.wait_for_function(
            "() => { const m = document.querySelector('#board-map .js-plotly-plot')._fullLayout.map._subplot.map;"
            " return m.queryRenderedFeatures({layers: ['plotly-trace-layer-comp-C0101-circle']}).length === 3"
            " && m.queryRenderedFeatures({layers: ['plotly-trace-layer-comp-C0302-circle']}).length === 2"
            " && m.queryRenderedFeatures({layers: ['plotly-trace-layer-comp-C0108-cluster']}).length > 0; }",
            timeout=30000,
        )  # fmt: skip (each type is its own source: the lamps' clusters may come a frame after the others)
        layers = page.evaluate(COMP_LAYERS)
        assert layers["plotly-trace-layer-comp-C0108-cluster"][0] == "visible", layers
        assert 0 < layers["plotly-trace-layer-comp-C0108-cluster"][1] < 150  # lamps gathered in clusters
        fit = page.evaluate(BOARD_FIT)
        assert fit["out"] == [] and fit["docH"] <= fit["vh"] and fit["docW"] <= fit["vw"], fit
        page.wait_for_timeout(1500)  # the map's tiles settle
        page.screenshot(path=str(OUTPUT / "board-components-1920x1080.png"))
        # hidden again
        toggle.click()
        expect(toggle).to_have_class("drill eval-toggle", timeout=20000)
        page.wait_for_function(
            "() => document.querySelector('#board-map .js-plotly-plot').data"
            ".filter(d => (d.uid || '').startsWith('comp-')).every(d => d.lon[0] === null)",
            timeout=30000,
        )
        page.wait_for_function(
            "() => { const m = document.querySelector('#board-map .js-plotly-plot')._fullLayout.map._subplot.map;"
            " return m.queryRenderedFeatures({layers: ['plotly-trace-layer-comp-C0101-circle']}).length === 0; }",
            timeout=30000,
        )  # fmt: skip
        assert errors == []
        ctx.close()


TAP_POINT = """code => { const gd = document.querySelector('#rep-map .js-plotly-plot');
  const m = gd._fullLayout.map._subplot.map, box = m.getContainer().getBoundingClientRect();
  for (const tr of gd.data) { const k = (tr.customdata || []).indexOf(code);
    if (k >= 0) { const p = m.project([tr.lon[k], tr.lat[k]]); return [box.left + p.x, box.top + p.y]; } }
  return null; }"""


@pytest.mark.browser
def test_tap_a_component_on_the_phone_map_to_report_it(tmp_path, stack):
    """At 390x844 the inspector's phone shows the component registry as one layer per type; a tap on
    a component picks it (type, code, state, owner department), 上报 reports its problem: the case
    names the component, has its type and position and goes to its owner (the registry's owner, or
    the type's owning department in its place)."""
    from playwright.sync_api import expect, sync_playwright

    from gis.components import Component, activate_components

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    spot = grid.cells[15].geometry.representative_point()
    cell = grid.cells[15].code
    activate_components([Component("MH-9", "C0101", spot.x - 0.0008, spot.y, cell, owner="enforcement", state="damaged"),
                         Component("BIN-1", "C0302", spot.x + 0.0008, spot.y, cell),
                         Component("BIN-2", "C0302", spot.x, spot.y + 0.0008, cell)], cfg.data)  # fmt: skip
    with sync_playwright() as p:
        ctx, ivan = phone(p, tmp_path, url, "ivan")
        section = ivan.locator("#rep-section")
        expect(section).to_be_visible(timeout=20000)
        ivan.wait_for_function(
            "() => { const g = document.querySelector('#rep-map .js-plotly-plot');"
            " return g && g.data && g.data.length === 2 && g._fullLayout.map._subplot.map.loaded(); }",
            timeout=30000,
        )  # fmt: skip
        names = ivan.evaluate(
            "() => document.querySelector('#rep-map .js-plotly-plot').data.map(d => d.name)"
        )
        assert names == ["上水井盖", "垃圾箱"]  # one layer per type, named
        ivan.locator("#rep-map").scroll_into_view_if_needed()
        made = {}
        for code, owner in (("BIN-1", "区环卫中心"), ("MH-9", "城管执法局")):
            x, y = ivan.evaluate(TAP_POINT, code)
            ivan.mouse.click(x, y)
            expect(ivan.locator("#rep-picked-id")).to_contain_text(code, timeout=15000)
            expect(ivan.locator("#rep-owner")).to_contain_text(owner)
            if code == "MH-9":
                expect(ivan.locator("#rep-picked")).to_contain_text("损坏")
                ivan.screenshot(path=str(OUTPUT / "dmc-component-report-390x844.png"), full_page=False)
            ivan.fill("#rep-note", f"{code} is broken")
            ivan.click("#rep-send")
            expect(ivan.locator("#rep-msg .ph-ok")).to_contain_text(f"部件 {code}", timeout=15000)
            text = ivan.inner_text("#rep-msg")
            made[code] = int(text.split("#", 1)[1].split("（", 1)[0])
            assert owner in text
        assert ivan.errors == []
        ctx.close()
    for code, dept, kind in (("BIN-1", "sanitation", "C0302"), ("MH-9", "enforcement", "C0101")):
        inc = state(cfg, made[code])
        assert (inc["component"], inc["type"], inc["source"], inc["cell"]) == (code, kind, "inspector", cell)
        assert inc["department"] == dept, inc
