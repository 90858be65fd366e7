"""The phone pages (inspector, citizen) in real headless Chromium at phone size, against real
processes (dispatch, API, board), a real store and Redis; results checked through the API."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image, ImageDraw

from dashboard.api_client import ApiResult
from dashboard.maps import fit_view
from dashboard.media import media_url
from dashboard.pages.citizen import can_rate, map_center, state_of
from dashboard.pages.inspector import by_urgency, countdown_text, current, next_due, span_text
from dashboard.pages.phone import decode_upload, error_text, parse_coord
from gis.default import load_grid
from streams.bus import connect, publish
from streams.schemas import DETECTIONS, Detection
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import launch_browser
from tests.services import create_users, services, write_config

PHONE = {"width": 390, "height": 844}
RATE_LIMIT = 3


# -- pure helpers ----------------------------------------------------------------------------------
def item(i: int, due_min: float, accepted: bool = False) -> dict:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    due = {"accept": base + timedelta(minutes=due_min), "arrive": base + timedelta(minutes=due_min + 60)}
    return {"id": i, "accepted_at": base.isoformat() if accepted else None, "arrived_at": None, "resolved_at": None,
            "due": {k: v.isoformat() for k, v in due.items()}}  # fmt: skip


def test_urgency_and_countdowns():
    items = [item(1, 10), item(2, 5), item(3, -200, accepted=True)]
    assert [i["id"] for i in by_urgency(items)] == [3, 2, 1]  # 3 is overdue to arrive: it leads
    assert [i["id"] for i in by_urgency([item(1, 10), item(2, 5), item(3, 0, accepted=True)])] == [2, 1, 3]
    assert next_due(items[2])[0] == "arrive"
    now = datetime(2026, 1, 1, 0, 4, 30, tzinfo=UTC)
    assert countdown_text(items[1], now, "en") == ("Accept within 00:30", False)
    assert countdown_text(items[1], now + timedelta(hours=2), "zh-CN") == ("已超时 1:59:30", True)
    assert span_text(3725.9) == "1:02:05" and span_text(-59) == "00:59"
    assert current(items, 1)["id"] == 1 and current(items, 99)["id"] == 1 and current([], 1) is None


def test_errors_uploads_and_urls():
    assert error_text(ApiResult(False, 409, error="cannot go from 'resolved'"), "en") == (
        "Not possible in the current state: cannot go from 'resolved'"
    )
    assert error_text(ApiResult(False, 429, error="too many"), "zh-CN").startswith("提交过于频繁")
    assert error_text(ApiResult(False, 418, error="teapot"), "en") == "The request failed: teapot"
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG-bytes").decode()
    assert decode_upload(png, "C:\\phone\\a.png") == ("a.png", b"\x89PNG-bytes", "image/png")
    assert decode_upload("data:text/plain;base64,!!!", "x.txt") is None
    assert decode_upload("not a data url", "x") is None
    assert media_url("evidence/cam/1.jpg", b"k").startswith("/evidence/evidence/cam/1.jpg?exp=")
    assert media_url("/photos/20260101/a.png") == "/photos/20260101/a.png"  # the board's
    assert media_url("../secret", b"k") is None and media_url(None, b"k") is None
    assert parse_coord(" 118.2 ", -180, 180) == 118.2 and parse_coord("200", -180, 180) is None
    assert parse_coord("abc", -90, 90) is None
    (lon, lat), zoom = fit_view([(118.0, 39.6), (118.13, 39.7)])
    assert (lon, lat) == pytest.approx((118.065, 39.65)) and 10 < zoom < 12.5
    assert fit_view([(118.0, 39.6)])[1] == 16.0  # one point: the closest zoom allowed


def test_citizen_helpers():
    assert map_center({"map.center": {"lon": 118.123456789, "lat": 39.6}, "map.zoom": 12}) == (
        118.123457,
        39.6,
    )
    assert map_center({"autosize": True}) is None and map_center(None) is None
    # the state comes from the API's own field, whatever its English status note says
    assert state_of({"status_notes": "anything", "state": "verified"}) == "verified"
    assert can_rate({"state": "resolved", "rating": None})
    assert not can_rate({"state": "resolved", "rating": 4})
    assert not can_rate({"state": "on_site", "rating": None})


# -- the real stack --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("phone")
    cfg = make_config(tmp, roster=[{"id": "insp-a", "name": "王小明", "cells": ["130203"]}],
                      dispatch={"port": free_port(), "citizen_rate_per_min": RATE_LIMIT},
                      dashboard={"port": free_port()})  # fmt: skip
    r = connect(redis_server)
    r.flushdb()
    grid = load_grid(cfg.grid, cfg.data)
    create_users(cfg, ("olga", "operator"), ("ivan", "inspector", "insp-a"))
    path = write_config(cfg, tmp / "cfg.yaml")
    with services(cfg, path, redis_server, ("dispatch", "api", "dashboard")):
        yield cfg, grid, r
    r.close()


def call(cfg, method: str, path: str, body: dict | None = None, user: str | None = None):
    headers = {"Content-Type": "application/json"}
    if user:
        headers["Authorization"] = (
            "Bearer "
            + call(cfg, "POST", "/api/v1/login", {"username": user, "password": f"{user}-password"})["token"]
        )
    req = urllib.request.Request(f"http://127.0.0.1:{cfg.dispatch.port}{path}", method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def png(path, colour: str, text: str) -> str:
    img = Image.new("RGB", (480, 360), colour)
    ImageDraw.Draw(img).text((20, 20), text, fill="white")
    img.save(path, "PNG")
    return str(path)


def site(grid, k: int) -> tuple[str, float, float]:
    cell = grid.cells[k]
    p = cell.geometry.representative_point()
    return cell.code, p.x, p.y


def phone_page(p, tmp_path, url: str, lon: float, lat: float):
    ctx = launch_browser(p, tmp_path)
    ctx.grant_permissions(["geolocation"], origin=url)
    ctx.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 5})
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.set_viewport_size(PHONE)
    page.errors = []  # uncaught page errors (e.g. the map refusing a figure): none expected
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return ctx, page


def wait_map(page, graph_id: str) -> None:
    """Until the graph's MapLibre map has drawn everything it was given (for screenshots)."""
    page.wait_for_function(
        "id => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');"
        " const m = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;"
        " return !!(m && m.map && m.map.loaded()); }",
        arg=graph_id, timeout=30000,
    )  # fmt: skip


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text()


@pytest.mark.browser
def test_inspector_accepts_arrives_uploads_and_resolves(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, r = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    code, lon, lat = site(grid, 5)
    evidence = cfg.data / "evidence" / "cam-9" / "ev1.jpg"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (320, 180), "#884422").save(evidence, "JPEG")
    publish(r, DETECTIONS, Detection(id="phone-insp-1", type="fire_lane_blocked", camera_id="cam-9", lon=lon, lat=lat,
                                     observed_at=datetime.now(UTC), evidence="evidence/cam-9/ev1.jpg"))  # fmt: skip
    gps = (lon + 0.0002, lat + 0.0001)
    with sync_playwright() as p:
        ctx, page = phone_page(p, tmp_path, url, *gps)
        page.goto(url + "/inspector")
        page.wait_for_selector("#insp-login-btn")
        page.screenshot(path=str(OUTPUT / "phone-inspector-login-390x844.png"))

        # an operator account has no dispatches: the API's 403, readable
        page.fill("#insp-username", "olga")
        page.fill("#insp-password", "olga-password")
        page.click("#insp-login-btn")
        expect(page.locator("#insp-msg .ph-error")).to_contain_text("无权执行此操作", timeout=15000)
        assert "only inspectors" in text_of(page, "#insp-msg")
        page.click("#insp-logout")

        page.fill("#insp-username", "ivan")
        page.fill("#insp-password", "wrong-password")
        page.click("#insp-login-btn")
        expect(page.locator("#insp-login-msg .ph-error")).to_be_visible(timeout=15000)
        page.fill("#insp-password", "ivan-password")
        page.press("#insp-password", "Enter")
        card = page.locator("[id*='insp-card']").first
        expect(card).to_contain_text("占用消防通道", timeout=30000)
        expect(page.locator("#insp-who")).to_have_text("当前用户: 王小明")  # the roster's name, not insp-a
        expect(page.locator("#insp-finished")).to_contain_text("今日暂无完成的任务")
        assert grid.by_code[code].community_zh in card.inner_text()  # names, not the 15-digit code
        assert f"geo:{lat:.6f},{lon:.6f}" in card.locator("a.ph-nav").get_attribute("href")  # navigate
        assert "token" not in page.url and "ivan-password" not in page.url
        assert "token" in page.evaluate("sessionStorage.getItem('insp-auth') || ''")
        links = page.locator("nav.nav a:not(#lang-switch)").all_inner_texts()
        assert links == ["网格员", "市民上报"]  # no staff desk the inspector cannot use
        iid = int(card.inner_text().split("#", 1)[1].split()[0])
        expect(card.locator("img.ph-thumb")).to_have_attribute(
            "src", re.compile(r"^/evidence/evidence/cam-9/ev1\.jpg\?exp=\d+&sig=[0-9a-f]{64}$")
        )  # a signed link: the picture is for staff
        assert page.evaluate("document.querySelector('img.ph-thumb').naturalWidth") == 320
        countdown = card.locator(".ph-countdown")
        first = countdown.inner_text()
        assert first.startswith("接单剩余") or first.startswith("已超时")
        page.wait_for_function(
            "t => { const e = document.querySelector('.ph-countdown'); return e && e.innerText !== t; }",
            arg=first, timeout=10000,
        )  # fmt: skip
        wait_map(page, "insp-map")
        expect(page.locator("#insp-arrive")).to_be_disabled()
        page.screenshot(path=str(OUTPUT / "phone-inspector-list-390x844.png"))

        page.click("#insp-accept")
        expect(page.locator("#insp-msg .ph-ok")).to_contain_text(f"#{iid} 已接单", timeout=15000)
        expect(page.locator("#insp-state")).to_have_attribute("data-state", "accepted", timeout=15000)
        expect(page.locator("#insp-accept")).to_be_disabled()

        page.click("#insp-arrive")
        expect(page.locator("#insp-msg .ph-ok")).to_contain_text("已到场签到", timeout=20000)
        expect(page.locator("#insp-state")).to_have_attribute("data-state", "on_site", timeout=15000)
        page.wait_for_function(
            "() => document.getElementById('insp-map').querySelector('.js-plotly-plot').data.length === 3"
        )

        bad = tmp_path / "notes.txt"
        bad.write_text("not a photo")
        page.set_input_files("#insp-upload input[type=file]", str(bad))
        expect(page.locator("#insp-msg .ph-error")).to_contain_text("not a readable image", timeout=15000)
        assert "不支持的文件类型" in text_of(page, "#insp-msg")
        page.screenshot(path=str(OUTPUT / "phone-inspector-upload-error-390x844.png"))

        page.set_input_files("#insp-upload input[type=file]", png(tmp_path / "after.png", "#226644", "after"))
        expect(page.locator("#insp-msg .ph-ok")).to_contain_text("照片已上传", timeout=15000)
        expect(page.locator("#insp-photo-list img")).to_have_count(1)
        page.wait_for_function("() => document.querySelector('#insp-photo-list img').naturalWidth === 480")
        page.fill("#insp-note", "车辆已移走 <b>ok</b>")
        page.screenshot(path=str(OUTPUT / "phone-inspector-on-site-390x844.png"), full_page=True)
        page.click("#insp-resolve")
        expect(page.locator("#insp-msg .ph-ok")).to_contain_text("已提交处置结果", timeout=15000)
        expect(page.locator("#insp-list")).to_contain_text("暂无待办任务", timeout=15000)
        expect(page.locator("#insp-detail")).to_be_hidden()
        expect(page.locator("#insp-finished .ph-done")).to_contain_text(
            f"#{iid} 占用消防通道 · 已处置", timeout=15000
        )
        page.screenshot(path=str(OUTPUT / "phone-inspector-done-390x844.png"))
        assert page.errors == []
        ctx.close()

    detail = call(cfg, "GET", f"/api/v1/incidents/{iid}", user="olga")
    assert detail["state"] == "resolved" and detail["assignee"] == "insp-a"
    by_state = {e["to_state"]: e for e in detail["events"] if e["action"] == "transition"}
    assert by_state["accepted"]["actor"] == "ivan"
    arrival = by_state["on_site"]["extra"]
    assert arrival["lon"] == pytest.approx(gps[0], abs=1e-6) and arrival["lat"] == pytest.approx(
        gps[1], abs=1e-6
    )
    resolved = by_state["resolved"]
    assert resolved["note"] == "车辆已移走 <b>ok</b>"
    [photo] = resolved["extra"]["photos"]
    with Image.open(cfg.data / photo) as img:
        assert img.size == (480, 360) and img.format == "PNG"


def choose_category(page, label: str) -> None:
    page.click("#cit-category")
    page.get_by_role("option", name=label, exact=True).click()


@pytest.mark.browser
def test_citizen_reports_follows_and_rates(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, _ = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    _, lon, lat = site(grid, 17)
    description = "路边堆放垃圾 <script>alert(1)</script> & <b>不要加粗</b>"
    with sync_playwright() as p:
        ctx, page = phone_page(p, tmp_path, url, lon, lat)
        page.goto(url + "/citizen")
        wait_map(page, "cit-map")
        page.screenshot(path=str(OUTPUT / "phone-citizen-empty-390x844.png"), full_page=True)

        page.set_input_files(
            "#cit-photo input[type=file]", png(tmp_path / "rubbish.png", "#664422", "rubbish")
        )
        expect(page.locator("#cit-preview")).to_be_visible(timeout=10000)
        choose_category(page, "暴露垃圾")
        page.fill("#cit-description", description)

        # no location yet: a local message; then a position outside the district: the API's message
        page.click("#cit-submit")
        expect(page.locator("#cit-msg .ph-error")).to_contain_text("请在地图上选择位置", timeout=10000)
        page.fill("#cit-lon", "100.0")
        page.fill("#cit-lat", "30.0")
        expect(page.locator("#cit-where")).to_contain_text("不在本辖区", timeout=10000)
        page.click("#cit-submit")
        expect(page.locator("#cit-msg .ph-error")).to_contain_text("outside the district", timeout=15000)

        # dragging the map moves the position under the pin
        box = page.locator("#cit-map").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx - 40, cy - 30, steps=8)
        page.mouse.up()
        page.wait_for_function("() => document.getElementById('cit-lon').value !== '100.0'", timeout=10000)
        dragged = float(page.input_value("#cit-lon")), float(page.input_value("#cit-lat"))
        w, s, e, n = grid.bounds
        assert w - 0.5 < dragged[0] < e + 0.5 and s - 0.5 < dragged[1] < n + 0.5

        # GPS sets it
        page.click("#cit-gps-btn")
        page.wait_for_function(
            f"() => Math.abs(parseFloat(document.getElementById('cit-lon').value) - {lon}) < 1e-5"
        )
        assert float(page.input_value("#cit-lat")) == pytest.approx(lat, abs=1e-5)
        expect(page.locator("#cit-where")).to_contain_text(grid.locate(lon, lat))
        page.screenshot(path=str(OUTPUT / "phone-citizen-form-390x844.png"), full_page=True)

        page.click("#cit-public input[type=checkbox]")  # the photo may be shown publicly
        page.click("#cit-submit")
        expect(page.locator("#cit-receipt-id")).to_be_visible(timeout=15000)
        rid = text_of(page, "#cit-receipt-id").strip()
        token = text_of(page, "#cit-receipt-token").strip()
        assert rid.startswith("R") and len(token) >= 8
        assert "token" not in page.url and token not in page.url
        assert rid in page.evaluate("sessionStorage.getItem('cit-reports') || ''")
        # the lookup runs for the new number: status and the description, as text
        expect(page.locator(".ph-status")).to_have_attribute("data-state", "dispatched", timeout=15000)
        assert text_of(page, "#cit-status-desc") == description
        assert page.locator("#cit-status script, #cit-status b").count() == 0
        expect(page.locator("#cit-status img.ph-photo")).to_be_visible()
        expect(page.locator("#cit-rate")).to_be_hidden()
        page.screenshot(path=str(OUTPUT / "phone-citizen-receipt-390x844.png"), full_page=True)

        # the desk side, through the API: the inspector handles it, the operator verifies it
        request = call(cfg, "GET", f"/open311/v2/requests/{rid}.json")[0]
        assert request["description"] == description and request["media_url"].startswith(
            f"{cfg.public_api_url}/photos/"
        )
        [inc] = [i for i in call(cfg, "GET", "/api/v1/incidents?type=exposed_rubbish", user="olga")]
        for action, body in (
            ("accept", {}),
            ("arrive", {"lon": lon, "lat": lat}),
            ("resolve", {"note": "cleaned"}),
        ):
            call(cfg, "POST", f"/api/v1/incidents/{inc['id']}/{action}", body, user="ivan")
        call(cfg, "POST", f"/api/v1/incidents/{inc['id']}/verify", {"note": "ok"}, user="olga")

        page.click("#cit-lookup")
        expect(page.locator(".ph-status")).to_have_attribute("data-state", "verified", timeout=15000)
        expect(page.locator("#cit-rate")).to_be_visible()
        assert page.input_value("#cit-token") == token
        page.click("#cit-rating label:has-text('★★★★★')")
        page.fill("#cit-comment", "处理很快")
        page.screenshot(path=str(OUTPUT / "phone-citizen-rate-390x844.png"), full_page=True)
        page.click("#cit-rate-btn")
        expect(page.locator("#cit-rate-msg .ph-ok")).to_contain_text("感谢您的评价", timeout=15000)
        expect(page.locator("#cit-status")).to_contain_text("★★★★★", timeout=15000)
        expect(page.locator("#cit-rate")).to_be_hidden()
        rated = call(cfg, "GET", f"/open311/v2/requests/{rid}.json")[0]
        assert rated["rating"] == 5

        # the per-address limit (3 a minute here) answers with a readable 429
        for _ in range(2 * RATE_LIMIT + 2):
            before = text_of(page, "#cit-receipt")
            page.click("#cit-submit")
            page.wait_for_function(
                "b => document.getElementById('cit-receipt').innerText !== b || document.querySelector('#cit-msg .ph-error')",
                arg=before, timeout=15000,
            )  # fmt: skip
            if page.locator("#cit-msg .ph-error").count():
                break
        expect(page.locator("#cit-msg .ph-error")).to_contain_text("提交过于频繁")
        page.screenshot(path=str(OUTPUT / "phone-citizen-429-390x844.png"))
        assert page.errors == []
        ctx.close()


@pytest.mark.browser
def test_language_switch_on_phone_pages(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, _ = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    with sync_playwright() as p:
        ctx, page = phone_page(p, tmp_path, url, *site(grid, 0)[1:])
        page.goto(url + "/citizen")
        expect(page.locator("label[for=cit-category]")).to_have_text("问题类别", timeout=30000)
        page.click("#lang-switch")
        expect(page.locator("label[for=cit-category]")).to_have_text("Category", timeout=30000)
        assert "lang=en" in page.url
        assert text_of(page, "#cit-submit") == "Send report"
        page.click("#cit-category")
        expect(page.get_by_role("option", name="Exposed rubbish", exact=True)).to_be_visible()
        page.keyboard.press("Escape")
        wait_map(page, "cit-map")
        page.screenshot(path=str(OUTPUT / "phone-citizen-en-390x844.png"), full_page=True)

        page.goto(url + "/inspector?lang=en")
        expect(page.locator("#insp-login-btn")).to_have_text("Log in", timeout=30000)
        assert text_of(page, "label[for=insp-username]") == "Username"
        page.click("#lang-switch")
        expect(page.locator("#insp-login-btn")).to_have_text("登录", timeout=30000)

        page.set_viewport_size({"width": 1920, "height": 1080})
        page.goto(url + "/citizen?lang=en")
        wait_map(page, "cit-map")
        page.screenshot(path=str(OUTPUT / "phone-citizen-en-1920x1080.png"))
        ctx.close()


@pytest.mark.browser
def test_inspector_rejects_with_a_reason_and_escalates(tmp_path, stack):
    """Issue 11 item 11: turn a dispatch down (with a reason) or escalate it from the phone; the
    English nav fits one line at 390 px."""
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, r = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    made = []
    for k in (30, 45):
        _, lon, lat = site(grid, k)
        publish(r, DETECTIONS, Detection(id=f"phone-turn-{k}", type="illegal_parking", camera_id="cam-9", lon=lon,
                                         lat=lat, observed_at=datetime.now(UTC)))  # fmt: skip
        made.append((lon, lat))
    with sync_playwright() as p:
        ctx, page = phone_page(p, tmp_path, url, *made[0])
        page.goto(url + "/inspector?lang=en")
        nav = page.locator("nav.nav")
        links = nav.locator("a")
        expect(links).to_have_count(3)  # Inspector, Report a problem, 中文
        boxes = [links.nth(k).bounding_box() for k in range(3)]
        middles = [b["y"] + b["height"] / 2 for b in boxes]
        assert max(middles) - min(middles) < 4, boxes  # one line
        assert nav.bounding_box()["height"] < 60 and nav.evaluate("e => e.scrollWidth <= e.clientWidth")
        page.fill("#insp-username", "ivan")
        page.fill("#insp-password", "ivan-password")
        page.press("#insp-password", "Enter")
        expect(page.locator("#insp-who")).to_have_text("Signed in as: 王小明", timeout=30000)
        cards = page.locator("[id*='insp-card']")
        expect(cards).to_have_count(2, timeout=30000)
        ids = sorted(int(c.split("#", 1)[1].split()[0]) for c in cards.all_inner_texts())
        page.screenshot(path=str(OUTPUT / "phone-inspector-en-390x844.png"))

        def choose(iid: int) -> None:
            page.locator(f"[id*='insp-card']:has-text('#{iid} ')").click()
            expect(page.locator("#insp-info")).to_contain_text(f"#{iid} ", timeout=15000)

        choose(ids[0])
        page.click("#insp-reject")
        expect(page.locator("#insp-msg .ph-error")).to_have_text("Give a reason", timeout=15000)
        page.fill("#insp-reason", "No car there: the camera saw a shadow")
        page.screenshot(path=str(OUTPUT / "phone-inspector-reject-390x844.png"), full_page=True)
        page.click("#insp-reject")
        expect(page.locator("#insp-msg .ph-ok")).to_have_text(f"#{ids[0]} Rejected", timeout=15000)
        expect(cards).to_have_count(1, timeout=15000)
        expect(page.locator("#insp-finished")).to_contain_text(f"#{ids[0]} ", timeout=15000)
        assert page.input_value("#insp-reason") == ""

        choose(ids[1])
        page.fill("#insp-reason", "Blocked by a lorry: needs the traffic police")
        page.click("#insp-escalate")
        expect(page.locator("#insp-msg .ph-ok")).to_have_text(f"#{ids[1]} Escalated", timeout=15000)
        expect(page.locator("#insp-state")).to_have_attribute("data-state", "escalated", timeout=15000)
        expect(page.locator("#insp-escalate")).to_be_disabled()
        page.screenshot(path=str(OUTPUT / "phone-inspector-escalated-390x844.png"), full_page=True)
        assert page.errors == []
        ctx.close()
    rejected = call(cfg, "GET", f"/api/v1/incidents/{ids[0]}", user="olga")
    assert rejected["state"] == "rejected" and rejected["events"][-1]["note"].startswith("No car there")
    assert rejected["events"][-1]["actor"] == "ivan"
    escalated = call(cfg, "GET", f"/api/v1/incidents/{ids[1]}", user="olga")
    assert escalated["state"] == "escalated" and escalated["escalated"] is True
