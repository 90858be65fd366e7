"""Incident clips in real headless Chromium (issue 12 item 2): the console's incident detail and the
inspector's page show a ``<video controls>`` next to the evidence frame, whose signed link the board
serves with range requests. Debian's Chromium may lack the proprietary H.264 decoder: where
``canPlayType`` says it cannot play, the test checks the element, its link and a 206 fetch instead."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from dispatch.accounts import create_user
from dispatch.store import open_store
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.schemas import Detection
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import launch_browser, point
from tests.services import services, write_config
from vision.clips import write_clip
from vision.evidence import write_jpeg

H264 = 'video/mp4; codecs="avc1.42E01E"'


def frames(n: int = 20):
    for i in range(n):  # a bright square crossing a grey street
        img = np.full((180, 320, 3), 80, np.uint8)
        img[60:120, 10 + i * 12 : 70 + i * 12] = (40, 40, 200)
        yield img


@pytest.fixture
def stack(tmp_path, redis_url):
    cfg = make_config(tmp_path, roster=[{"id": "insp-a", "name": "A", "cells": ["130203001"]}],
                      dispatch={"port": free_port()}, dashboard={"port": free_port(), "refresh_ms": 500})  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    create_user(sessions, "ivan", "ivan-password", "inspector", "insp-a")
    grid = load_grid(cfg.grid, cfg.data)
    stem = "evidence/20261125/cam_bay_1"
    clip = write_clip(cfg.data / f"{stem}.mp4", frames(), 5)
    shot = write_jpeg(next(frames(1)), cfg.data, f"{stem}.jpg")
    lon, lat = point(grid, "130203001")
    det = Detection(id="cam:bay:1", type="illegal_parking", camera_id="cam", zone_id="bay", lon=lon, lat=lat,
                    observed_at=datetime.now(UTC), evidence=shot, clip=f"{stem}.mp4")  # fmt: skip
    res = build_dispatch(cfg, grid, sessions=sessions).intake.handle(det)
    engine.dispose()
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("api", "dashboard")):
        yield cfg, res.incident_id, clip.stat().st_size


def check_video(page, size: int) -> dict:
    """The clip's element plays (metadata and a first frame) or, without an H.264 decoder, its link
    answers a range request; returns what was seen."""
    video = page.locator("video.clip-video")
    video.wait_for(state="attached", timeout=30000)
    assert video.get_attribute("controls") is not None
    src = video.get_attribute("src")
    assert src.startswith("/evidence/evidence/20261125/cam_bay_1.mp4?exp=") and "&sig=" in src
    can = page.evaluate(f"() => document.createElement('video').canPlayType('{H264}')")
    got = page.evaluate(
        """async (src) => {
            const r = await fetch(src, {headers: {Range: 'bytes=0-99'}});
            const b = await r.arrayBuffer();
            return [r.status, r.headers.get('Content-Range'), b.byteLength];
        }""",
        src,
    )
    assert got == [206, f"bytes 0-99/{size}", 100]
    if can:
        page.wait_for_function(
            "() => { const v = document.querySelector('video.clip-video'); return v && v.readyState >= 1; }",
            timeout=30000,
        )
        duration = page.evaluate("() => document.querySelector('video.clip-video').duration")
        assert 3 <= duration <= 5  # 20 frames at 5 fps
        page.evaluate("() => document.querySelector('video.clip-video').play()")  # muted: allowed
        page.wait_for_function(  # decoded and playing: the clock moves past the first frames
            "() => document.querySelector('video.clip-video').currentTime > 0.5", timeout=30000
        )
    return {"canPlayType": can, "fetch": got}


@pytest.mark.browser
def test_console_and_inspector_play_the_incident_clip(tmp_path, stack):
    from playwright.sync_api import sync_playwright

    cfg, incident_id, size = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(url + "/console?lang=en")
        page.fill("#console-user", "olga")
        page.fill("#console-password", "olga-password")
        page.click("#console-login")
        page.wait_for_selector("#console-table input[type=radio]", timeout=30000)
        page.locator("#console-table input[type=radio]").first.click()
        page.wait_for_selector("#detail-body img.detail-img", timeout=30000)  # the frame, beside it the clip
        seen = check_video(page, size)
        print("console:", seen)
        page.screenshot(path=str(OUTPUT / "clip-console.png"))

        page.goto(url + "/inspector?lang=en")
        page.fill("#insp-username", "ivan")
        page.fill("#insp-password", "ivan-password")
        page.click("#insp-login-btn")
        page.wait_for_selector(".ph-card", timeout=30000)
        page.locator(".ph-card").first.click()
        page.wait_for_selector("#insp-info img.ph-shot", timeout=30000)
        seen = check_video(page, size)
        print("inspector:", seen)
        page.screenshot(path=str(OUTPUT / "clip-inspector.png"))

        # a browser that never saw the incident (no signed link) gets nothing
        anon = ctx.new_page()
        res = anon.request.get(f"{url}/evidence/evidence/20261125/cam_bay_1.mp4")
        assert res.status == 403
        assert not [e for e in errors if "Content Security Policy" in e], errors
        ctx.close()
