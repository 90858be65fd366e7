"""The camera wall at district scale (issue 18 item 2, issue 12 item 1), in real headless Chromium
against the real API and board processes, real Redis and store: 7,803 cameras spread over the default
grid, their health written through the workers' own reporter (streams.camera_state, as bench/fleet.py
does), some offline and some in error.

- the board stays one screen: its camera panel is a summary (district and streets, worst first) with
  a link to the wall, not a tile per camera;
- the wall (staff login) groups the cameras by street with their counts, worst first; pages through
  tiles 24 at a time; the offline filter shows only offline cameras; a click on a group narrows to it;
  names, not codes;
- a click on a tile opens its live view (the worker's frames, only while it is open); an offline
  camera says so with its last frame and the frame's time; closing it ends the watching."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from cityops.config import CityOpsConfig
from dashboard.theme import CAMERA_COLOURS
from dispatch.accounts import create_user
from dispatch.store import open_store
from gis.default import load_grid
from streams.bus import connect
from streams.camera_state import HealthReporter
from streams.live_view import watch_key
from streams.schemas import CameraHealth
from tests.conftest import OUTPUT, free_port
from tests.helpers import BOARD_FIT, CHARTS_DRAWN, MAP_PAINTED, launch_browser
from tests.services import services, write_config
from vision.live_view import LivePublisher

N = 7803
PER_PAGE = 24
SEEN = datetime.now(UTC) - timedelta(minutes=7)


def state_of(i: int) -> str:
    return "offline" if i % 50 == 0 else "error" if i % 97 == 1 else "online"


def camera(i: int, grid) -> dict:
    cell = grid.cells[(i * 7) % len(grid.cells)]
    p = cell.geometry.representative_point()
    return {"id": f"sim-{i:05d}", "name": f"摄像头{i:05d}", "source": f"rtsp://sim.invalid/{i}",
            "lon": round(p.x, 6), "lat": round(p.y, 6)}  # fmt: skip


@pytest.fixture
def fleet(tmp_path, redis_url):
    data = tmp_path / "data"
    grid = load_grid(CityOpsConfig.model_validate({"data_dir": str(data)}).grid, data)
    cams = [camera(i, grid) for i in range(N)]
    cfg = CityOpsConfig.model_validate(
        {"data_dir": str(data), "cameras": cams, "store": {"url": f"sqlite:///{tmp_path}/cityops.db"},
         "dispatch": {"port": free_port()}, "dashboard": {"port": free_port(), "refresh_ms": 1000}}
    )  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    engine.dispose()
    r = connect(redis_url)
    reporter, pipe = HealthReporter(maxlen=cfg.redis.health_maxlen), r.pipeline(transaction=False)
    for i, c in enumerate(cams):
        st = state_of(i)
        reporter.report(pipe, CameraHealth(camera_id=c["id"], state=st, fps=5.0 if st == "online" else 0.0,
                                           frames=100, last_frame_at=SEEN if st != "online" else datetime.now(UTC),
                                           error="decoder failed" if st == "error" else None))  # fmt: skip
    pipe.execute()
    # what the wall should show, from the grid itself: each camera's street
    codes = grid.locate_many(np.array([c["lon"] for c in cams]), np.array([c["lat"] for c in cams]))
    streets: dict[str, dict[str, int]] = {}
    for i, code in enumerate(codes):
        cell = grid.by_code[code]
        streets.setdefault(cell.street_en, {"online": 0, "offline": 0, "error": 0})[state_of(i)] += 1
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("api", "dashboard"), timeout=240):  # 2 MB of config each
        yield cfg, cams, streets, r


def ints(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


@pytest.mark.browser
def test_the_camera_wall_for_7803_cameras(tmp_path, fleet):
    from playwright.sync_api import expect, sync_playwright

    cfg, cams, streets, r = fleet
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    n_off = sum(state_of(i) == "offline" for i in range(N))
    n_err = sum(state_of(i) == "error" for i in range(N))
    tz = ZoneInfo(cfg.timezone)
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # the board: one screen, the camera panel a summary whatever the fleet's size
        page.goto(url + "/?lang=en")
        page.wait_for_function(MAP_PAINTED, arg=None, timeout=120_000, polling=500)
        page.wait_for_function(CHARTS_DRAWN, timeout=90_000, polling=500)
        page.wait_for_function(  # the camera-state hash swept (every 5 s)
            f"() => document.getElementById('cam-sum-total').innerText.includes('{n_off} offline')",
            timeout=60_000,
        )
        page.wait_for_timeout(500)
        fit = page.evaluate(BOARD_FIT)
        assert fit["docH"] == 1080 and fit["docW"] == 1920 and fit["out"] == [], fit
        assert fit["tiles"] == 0 and 2 <= fit["cams"] <= 8 and f"({N})" in fit["link"], fit
        panel = page.evaluate("() => document.getElementById('camera-wall').innerHTML.length")
        assert panel < 8000, panel  # a few rows, not 7,803 tiles
        rows = page.locator("#camera-wall .cam-sum-row").all_inner_texts()
        assert ints(rows[0])[:3] == [N - n_off - n_err, n_off, n_err]
        bad = [ints(x)[-3:] for x in rows[1:]]  # each street's online, offline, error
        assert [o + e for _, o, e in bad] == sorted((o + e for _, o, e in bad), reverse=True)  # worst first
        worst = max(streets.values(), key=lambda s: (s["offline"] + s["error"], s["error"]))
        assert bad[0][1:] == [worst["offline"], worst["error"]]
        n_traces, colours = (
            page.evaluate("""() => { const g = document.querySelector('#board-map .js-plotly-plot');
            const c = g.data.filter(d => d.name === 'cameras'); return [c.length, c[0].marker.color]; }""")
        )
        assert n_traces == 1  # one trace, coloured by health
        assert colours == [CAMERA_COLOURS[state_of(i)] for i in range(N)]
        page.screenshot(path=str(OUTPUT / "board-7803-cameras.png"))

        # the wall: log in, groups by street worst first, names not codes
        page.click("#cam-wall-link")
        page.wait_for_selector("#cam-user", timeout=30_000)
        page.fill("#cam-user", "olga")
        page.fill("#cam-password", "olga-password")
        page.click("#cam-login")
        page.wait_for_selector(".cam-tile", timeout=60_000)
        groups = page.locator(".cam-group").all_inner_texts()
        assert len(groups) == 1 + len(streets)
        assert ints(groups[0])[:3] == [N - n_off - n_err, n_off, n_err]
        names = [g.split("\n")[0] for g in groups[1:]]
        assert set(names) == set(streets)  # street names (the English page), not codes
        got = [ints(g)[-3:] for g in groups[1:]]
        want = [[streets[n]["online"], streets[n]["offline"], streets[n]["error"]] for n in names]
        assert got == want
        assert [o + e for _, o, e in got] == sorted((o + e for _, o, e in got), reverse=True)
        pages = -(-N // PER_PAGE)
        expect(page.locator("#cam-pager")).to_have_text(f"Page 1 / {pages} · {N} cameras")
        assert page.locator(".cam-tile").count() == PER_PAGE
        first = page.locator(".cam-tile").first.get_attribute("data-camera")
        tile_text = page.locator(".cam-tile").first.inner_text()
        assert "摄像头" in tile_text and first not in tile_text  # the name, not the id
        assert page.locator(".cam-heading").count() >= 1  # headings: street · community
        page.screenshot(path=str(OUTPUT / "camera-wall-page1.png"))

        # paging
        page.click("#cam-next")
        expect(page.locator("#cam-pager")).to_have_text(f"Page 2 / {pages} · {N} cameras")
        assert page.locator(".cam-tile").first.get_attribute("data-camera") != first
        assert page.locator(".cam-tile").count() == PER_PAGE
        page.click("#cam-prev")
        expect(page.locator("#cam-pager")).to_have_text(f"Page 1 / {pages} · {N} cameras")

        # the offline filter: only offline cameras, every one of them
        page.locator("#cam-filter label", has_text="Offline only").click()
        expect(page.locator("#cam-pager")).to_have_text(f"Page 1 / {-(-n_off // PER_PAGE)} · {n_off} cameras")
        states = page.locator(".cam-tile").evaluate_all("els => els.map(e => e.className)")
        assert len(states) == PER_PAGE and all("state-offline" in s for s in states), states
        # a click on the worst street narrows the wall to it
        page.locator(".cam-group").nth(1).click()
        n_street = streets[names[0]]["offline"]
        expect(page.locator("#cam-pager")).to_contain_text(f"· {n_street} cameras")
        expect(page.locator(".cam-group.active")).to_contain_text(names[0])
        places = page.locator(".cam-tile .cam-place").all_inner_texts()
        assert places and all(p.startswith(names[0]) for p in places)
        page.screenshot(path=str(OUTPUT / "camera-wall-offline-street.png"))

        # the live view of an offline camera: its last frame and the time; watched only while open
        tile = page.locator(".cam-tile").first
        cam = tile.get_attribute("data-camera")
        assert not r.exists(watch_key(cam))
        tile.click()
        page.wait_for_selector("#cam-live:not(.hidden) img.live-view", timeout=30_000)
        src = page.locator("img.live-view").get_attribute("src")
        assert src.startswith(f"/live/{cam}.mjpg?exp=") and "&sig=" in src
        name = next(c["name"] for c in cams if c["id"] == cam)
        expect(page.locator("#cam-live-name")).to_contain_text(name)
        pub = LivePublisher(r, cam, max_fps=2)  # the worker's publisher, fed a still picture
        picture = np.full((360, 1280, 3), 90, np.uint8)
        cv2.rectangle(picture, (100, 100), (300, 200), (40, 40, 200), -1)
        deadline = time.monotonic() + 30
        while not pub.tick(time.monotonic(), lambda: picture) and time.monotonic() < deadline:
            time.sleep(0.1)  # publishes once the board marked the camera watched
        assert pub.published == 1
        page.wait_for_function(
            "() => { const i = document.querySelector('img.live-view'); return i && i.naturalWidth === 640; }",
            timeout=30_000,
        )
        expect(page.locator("#live-state")).to_contain_text("offline")
        expect(page.locator("#live-state")).to_contain_text(f"last frame {SEEN.astimezone(tz):%m-%d %H:%M}")
        page.screenshot(path=str(OUTPUT / "camera-wall-live.png"))
        page.click("#cam-live-close")
        page.wait_for_selector("#cam-live.hidden", state="attached", timeout=15_000)
        assert page.locator("img.live-view").count() == 0
        deadline = time.monotonic() + 30
        while r.exists(watch_key(cam)) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not r.exists(watch_key(cam))  # nobody watches: the worker stops publishing

        # on a phone: the groups above the tiles, two tiles a row, nothing wider than the screen
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        tiles = page.locator(".cam-tile").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
        groups = page.locator(".cam-groups").bounding_box()
        first_tile = page.locator(".cam-tile").first.bounding_box()
        assert tiles and min(tiles) >= 150, tiles
        assert first_tile["y"] >= groups["y"] + groups["height"] - 1
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(OUTPUT / "camera-wall-390x844.png"), full_page=False)
        ctx.close()
    assert not errors, errors
