"""Incident clips (issue 12 item 2): the H.264 clip a camera pipeline writes before a detection flows
to the incident, its events and the API; the board serves it to staff (signed links) with range
requests; clips over the size cap are dropped and old ones deleted by the retention sweep."""

from __future__ import annotations

import http.client
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import av
import pytest

from cityops.config import CameraConfig, DetectorConfig
from dashboard.media import clip_url, media_key, media_url
from dispatch.accounts import load_secret
from dispatch.outbox import flush_outbox
from dispatch.wiring import build_dispatch
from streams.schemas import INCIDENTS, IncidentEvent, decode
from tests.helpers import point
from vision.clips import sweep_clips
from vision.detectors import make_detector
from vision.pipeline import CameraPipeline
from vision.sources import DEMO_CLIP_ZONE, VideoSource, make_demo_clip

TZ = ZoneInfo("Asia/Shanghai")
ORIGIN = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def first_detection(tmp_path: Path, data_dir: Path, lon: float, lat: float, *, max_clip_bytes: int = 0):
    """Run the worker's pipeline over the generated street clip until its first detection."""
    clip = make_demo_clip(tmp_path / "street.avi")
    cam = CameraConfig(
        id="gen",
        source=str(clip),
        lon=lon,
        lat=lat,
        fps=5,
        evidence_clip_s=4,
        zones=[{**DEMO_CLIP_ZONE, "id": "bay", "classes": ["object"]}],
    )
    det = make_detector(DetectorConfig(), data_dir, cam.fps)
    pipe = CameraPipeline(cam, det, data_dir, TZ, "t", clock_origin=ORIGIN, max_clip_bytes=max_clip_bytes)
    for frame, t in VideoSource(cam.source, fps=cam.fps):
        found = pipe.process(frame, t)
        if found:
            return found[0]
    raise AssertionError("the generated clip raised no detection")


def test_clip_flows_from_a_pipeline_detection_to_the_incident_and_its_events(tmp_path, staff_api, r):
    api = staff_api(users=[("olga", "operator", None), ("ivan", "inspector", "insp-a")])
    lon, lat = point(api.grid, "130203001")
    found = first_detection(tmp_path, api.cfg.data, lon, lat)
    assert found.clip and found.clip.startswith("evidence/") and found.clip.endswith(".mp4")
    with av.open(str(api.cfg.data / found.clip)) as v:  # a real H.264 video of about 4 s at 5 fps
        stream = v.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert 15 <= sum(1 for _ in v.decode(stream)) <= 20

    intake = build_dispatch(api.cfg, api.grid, sessions=api.sessions).intake
    res = intake.handle(found)
    assert res.created
    client = api.client()
    for user in ("olga", "ivan"):  # the desk and the inspector it was dispatched to
        got = client.get(f"/api/v1/incidents/{res.incident_id}", headers=api.login(client, user))
        assert got.status_code == 200, got.text
        assert got.json()["clip"] == found.clip
        assert got.json()["evidence"] == found.evidence
    listed = client.get("/api/v1/me/dispatches", headers=api.login(client, "ivan")).json()
    assert [i["clip"] for i in listed] == [found.clip]

    r.delete(INCIDENTS)
    assert flush_outbox(api.sessions, r) >= 1
    events = [decode(f) for _id, f in r.xrange(INCIDENTS)]
    created = [e for e in events if isinstance(e, IncidentEvent) and e.action == "created"]
    assert created and created[0].clip == found.clip
    assert r.xrange(INCIDENTS)[0][1]["v"] == "4"  # the kind's version with the clip


def test_a_clip_over_the_size_cap_is_deleted_and_the_detection_kept(tmp_path):
    data = tmp_path / "data"
    found = first_detection(tmp_path, data, 118.19, 39.66, max_clip_bytes=500)
    assert found.clip is None and found.evidence  # the finding and its picture still go
    assert not list(data.rglob("*.mp4"))


def _touch(path: Path, age_s: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 64)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_retention_deletes_old_clips_only(tmp_path):
    ev = tmp_path / "evidence"
    now = time.time()
    day = 86400
    old = _touch(ev / "20261001" / "a.mp4", 40 * day, now)
    old_tmp = _touch(ev / "20261001" / ".b.123.tmp.mp4", 40 * day, now)  # a crashed writer's leftover
    young = _touch(ev / "20261120" / "c.mp4", 5 * day, now)
    edge = _touch(ev / "20261027" / "d.mp4", 30 * day - 60, now)  # a minute inside retention
    picture = _touch(ev / "20261001" / "a.jpg", 40 * day, now)  # pictures are not clips
    outside = _touch(tmp_path / "elsewhere" / "e.mp4", 40 * day, now)
    (ev / "link").symlink_to(tmp_path / "elsewhere")  # never followed

    assert sweep_clips(ev, 30 * day, now) == 2
    assert not old.exists() and not old_tmp.exists()
    assert young.exists() and edge.exists() and picture.exists() and outside.exists()
    assert sweep_clips(ev, 30 * day, now) == 0  # nothing left to delete
    assert sweep_clips(ev, 0, now) == 0 and young.exists()  # 0 days: kept for ever
    assert sweep_clips(tmp_path / "missing", day, now) == 0


def test_worker_sweep_uses_the_configured_retention(tmp_path, redis_url):
    from tests.conftest import make_config
    from vision.worker import VisionWorker

    cfg = make_config(tmp_path, vision={"clip_retention_days": 2})
    now = time.time()
    old = _touch(cfg.data / "evidence" / "x" / "old.mp4", 3 * 86400, now)
    new = _touch(cfg.data / "evidence" / "x" / "new.mp4", 1 * 86400, now)
    worker = VisionWorker(cfg, redis_url, camera_ids=[])
    try:
        assert worker.sweep() == 1
    finally:
        worker.producer.stop()
    assert not old.exists() and new.exists()


# -- serving: the real board process, raw HTTP (no client-side path clean-up) ---------------------
@pytest.fixture
def served_clip(board):
    cfg, url = board
    data = cfg.data
    rel = "evidence/20261125/cam_bay_clip.mp4"
    body = bytes(range(256)) * 40 + b"tail"  # 10244 bytes, every offset recognisable
    (data / rel).parent.mkdir(parents=True, exist_ok=True)
    (data / rel).write_bytes(body)
    (data / "secret.mp4").write_bytes(b"not evidence")  # beside the evidence folder, not in it
    key = media_key(load_secret(data))  # the board made the key file when it started
    return url, rel, body, key


def _get(url: str, path: str, headers: dict | None = None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def test_clip_range_requests(served_clip):
    url, rel, body, key = served_clip
    link = clip_url(rel, key)
    size = len(body)

    status, h, got = _get(url, link)
    assert status == 200 and got == body
    assert h["accept-ranges"] == "bytes" and h["content-type"] == "video/mp4"

    cases = {
        "bytes=0-99": (0, 99),  # the first bytes
        "bytes=5000-5999": (5000, 5999),  # the middle
        "bytes=-500": (size - 500, size - 1),  # a suffix: the last 500
        "bytes=10000-": (10000, size - 1),  # open-ended
        f"bytes=10000-{size + 5000}": (10000, size - 1),  # an end past the file is cut to it
    }
    for rng, (a, b) in cases.items():
        status, h, got = _get(url, link, {"Range": rng})
        assert status == 206, rng
        assert h["content-range"] == f"bytes {a}-{b}/{size}", rng
        assert int(h["content-length"]) == b - a + 1 == len(got), rng
        assert got == body[a : b + 1], rng
        assert h["accept-ranges"] == "bytes"

    invalid = (
        f"bytes={size}-",  # starts at the end
        f"bytes={size + 10}-{size + 20}",  # past it
        "bytes=99-5",  # backwards
        "bytes=-0",  # an empty suffix
        "bytes=abc",
        "bytes=0-1,5-9",  # several ranges: not served (players ask for one)
    )
    for rng in invalid:
        status, h, got = _get(url, link, {"Range": rng})
        assert status == 416, rng
        assert h["content-range"] == f"bytes */{size}", rng
        assert body[:100] not in got


def test_clip_links_are_staff_only_and_traversal_is_refused(served_clip):
    url, rel, body, key = served_clip
    link = clip_url(rel, key)
    path, query = link.split("?")
    assert _get(url, path)[0] == 403  # no signature: someone who never saw the incident
    assert _get(url, path + "?exp=9999999999&sig=" + "0" * 64)[0] == 403  # forged
    other = clip_url("evidence/20261125/other.mp4", key).split("?")[1]
    assert _get(url, f"{path}?{other}")[0] == 403  # another clip's signature
    assert _get(url, link.replace("sig=", "sig=a"))[0] == 403
    old = clip_url(rel, key, now=time.time() - 3 * 86400)  # expired
    assert _get(url, old)[0] == 403
    assert _get(url, link.replace("/evidence/evidence/", "/evidence/evidence/../evidence/"))[0] == 404
    for bad in (
        "/evidence/evidence/../secret.mp4",
        "/evidence/evidence/%2e%2e/secret.mp4",
        "/evidence/evidence/..%2fsecret.mp4",
        "/evidence/evidence/20261125/../../secret.mp4",
        "/evidence/evidence/%2e%2e%2f%2e%2e%2fsecret.key",
    ):
        status, _, got = _get(url, f"{bad}?{query}")
        assert status == 404, bad
        assert b"not evidence" not in got
    assert clip_url("evidence/../secret.mp4", key) is None  # the pages never sign such a path
    assert clip_url("photos/x.mp4", key) is None and clip_url("evidence/x.jpg", key) is None


def test_evidence_pictures_are_staff_only_too(board):
    """A camera's evidence frame (faces, number plates) is served only on a link the pages signed."""
    cfg, url = board
    rel = "evidence/20261125/cam_bay.jpg"
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(200))
    (cfg.data / rel).parent.mkdir(parents=True, exist_ok=True)
    (cfg.data / rel).write_bytes(jpeg)
    key = media_key(load_secret(cfg.data))
    link = media_url(rel, key)
    status, h, got = _get(url, link)
    assert status == 200 and got == jpeg and h["content-type"] == "image/jpeg"
    path = link.split("?")[0]
    assert _get(url, path)[0] == 403  # the bare path: someone who never saw the incident
    assert _get(url, link.replace("sig=", "sig=0"))[0] == 403
    assert _get(url, media_url(rel, key, now=time.time() - 3 * 86400))[0] == 403  # expired
    assert _get(url, media_url(rel, media_key("another deployment")))[0] == 403
