"""The operator's console in real headless Chromium at 1920x1080 against real processes (dispatch,
API, board), a real store and Redis (issue 11 items 1-4): the selection is an incident id that
survives live re-sorts, sorting and filtering; actions land on it and name it; errors in the page's
language; the evidence of the work done; folded merges; names, not codes; a login kept for the
origin."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from dashboard.api_client import ApiResult
from dashboard.errors import api_error
from dashboard.pages.console import fold_merges, index_of, sla_marks, sla_text
from gis.default import load_grid
from streams.bus import connect, publish
from streams.schemas import DETECTIONS, Detection
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import launch_browser, png
from tests.services import create_users, services, write_config

ROSTER = [
    {"id": "insp-a", "name": "王小明", "cells": ["130203001"]},
    {"id": "insp-b", "name": "李四", "cells": ["130203002"]},
    {"id": "sup-1", "name": "赵主管", "cells": ["130203"], "role": "supervisor"},
]


# -- pure helpers ----------------------------------------------------------------------------------
def test_fold_merges_groups_runs_of_repeated_merges():
    ev = [{"action": a, "at": k} for k, a in enumerate(["created", "merged", "merged", "merged", "assigned", "merged", "merged"])]  # fmt: skip
    folded = fold_merges(ev)
    assert [(kind, [e["at"] for e in g]) for kind, g in folded] == [
        ("one", [0]), ("merges", [1, 2, 3]), ("one", [4]), ("merges", [5, 6]),
    ]  # fmt: skip
    assert fold_merges([{"action": "merged", "at": 0}]) == [("one", [{"action": "merged", "at": 0}])]


def test_sla_marks_and_countdown():
    t0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    due = {
        s: (t0 + timedelta(minutes=m)).isoformat()
        for s, m in (("accept", 1), ("arrive", 60), ("resolve", 120))
    }
    inc = {"state": "on_site", "due": due, "accepted_at": (t0 + timedelta(minutes=3)).isoformat(),
           "arrived_at": (t0 + timedelta(minutes=30)).isoformat(), "resolved_at": None, "closed_at": None,
           "breaches": ["accept"]}  # fmt: skip
    now = t0 + timedelta(minutes=90)
    marks = {m["stage"]: (m["late"], m["done"] is not None) for m in sla_marks(inc, now)}
    assert marks == {"accept": (True, True), "arrive": (False, True), "resolve": (False, False)}
    assert sla_text(inc, now, "zh-CN") == ("处置 剩余 30:00", 0)
    assert sla_text(inc, now + timedelta(minutes=45), "en") == ("Resolve over 15:00", 1)
    late = {m["stage"]: m["late"] for m in sla_marks(inc, now + timedelta(minutes=45))}
    assert late["resolve"] is True
    assert sla_text({**inc, "closed_at": now.isoformat()}, now, "en") == ("", 0)


def test_selection_index_and_errors_in_the_page_language():
    data = [{"id": 7}, {"id": 3}, {"id": 5}]
    assert index_of(data, 3) == [1] and index_of(data, 9) == [] and index_of(data, None) == []
    refused = ApiResult(
        False, 409, error="cannot go from 'closed' to 'verified'; allowed: none (final state)"
    )
    zh = api_error(refused, "zh-CN", incident_id=3, action="verify", state="closed")
    assert zh == "案件 #3 当前为「已结案」，不能执行「核查通过」" and "cannot" not in zh
    assert "Incident #3 is Closed" in api_error(refused, "en", incident_id=3, action="verify", state="closed")
    assert api_error(ApiResult(False, 500), "zh-CN") == "操作失败（500）"


# -- the real stack --------------------------------------------------------------------------------
@pytest.fixture
def stack(tmp_path, redis_url):
    cfg = make_config(tmp_path, roster=ROSTER, sla={"accept_s": 25, "arrive_s": 3600, "resolve_s": 7200},
                      dispatch={"port": free_port(), "sla_sweep_s": 1},
                      dashboard={"port": free_port(), "refresh_ms": 500})  # fmt: skip
    create_users(cfg, ("olga", "operator"), ("ivan", "inspector", "insp-a"), ("bob", "inspector", "insp-b"))
    path = write_config(cfg, tmp_path / "cfg.yaml")
    r = connect(redis_url)
    with services(cfg, path, redis_url, ("dispatch", "api", "dashboard")):
        yield cfg, load_grid(cfg.grid, cfg.data), r
    r.close()


class Api:
    def __init__(self, cfg) -> None:
        self.base, self.tokens = f"http://127.0.0.1:{cfg.dispatch.port}", {}

    def call(self, method: str, path: str, body=None, user: str = "olga", files=None):
        if user not in self.tokens:
            self.tokens[user] = self._raw(
                "POST", "/api/v1/login", {"username": user, "password": f"{user}-password"}
            )["token"]
        return self._raw(method, path, body, self.tokens[user])

    def _raw(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, method=method, headers=headers, data=data)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def upload(self, iid: int, user: str, content: bytes) -> str:
        boundary = "xxBOUNDARYxx"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
                "Content-Type: image/png\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
        req = urllib.request.Request(f"{self.base}/api/v1/incidents/{iid}/photos", method="POST", data=body,
                                     headers={"Authorization": f"Bearer {self.tokens[user]}",
                                              "Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["photo"]

    def incidents(self) -> list[dict]:
        return self.call("GET", "/api/v1/incidents?limit=1000")


def detect(r, api: Api, cfg, grid, k: int, type_="illegal_parking", evidence: str | None = None) -> int:
    """A camera detection in cell ``k``: returns the incident it became (or merged into)."""
    cell = grid.cells[k]
    p = cell.geometry.representative_point()
    if evidence:
        path = cfg.data / evidence
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (320, 180), (40 + 7 * k % 200, 80, 120)).save(path, "JPEG")
    det_id = f"console-{k}-{time.time_ns()}"
    publish(r, DETECTIONS, Detection(id=det_id, type=type_, lon=p.x, lat=p.y, observed_at=datetime.now(UTC),
                                     camera_id="cam-1", evidence=evidence))  # fmt: skip
    end = time.monotonic() + 20
    while time.monotonic() < end:
        hits = [i for i in api.incidents() if i["cell"] == cell.code and i["type"] == type_]
        if hits:
            return hits[0]["id"]
        time.sleep(0.2)
    raise AssertionError(f"detection in cell {cell.code} did not become an incident")


TABLE_JS = """() => [...document.querySelectorAll('#console-table tbody tr')]
  .filter(r => r.querySelector('td[data-dash-column=id]'))
  .map(r => ({id: parseInt(r.querySelector('td[data-dash-column=id]').innerText),
              checked: !!(r.querySelector('input[type=radio]') || {}).checked,
              state: r.querySelector('td[data-dash-column=state]').innerText,
              sla: r.querySelector('td[data-dash-column=sla]').innerText,
              slaColour: getComputedStyle(r.querySelector('td[data-dash-column=sla]')).color}))"""


def table(page) -> list[dict]:
    return page.evaluate(TABLE_JS)


def checked_ids(page) -> list[int]:
    return [row["id"] for row in table(page) if row["checked"]]


def wait_row(page, iid: int, state: str | None = None) -> None:
    page.wait_for_function(
        "([id, st]) => [...document.querySelectorAll('#console-table td[data-dash-column=id]')].some(td =>"
        " parseInt(td.innerText) === id && (!st || td.parentElement.querySelector('td[data-dash-column=state]').innerText === st))",
        arg=[iid, state], timeout=30000,
    )  # fmt: skip


def desk_login(p, tmp_path, url):
    """Olga logged in to the console at 1920x1080 (``page.errors`` gathers the page's errors)."""
    ctx = launch_browser(p, tmp_path / "olga")
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + "/console")
    page.fill("#console-user", "olga")
    page.fill("#console-password", "olga-password")
    page.click("#console-login")
    page.wait_for_selector("#console-main", state="visible")
    return ctx, page


ROWS = "#console-table tbody tr:has(td[data-dash-column=id])"


def pick(page, iid: int) -> None:
    """Press the radio button of ``iid``'s row (found again if the table moved under the pointer)."""
    for _ in range(5):
        ids = [row["id"] for row in table(page)]
        try:  # a live update can redraw the row between the press and Playwright's look at the button
            page.locator(ROWS).nth(ids.index(iid)).locator("input[type=radio]").check()
            page.wait_for_function("id => ((document.getElementById('detail-id') || {}).innerText || '').trim() === '#' + id",
                                   arg=iid, timeout=10000)  # fmt: skip
            return
        except Exception:  # noqa: BLE001 - the rows moved between reading and pressing: again
            continue  # (the detail pane must show the id: a selection that does not follow fails below)
    page.screenshot(path=str(OUTPUT / "console-pick-failed.png"))
    raise AssertionError(f"could not select #{iid}: {table(page)}")


CELL_JS = """([id, col]) => { const td = [...document.querySelectorAll('#console-table td[data-dash-column=id]')]
  .find(td => parseInt(td.innerText) === id);
  return td ? td.parentElement.querySelector('td[data-dash-column=' + col + ']').innerText : null; }"""


def cell(page, iid: int, col: str) -> str | None:
    return page.evaluate(CELL_JS, [iid, col])


def wait_cell(page, iid: int, col: str, text: str, timeout: float = 30000) -> None:
    page.wait_for_function(
        "([id, col, text]) => { const td = [...document.querySelectorAll('#console-table td[data-dash-column=id]')]"
        ".find(td => parseInt(td.innerText) === id);"
        " return !!td && td.parentElement.querySelector('td[data-dash-column=' + col + ']').innerText.includes(text); }",
        arg=[iid, col, text], timeout=timeout,
    )  # fmt: skip


def assert_on(page, iid: int) -> None:
    """The radio button, the lit row and the detail pane all on ``iid``."""
    assert checked_ids(page) in ([iid], []), (
        iid,
        table(page),
    )  # [] while it is filtered out or on another page
    assert page.inner_text("#detail-id").strip() == f"#{iid}"
    labels = page.locator("#console-actions button").all_inner_texts()
    assert labels and all(label.endswith(f"#{iid}") for label in labels), labels


@pytest.mark.browser
def test_console_selection_follows_the_incident_through_live_updates(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, r = stack
    api = Api(cfg)
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    street1 = [k for k, c in enumerate(grid.cells) if c.street == "130203001"]
    street2 = [k for k, c in enumerate(grid.cells) if c.street == "130203002"]
    target = detect(r, api, cfg, grid, street1[0], evidence="evidence/cam-1/a.jpg")
    other = detect(r, api, cfg, grid, street2[0])
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/console")
        page.fill("#console-user", "olga")
        page.fill("#console-password", "wrong-password")
        page.click("#console-login")
        expect(page.locator("#console-login-msg")).to_have_text("用户名或密码错误", timeout=30000)
        page.fill("#console-password", "olga-password")
        page.click("#console-login")
        page.wait_for_selector("#console-table", state="visible", timeout=30000)
        expect(page.locator("#console-who")).to_have_text("值班员: olga", timeout=30000)
        wait_row(page, target)
        wait_row(page, other)
        pick(page, target)
        assert_on(page, target)

        # 22 live updates, each re-sorting the table (newest change first): new incidents, and
        # inspectors accepting older ones; after each, everything still on the selected incident
        made, updates, seen_at = [other], 0, set()
        for k in range(11):
            iid = detect(r, api, cfg, grid, (street1 if k % 2 else street2)[k + 2])
            made.append(iid)
            wait_row(page, iid)
            assert_on(page, target)
            older = made[-2]
            inc = api.call("GET", f"/api/v1/incidents/{older}")
            user = "ivan" if inc["assignee"] == "insp-a" else "bob"
            api.call("POST", f"/api/v1/incidents/{older}/accept", {}, user=user)
            wait_row(page, older, "已接单")
            assert_on(page, target)
            updates += 2
            seen_at.add([row["id"] for row in table(page)].index(target))
        assert updates >= 20
        assert len(seen_at) >= 3, seen_at  # the selected row was moved around by the updates

        # sorting and filtering keep it too
        page.locator("#console-table th[data-dash-column=id] .column-header--sort").first.click()
        page.wait_for_timeout(300)
        assert_on(page, target)
        street_name = grid.by_code[grid.cells[street1[0]].code].street_zh
        flt = page.locator("#console-table th.dash-filter[data-dash-column=street] input[type=text]")
        flt.fill(street_name)
        flt.press("Enter")
        page.wait_for_timeout(500)
        assert all(row["id"] in made + [target] for row in table(page))
        assert_on(page, target)
        flt.fill(grid.by_code[grid.cells[street2[0]].code].street_zh)
        flt.press("Enter")
        page.wait_for_timeout(500)
        assert target not in [row["id"] for row in table(page)]
        assert page.inner_text("#detail-id").strip() == f"#{target}"  # filtered out of view, still selected
        flt.fill("")
        flt.press("Enter")

        # names, not codes; the source; the SLA countdown red once overdue, escalation shown
        home = grid.cells[street1[0]]
        assert (
            cell(page, target, "street") == home.street_zh
            and cell(page, target, "community") == home.community_zh
        )
        assert cell(page, target, "assignee") == "王小明" and cell(page, target, "source") == "视频"
        wait_cell(page, target, "sla", "接单 超时", timeout=40000)
        [late] = [row for row in table(page) if row["id"] == target]
        assert late["slaColour"] == "rgb(255, 77, 79)"
        assert all(row["slaColour"] != "rgb(255, 77, 79)" for row in table(page) if "剩余" in row["sla"])
        wait_cell(page, target, "escalated", "已升级 → 赵主管")
        accept = page.locator("#sla-line .step[data-stage=accept]")  # the SLA time line marks it late, in red
        expect(accept).to_have_attribute("data-late", "1", timeout=30000)
        assert accept.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(255, 77, 79)"
        expect(page.locator("#detail-body .escalated")).to_contain_text("已升级 → 赵主管")
        assert_on(page, target)
        page.screenshot(path=str(OUTPUT / "console-selection-1920x1080.png"))

        # act: the action lands on the selected id, and says so
        page.fill("#action-note", "误报")
        page.click(f"#console-actions button:text-is('不予立案 #{target}')")
        expect(page.locator("#action-msg")).to_contain_text(f"✓ #{target} 不予立案", timeout=30000)
        assert api.call("GET", f"/api/v1/incidents/{target}")["state"] == "rejected"
        assert [i["id"] for i in api.incidents() if i["state"] == "rejected"] == [target]

        # a refusal in the page's language: merging another incident into the rejected one
        victim = made[-1]
        pick(page, victim)
        page.fill("#merge-into", str(target))
        page.click(f"#console-actions button:text-is('合并 #{victim}')")
        expect(page.locator("#action-msg")).to_have_text(
            f"✗ 无法将案件 #{victim} 合并到 #{target}（目标案件须为未结案件）", timeout=30000
        )
        assert api.call("GET", f"/api/v1/incidents/{victim}")["state"] != "duplicate"

        # a click on any cell of a row selects that incident too, and it stays through the next update
        clicked = made[3]
        ids = [row["id"] for row in table(page)]
        page.locator(ROWS).nth(ids.index(clicked)).locator("td[data-dash-column=type]").click()
        page.wait_for_function("id => ((document.getElementById('detail-id') || {}).innerText || '').trim() === '#' + id",
                               arg=clicked, timeout=30000)  # fmt: skip
        wait_row(page, detect(r, api, cfg, grid, street2[-1]))
        page.wait_for_timeout(1000)
        assert_on(page, clicked)
        assert checked_ids(page) == [clicked]
        assert errors == [], errors
        ctx.close()


@pytest.mark.browser
def test_console_evidence_merges_and_login_for_the_origin(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, r = stack
    api = Api(cfg)
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    k = next(k for k, c in enumerate(grid.cells) if c.street == "130203001")
    iid = detect(r, api, cfg, grid, k, evidence="evidence/cam-1/before.jpg")
    for _ in range(6):  # the camera sees it again and again: merged into the same incident
        assert detect(r, api, cfg, grid, k, evidence="evidence/cam-1/before.jpg") == iid
    end = time.monotonic() + 20
    while sum(e["action"] == "merged" for e in api.call("GET", f"/api/v1/incidents/{iid}")["events"]) < 6:
        assert time.monotonic() < end
        time.sleep(0.2)
    inc = api.call("GET", f"/api/v1/incidents/{iid}")
    api.call("POST", f"/api/v1/incidents/{iid}/accept", {}, user="ivan")
    photos = [api.upload(iid, "ivan", png((400 + 40 * j, 300))) for j in range(2)]
    here = (inc["lon"] + 0.0003, inc["lat"] + 0.0002)
    api.call(
        "POST",
        f"/api/v1/incidents/{iid}/arrive",
        {"lon": here[0], "lat": here[1], "photos": photos[:1]},
        user="ivan",
    )
    api.call(
        "POST", f"/api/v1/incidents/{iid}/resolve", {"note": "清理完毕", "photos": photos[1:]}, user="ivan"
    )
    detail = api.call("GET", f"/api/v1/incidents/{iid}")
    assert detail["after_photos"] == photos and 20 < detail["arrival"]["distance_m"] < 60

    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(url + "/console")
        page.fill("#console-user", "olga")
        page.fill("#console-password", "olga-password")
        page.press("#console-password", "Enter")
        wait_row(page, iid, "已处置")
        pick(page, iid)
        # before and after side by side, loaded
        page.wait_for_function(
            "() => { const i = document.querySelector('#evidence-before img'); return i && i.naturalWidth === 320; }"
        )
        page.wait_for_function(
            "() => [...document.querySelectorAll('#evidence-after img')].filter(i => i.naturalWidth >= 400).length === 2"
        )
        before, after = (
            page.locator("#evidence-before").bounding_box(),
            page.locator("#evidence-after").bounding_box(),
        )
        assert (
            abs(before["y"] - after["y"]) < 2 and after["x"] > before["x"] + before["width"] - 1
        )  # side by side
        expect(page.locator("#arrival-distance")).to_have_text(
            f"距案发点 {detail['arrival']['distance_m']:.0f} 米"
        )
        page.wait_for_function(
            "() => { const g = document.querySelector('#detail-map .js-plotly-plot'); return !!(g && g.data) && g.data.length === 3; }"
        )
        # the SLA time line: a mark per stage with its due time; the late accept in red
        stages = page.locator("#sla-line .step[data-stage]")
        expect(stages).to_have_count(3)
        assert stages.nth(0).inner_text().count("时限") == 1
        # the audit trail: six merges in one row, the full list one click away
        folded = page.locator("#timeline li.folded")
        expect(folded).to_have_count(1)
        assert folded.get_attribute("data-count") == "6"
        assert folded.locator("summary").inner_text().startswith("合并上报 ×6 · 首次 ")
        expect(folded.locator("ol li").first).to_be_hidden()
        folded.locator("summary").click()
        expect(folded.locator("ol li")).to_have_count(6)
        expect(folded.locator("ol li").first).to_be_visible()
        page.screenshot(path=str(OUTPUT / "console-evidence-1920x1080.png"))
        page.screenshot(path=str(OUTPUT / "console-evidence-full-1920x1080.png"), full_page=True)
        # a new tab of the same origin is still logged in; the logout ends both
        second = ctx.new_page()
        second.goto(url + "/console?lang=en")
        second.wait_for_selector("#console-table", state="visible", timeout=30000)
        expect(second.locator("#console-who")).to_have_text("Signed in: olga", timeout=30000)
        wait_row(second, iid, "Resolved")
        assert (
            cell(second, iid, "street") == grid.cells[k].street_en and cell(second, iid, "source") == "Camera"
        )
        second.screenshot(path=str(OUTPUT / "console-en-1920x1080.png"))
        second.click("#console-logout")
        second.wait_for_selector("#console-login-box", state="visible", timeout=30000)
        page.reload()
        page.wait_for_selector("#console-login-box", state="visible", timeout=30000)
        assert page.evaluate("localStorage.getItem('console-token')") in (None, "null")
        ctx.close()


@pytest.mark.browser
def test_presses_land_while_live_updates_redraw_the_action_bar(tmp_path, stack):
    """Re-raises stream into the selected incident, each redrawing its detail and action bar; an
    operator pressing 合并 over and over (into a new, missing case each time) gets an answer to every
    press. A button redrawn between the click and its callback used to swallow the press (found by
    a flaky CI run: the message never came)."""
    from playwright.sync_api import expect, sync_playwright

    cfg, grid, r = stack
    api = Api(cfg)
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    k = next(k for k, c in enumerate(grid.cells) if c.street == "130203001")
    target = detect(r, api, cfg, grid, k)
    p0 = grid.cells[k].geometry.representative_point()
    stop = threading.Event()

    def reraise():  # the same cell's camera again and again: merged into ``target``, a new version each
        n = 0
        while not stop.is_set():
            n += 1
            publish(r, DETECTIONS, Detection(id=f"again-{n}-{time.time_ns()}", type="illegal_parking", lon=p0.x,
                                             lat=p0.y, observed_at=datetime.now(UTC), camera_id="cam-1"))  # fmt: skip
            stop.wait(0.15)

    with sync_playwright() as p:
        ctx, page = desk_login(p, tmp_path, url)
        wait_row(page, target)
        pick(page, target)
        versions = []
        feeder = threading.Thread(target=reraise, daemon=True)
        feeder.start()
        try:
            for n in range(1, 16):
                missing = 900000 + n
                page.fill("#merge-into", str(missing))
                page.locator(f"#console-actions button:text-is('合并 #{target}')").click()
                expect(page.locator("#action-msg")).to_contain_text(f"#{missing}", timeout=15000)
                versions.append(api.call("GET", f"/api/v1/incidents/{target}")["version"])
        finally:
            stop.set()
            feeder.join()
        assert versions[-1] > versions[0] + 5, versions  # the bar was being redrawn all along
        assert api.call("GET", f"/api/v1/incidents/{target}")["state"] not in ("duplicate", "closed")
        assert page.errors == [], page.errors
        ctx.close()
