"""The live view (issue 12 item 1): a worker publishes a camera's annotated frame only while a viewer
watches, at most ``vision.live_max_fps``; the board streams it as MJPEG to staff (signed links),
each viewer at most that rate; an offline camera shows its last frame and when it was taken."""

from __future__ import annotations

import http.client
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

from dashboard.live_view import bytes_client, mjpeg
from dashboard.media import live_url, media_key
from dispatch.accounts import create_user
from dispatch.store import open_store
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.bus import connect
from streams.live_view import frame_key, watch_key
from streams.schemas import CAMERA_HEALTH, CameraHealth, Detection, encode
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import launch_browser, point
from tests.services import services, write_config
from vision.live_view import LivePublisher
from vision.sources import demo_clip_camera, make_demo_clip
from vision.worker import CameraRunner


def picture(value: int = 90) -> np.ndarray:
    img = np.full((360, 1280, 3), value, np.uint8)
    cv2.rectangle(img, (100, 100), (300, 200), (40, 40, 200), -1)
    return img


def test_publisher_encodes_only_while_watched_and_at_most_max_fps(r):
    pub = LivePublisher(r, "cam-1", max_fps=2)
    calls = []

    def image():
        calls.append(1)
        return picture()

    assert not any(pub.tick(t / 10, image) for t in range(50))  # 5 s unwatched
    assert calls == [] and not r.exists(frame_key("cam-1"))  # nothing encoded, nothing sent

    r.set(watch_key("cam-1"), "1", px=60000)
    sent = [t / 10 for t in range(50, 100) if pub.tick(t / 10, image)]  # 5 s watched, ticks every 0.1 s
    assert len(calls) == len(sent) == pub.published
    assert len(sent) == 10 and all(b - a >= 0.5 - 1e-9 for a, b in zip(sent, sent[1:], strict=False))
    raw = bytes_client(r).hget(frame_key("cam-1"), "jpeg")
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (180, 640)  # scaled to the view's width
    assert 0 < r.ttl(frame_key("cam-1")) <= 86400

    r.delete(watch_key("cam-1"))  # the viewer left: the next look finds no one
    assert not pub.tick(100.0, image) and len(calls) == 10


def test_stream_sends_each_frame_once_at_most_max_fps(r):
    rb = bytes_client(r)
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s
        if len(slept) == 3:  # the worker publishes a new frame after the third pause
            rb.hset(
                frame_key("c2"), mapping={"jpeg": b"\xff\xd8two\xff\xd9", "at": "2026-11-26T05:00:01+00:00"}
            )

    rb.hset(frame_key("c2"), mapping={"jpeg": b"\xff\xd8one\xff\xd9", "at": "2026-11-26T05:00:00+00:00"})
    parts = list(mjpeg(rb, "c2", 2, max_s=5, clock=lambda: now[0], sleep=sleep))
    # ten looks in 5 s: each frame sent, then once more (browsers show a part when the next starts)
    assert parts[0] == b"--frame\r\n" and len(parts) == 5
    assert parts[1] == parts[2] and parts[3] == parts[4] and parts[1] != parts[3]
    assert parts[1].startswith(b"Content-Type: image/jpeg\r\nContent-Length: 7\r\n")
    assert b"X-Frame-At: 2026-11-26T05:00:00+00:00" in parts[1]
    assert parts[1].endswith(b"\xff\xd8one\xff\xd9\r\n--frame\r\n")  # closed at once: shown at once
    assert b"two" in parts[3]
    assert slept == [0.5] * 10
    assert 0 < r.pttl(watch_key("c2")) <= 3000  # the viewer's mark, renewed while streaming


def test_a_worker_publishes_only_while_someone_watches(tmp_path, r, redis_url):
    clip = make_demo_clip(tmp_path / "street.avi")
    cfg = make_config(tmp_path, cameras=[demo_clip_camera(clip, id="live-cam")])
    runner = CameraRunner(cfg, cfg.cameras[0], connect(redis_url), "t")
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while (runner.pipeline is None or runner.pipeline.times.frames < 10) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runner.pipeline.times.frames >= 10
        assert runner.live.published == 0 and not r.exists(frame_key("live-cam"))
        r.set(watch_key("live-cam"), "1", px=60000)
        while runner.live.published == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        raw = bytes_client(r).hget(frame_key("live-cam"), "jpeg")
        assert cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)
    finally:
        runner.stop()
        runner.join(10)


# -- the board: raw HTTP and real Chromium ------------------------------------------------------------
@pytest.fixture
def stack(tmp_path, redis_url):
    clip = make_demo_clip(tmp_path / "street.avi")
    cfg = make_config(tmp_path, cameras=[demo_clip_camera(clip, id="cam-9")],
                      dispatch={"port": free_port()}, dashboard={"port": free_port(), "refresh_ms": 500})  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    grid = load_grid(cfg.grid, cfg.data)
    lon, lat = point(grid, "130203001")
    det = Detection(id="cam-9:bay:1", type="illegal_parking", camera_id="cam-9", lon=lon, lat=lat,
                    observed_at=datetime.now(UTC))  # fmt: skip
    build_dispatch(cfg, grid, sessions=sessions).intake.handle(det)
    engine.dispose()
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("api", "dashboard")):
        yield cfg


def _open(url: str, path: str):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path)
    return conn, conn.getresponse()


@pytest.mark.browser
def test_console_shows_the_live_view_and_an_offline_camera_says_so(tmp_path, stack, r):
    from playwright.sync_api import expect, sync_playwright

    cfg = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    key = media_key("test-secret")  # the services run with CITYOPS_SECRET=test-secret
    link = live_url("cam-9", key)
    for bad in (
        link.split("?")[0],
        link.replace("sig=", "sig=0"),
        "/live/cam-9.mjpg?" + live_url("cam-8", key).split("?")[1],
    ):
        conn, res = _open(url, bad)
        assert res.status == 403, bad  # unsigned, forged, another camera's signature
        conn.close()
    conn, res = _open(url, link.replace("cam-9", "nope").split("?")[0] + "?" + link.split("?")[1])
    assert res.status == 404  # no such camera
    conn.close()

    pub = LivePublisher(r, "cam-9", max_fps=2)  # the worker's publisher, fed a still picture
    seen_at = datetime.now(UTC) - timedelta(minutes=3)
    r.xadd(CAMERA_HEALTH, encode(CameraHealth(camera_id="cam-9", state="offline", last_frame_at=seen_at)))

    conn, res = _open(url, link)
    assert res.status == 200 and res.getheader("Content-Type").startswith("multipart/x-mixed-replace")
    deadline = time.monotonic() + 30
    while not pub.tick(time.monotonic(), picture) and time.monotonic() < deadline:
        time.sleep(0.1)  # publishes once the board marked the camera watched
    head = res.read(60)  # (chunked: http.client joins the chunks)
    assert head.startswith(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ")
    conn.close()

    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(url + "/console?lang=en")
        page.fill("#console-user", "olga")
        page.fill("#console-password", "olga-password")
        page.click("#console-login")
        page.wait_for_selector("#console-table input[type=radio]", timeout=30000)
        page.locator("#console-table input[type=radio]").first.click()
        page.wait_for_selector("img.live-view", timeout=30000)
        src = page.locator("img.live-view").get_attribute("src")
        assert src.startswith("/live/cam-9.mjpg?exp=") and "&sig=" in src
        page.wait_for_function(  # the last frame shows (the camera is offline: no new ones)
            "() => { const i = document.querySelector('img.live-view'); return i && i.naturalWidth === 640; }",
            timeout=30000,
        )
        expect(page.locator("#live-state")).to_contain_text("offline")
        expect(page.locator("#live-state")).to_contain_text(
            f"last frame {seen_at.astimezone(cfg_tz(cfg)):%m-%d %H:%M}"
        )
        page.screenshot(path=str(OUTPUT / "live-console.png"))
        ctx.close()


def cfg_tz(cfg):
    from zoneinfo import ZoneInfo

    return ZoneInfo(cfg.timezone)
