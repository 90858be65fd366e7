"""The zone editor in real Chromium against the real services (issue 12 item 3): a desk operator
draws a zone over the camera's live frame with the mouse, gives it its rule, saves; the running
vision worker swaps it in without a restart and the car parked in it raises an incident. A
self-intersecting polygon gets the words of ``cityops config check`` and nothing is written."""

from __future__ import annotations

import time

import pytest
import yaml

from cityops.config import CityOpsConfig
from streams.schemas import INCIDENTS, decode
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import launch_browser
from tests.services import create_users, services, write_config
from vision import zone_overrides
from vision.sources import DEMO_CLIP_ZONE, demo_clip_camera, make_demo_clip

VERGE = {**DEMO_CLIP_ZONE, "id": "verge", "polygon": [[0, 0], [640, 0], [640, 80], [0, 80]]}
BAY = [(370, 240), (610, 240), (610, 355), (370, 355)]  # the generated clip's parking bay, a bit wider
BOWTIE = [(60, 120), (300, 220), (300, 120), (60, 220)]

TO_PAGE = """([x, y]) => {
    const gd = document.querySelector('#zones-graph .js-plotly-plot');
    const fl = gd._fullLayout, r = gd.getBoundingClientRect();
    return [r.left + fl.xaxis._offset + fl.xaxis.d2p(x), r.top + fl.yaxis._offset + fl.yaxis.d2p(y)];
}"""


@pytest.fixture
def stack(tmp_path, redis_url):
    clip = make_demo_clip(tmp_path / "street.avi")
    cfg = make_config(tmp_path, cameras=[demo_clip_camera(clip, id="cam-ed", zones=[VERGE])],
                      dispatch={"port": free_port()}, dashboard={"port": free_port(), "refresh_ms": 500})  # fmt: skip
    create_users(cfg, ("olga", "operator"), ("vera", "viewer"))
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("api", "dispatch", "dashboard", "vision")):
        yield cfg


def draw(page, points) -> None:
    """A closed path dragged through ``points`` (frame pixels) with the mouse."""
    at = [page.evaluate(TO_PAGE, list(p)) for p in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for p in at[1:]:
        page.mouse.move(*p, steps=8)
    page.mouse.move(*at[0], steps=4)
    page.mouse.up()


def set_cell(page, row: int, column: str, text: str) -> None:
    from playwright.sync_api import expect

    cell = page.locator(f'#zones-table td[data-dash-column="{column}"]').nth(row)
    cell.dblclick()  # edit mode: the cell's input
    cell.locator("input").fill(text)
    cell.locator("input").press("Enter")
    expect(page.locator(f'#zones-table td[data-dash-column="{column}"]').nth(row)).to_have_text(text)


def rows(page) -> int:
    return page.locator('#zones-table td[data-dash-column="id"]').count()


def incident_in(r, zone_id: str) -> object | None:
    for _, f in r.xrange(INCIDENTS):
        ev = decode(f)
        if ev.action == "created" and ev.zone_id == zone_id:
            return ev
    return None


def open_editor(page, cfg: CityOpsConfig, user: str) -> None:
    page.goto(f"http://127.0.0.1:{cfg.dashboard.port}/zones?lang=en")
    page.fill("#zones-user", user)
    page.fill("#zones-password", f"{user}-password")
    page.click("#zones-login")


@pytest.mark.browser
def test_draw_a_zone_save_and_the_running_worker_raises_an_incident_in_it(tmp_path, stack, r):
    from playwright.sync_api import expect, sync_playwright

    cfg = stack
    override = zone_overrides.override_path(cfg.data, "cam-ed")
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        open_editor(page, cfg, "vera")  # a viewer account may watch the board, not edit zones
        expect(page.locator("#zones-login-msg")).not_to_be_empty(timeout=30000)
        assert page.locator("#zones-main").is_hidden()

        open_editor(page, cfg, "olga")
        page.wait_for_function(  # the worker's live frame under the graph
            "() => { const gd = document.querySelector('#zones-graph .js-plotly-plot');"
            " return !!(gd && gd.layout && gd.layout.images && gd.layout.images.length); }",
            timeout=60000,
        )
        expect(page.locator("#zones-frame-msg")).to_contain_text("Live frame (640×360)")
        expect(page.locator("#zones-frame-msg")).to_contain_text("the config file's")
        assert rows(page) == 1  # the config's verge zone

        draw(page, BAY)
        expect(page.locator('#zones-table td[data-dash-column="id"]')).to_have_count(2, timeout=20000)
        expect(page.locator('#zones-table td[data-dash-column="id"]').nth(1)).to_have_text("zone-1")
        set_cell(page, 1, "rules", "illegal_parking")
        set_cell(page, 1, "classes", "object, car")
        set_cell(page, 1, "dwell_s", "3")
        set_cell(page, 1, "active_hours", "00:00-23:59")
        expect(page.locator('#zones-table td[data-dash-column="rules"]').nth(1)).to_have_text(
            "illegal_parking"
        )
        page.screenshot(path=str(OUTPUT / "zone-editor-drawn.png"))
        page.click("#zones-save")
        expect(page.locator("#zones-result.ok")).to_contain_text("Saved 2 zone(s)", timeout=30000)

        doc = yaml.safe_load(override.read_text())
        drawn = next(z for z in doc["zones"] if z["id"] == "zone-1")
        assert drawn["rules"] == ["illegal_parking"] and drawn["dwell_s"] == 3
        xs, ys = [x for x, _ in drawn["polygon"]], [y for _, y in drawn["polygon"]]
        assert (
            abs(min(xs) - 370) < 8
            and abs(max(xs) - 610) < 8
            and abs(min(ys) - 240) < 8
            and abs(max(ys) - 355) < 8
        )

        # the running worker applies it (no restart) and the parked car raises an incident there
        deadline = time.monotonic() + 150  # the clip loops every 40 s; the car parks 20 s of it
        while (ev := incident_in(r, "zone-1")) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ev is not None and ev.type == "illegal_parking" and ev.camera_id == "cam-ed"

        # a self-intersecting polygon: config check's words, and the file stays as it was
        saved = override.read_bytes()
        draw(page, BOWTIE)
        expect(page.locator('#zones-table td[data-dash-column="id"]')).to_have_count(3, timeout=20000)
        set_cell(page, 2, "rules", "illegal_parking")
        page.click("#zones-save")
        errors = page.locator("#zones-errors")
        expect(errors).to_contain_text("zones[2].polygon: value", timeout=30000)
        expect(errors).to_contain_text("invalid polygon (Self-intersection")
        expect(page.locator("#zones-result")).to_contain_text("Not saved")
        page.screenshot(path=str(OUTPUT / "zone-editor-refused.png"))
        assert override.read_bytes() == saved
        assert not list((override.parent / zone_overrides.HISTORY_DIR).glob("*.yaml"))  # first save: none

        # the bad polygon deleted (its row's ✕): saved, the previous version kept
        page.locator("#zones-table td.dash-delete-cell").nth(2).click()
        expect(page.locator('#zones-table td[data-dash-column="id"]')).to_have_count(2, timeout=20000)
        page.wait_for_function(
            "() => document.querySelector('#zones-graph .js-plotly-plot').layout.shapes.length === 2"
        )
        page.click("#zones-save")
        expect(page.locator("#zones-result.ok")).to_contain_text("Saved 2 zone(s)", timeout=30000)
        expect(page.locator("#zones-frame-msg")).to_contain_text("saved by the editor")
        history = list((override.parent / zone_overrides.HISTORY_DIR).glob("cam-ed@*.yaml"))
        assert [h.read_bytes() for h in history] == [saved]
        assert [z["id"] for z in yaml.safe_load(override.read_text())["zones"]] == ["verge", "zone-1"]
        ctx.close()


@pytest.fixture
def desks(tmp_path, redis_url):
    """The editor for two desks: the board and the dispatch API (no vision worker: the frame is the
    video file's first)."""
    clip = make_demo_clip(tmp_path / "street.avi")
    cfg = make_config(tmp_path, cameras=[demo_clip_camera(clip, id="cam-ed", zones=[VERGE])],
                      dispatch={"port": free_port()}, dashboard={"port": free_port(), "refresh_ms": 500})  # fmt: skip
    create_users(cfg, ("olga", "operator"), ("sam", "supervisor"))
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("api", "dispatch", "dashboard")):
        yield cfg


def names_in_file(cfg: CityOpsConfig) -> list[str]:
    doc = yaml.safe_load(zone_overrides.override_path(cfg.data, "cam-ed").read_text())
    return [z.get("name") for z in doc["zones"]]


@pytest.mark.browser
def test_two_desks_on_one_camera_the_later_save_is_refused_with_who_and_nothing_is_lost(tmp_path, desks):
    """Olga and Sam open the same camera; Olga saves first. Sam's save (from what he read before) is
    refused with Olga's name, his edit stays in his table, and a second Save replaces hers on
    purpose; Olga's next save is then refused in turn, naming Sam."""
    from playwright.sync_api import expect, sync_playwright

    cfg = desks
    override = zone_overrides.override_path(cfg.data, "cam-ed")
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        olga, sam = ctx.new_page(), ctx.new_page()  # two tabs: two logins (kept per tab)
        for page, user in ((olga, "olga"), (sam, "sam")):
            open_editor(page, cfg, user)
            expect(page.locator("#zones-frame-msg")).to_contain_text("the config file's", timeout=60000)
            assert rows(page) == 1  # the config's verge zone
        set_cell(olga, 0, "name", "kerb by olga")
        olga.click("#zones-save")
        expect(olga.locator("#zones-result.ok")).to_contain_text("Saved 1 zone(s)", timeout=30000)
        assert names_in_file(cfg) == ["kerb by olga"]

        set_cell(sam, 0, "name", "kerb by sam")
        sam.click("#zones-save")
        refused = sam.locator("#zones-result.error")
        expect(refused).to_contain_text("Not saved: olga saved this camera's zones at", timeout=30000)
        expect(refused).to_contain_text("Save again to replace them with yours")
        sam.screenshot(path=str(OUTPUT / "zone-editor-conflict.png"))
        assert names_in_file(cfg) == ["kerb by olga"]  # nothing written
        expect(sam.locator('#zones-table td[data-dash-column="name"]').nth(0)).to_have_text("kerb by sam")

        sam.click("#zones-save")  # knowingly: his zones replace hers
        expect(sam.locator("#zones-result.ok")).to_contain_text("Saved 1 zone(s)", timeout=30000)
        assert names_in_file(cfg) == ["kerb by sam"]
        history = list((override.parent / zone_overrides.HISTORY_DIR).glob("cam-ed@*.yaml"))
        assert len(history) == 1 and "kerb by olga" in history[0].read_text()  # hers kept

        set_cell(olga, 0, "name", "kerb by olga, again")
        olga.click("#zones-save")
        expect(olga.locator("#zones-result.error")).to_contain_text(
            "sam saved this camera's zones", timeout=30000
        )
        assert names_in_file(cfg) == ["kerb by sam"]
        olga.click("#zones-reload")  # Reload: the zones in use now, Sam's
        expect(olga.locator('#zones-table td[data-dash-column="name"]').nth(0)).to_have_text(
            "kerb by sam", timeout=30000
        )
        olga.click("#zones-save")  # from the revision just read: no conflict
        expect(olga.locator("#zones-result.ok")).to_contain_text("Saved 1 zone(s)", timeout=30000)
        ctx.close()
