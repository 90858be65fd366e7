"""The seven steps across the phone pages in real headless Chromium (the cell's inspector and a
department's staff, each on their phone), with the centre's steps through the API the desk uses:
核实 confirmed and refuted, 不予立案, 立案 and 派遣, 回退, 延期 refused and approved, 处置反馈 with a
photo, 返工 with the inspector's photo, 核查 and 结案. Real API and board processes, store and Redis."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from gis.default import load_grid
from streams.bus import connect
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import launch_browser
from tests.services import create_users, services, write_config

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
        dashboard={"port": free_port(), "phone_refresh_ms": 1000},
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


@pytest.mark.browser
def test_seven_steps_on_the_phones(tmp_path, stack):
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

        # 核实 on the inspector's phone: one refuted (the centre does not file it), one confirmed
        do(ivan, expect, false_report, "refute", note="nothing there")
        call(cfg, "POST", f"/api/v1/incidents/{false_report}/reject", {"note": "核实不属实"}, user="olga")
        do(ivan, expect, case, "confirm", note="rubbish by the gate")
        assert wait_state(cfg, case, "new")["checked_at"]
        ivan.screenshot(path=str(OUTPUT / "dmc-inspector-confirmed-390x844.png"))
        inc = call(cfg, "POST", f"/api/v1/incidents/{case}/file", {"note": "立案"}, user="olga")
        assert inc["department"] == "sanitation"

        # the department: 回退, re-dispatched by hand; 延期 refused then approved; handled with a photo
        do(sam, expect, case, "return", note="needs a truck from the enforcement pound")
        wait_state(cfg, case, "returned")
        call(cfg, "POST", f"/api/v1/incidents/{case}/assign", {"assignee": "sanitation"}, user="olga")
        do(sam, expect, case, "request_extension", note="truck tomorrow", hours=4)
        sam.screenshot(path=str(OUTPUT / "dmc-department-extension-390x844.png"))
        call(cfg, "POST", f"/api/v1/incidents/{case}/refuse_extension", {"note": "no"}, user="olga")
        do(sam, expect, case, "request_extension", note="truck booked", hours=2)
        assert (
            call(cfg, "POST", f"/api/v1/incidents/{case}/approve_extension", {}, user="olga")["extension_h"]
            == 2
        )
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
        assert ivan.errors == [] and sam.errors == []
        ictx.close()
        sctx.close()

    closed = call(cfg, "POST", f"/api/v1/incidents/{case}/close", {"note": "结案"}, user="olga")
    assert closed["state"] == "closed"
    acts = [e["extra"].get("act") for e in state(cfg, case)["events"] if e["extra"].get("act")]
    assert acts == ["request_check", "confirm", "file", "assign", "return", "assign", "request_extension",
                    "refuse_extension", "request_extension", "approve_extension", "accept", "resolve", "rework",
                    "accept", "resolve", "verify", "close"]  # fmt: skip
    rework = next(e for e in state(cfg, case)["events"] if e["extra"].get("act") == "rework")
    assert rework["actor"] == "ivan" and len(rework["extra"]["photos"]) == 1
    assert state(cfg, false_report)["state"] == "rejected"


@pytest.mark.browser
def test_evaluation_league_table_and_csv(tmp_path, stack):
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
        with page.expect_download() as dl:
            page.click("#ev-csv")
        text = dl.value.path().read_text(encoding="utf-8")
        assert text.splitlines()[0].startswith("key,上报数,立案数,结案数")
        assert len(text.splitlines()) == len(rows) + 1
        assert errors == []
        ctx.close()
