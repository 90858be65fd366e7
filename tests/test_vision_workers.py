"""Vision workers against a real Redis: bad cameras fail alone; processes share cameras by lease."""

import os
import signal
import subprocess
import sys
import threading
import time

import yaml

from streams.schemas import CAMERA_HEALTH, DETECTIONS, decode
from tests.conftest import ROOT, SMALL_GRID, free_port, make_config
from vision.leases import PREFIX, fair_share, lease_key
from vision.sources import DEMO_CLIP_ZONE, demo_clip_camera, make_demo_clip
from vision.worker import VisionWorker


def wait_until(cond, timeout: float = 60.0, step: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return cond()


def health(r) -> dict:
    """Latest health message per camera."""
    out = {}
    for _, fields in r.xrange(CAMERA_HEALTH):
        msg = decode(fields)
        out[msg.camera_id] = msg
    return out


def test_bad_cameras_fail_alone_with_clear_errors(tmp_path, r, redis_url):
    clip = make_demo_clip(tmp_path / "clip.avi")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    quick = {**DEMO_CLIP_ZONE, "dwell_s": 2}
    outside = {**DEMO_CLIP_ZONE, "id": "off-picture", "polygon": [[500, 250], [900, 250], [900, 350]]}
    cams = [
        demo_clip_camera(clip, id="good", zones=[quick], tracker="iou"),
        demo_clip_camera(tmp_path / "missing.mp4", id="missing"),
        demo_clip_camera(corrupt, id="corrupt"),
        demo_clip_camera(clip, id="zone-outside", zones=[outside]),
        demo_clip_camera(f"rtsp://127.0.0.1:{free_port()}/none", id="unreachable"),
    ]
    cfg = make_config(tmp_path, cameras=cams, vision={"lease_ttl_s": 3})
    stop = threading.Event()
    worker = VisionWorker(cfg, redis_url)
    th = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    th.start()
    try:
        assert wait_until(lambda: r.xlen(DETECTIONS) >= 1), health(r)
        h = wait_until(lambda: (h := health(r)) and len(h) == 5 and h["unreachable"].state == "offline" and h)
        assert h["good"].state == "online" and h["good"].frames > 0
        assert h["missing"].state == "error" and "not found" in h["missing"].error
        assert h["corrupt"].state == "error" and "cannot open video source" in h["corrupt"].error
        assert h["zone-outside"].state == "error" and "zone 'off-picture'" in h["zone-outside"].error
        assert "640x360" in h["zone-outside"].error
        assert "cannot open" in h["unreachable"].error
        det = decode(r.xrange(DETECTIONS)[0][1])
        assert det.camera_id == "good" and det.type == "illegal_parking"
    finally:
        stop.set()
        th.join(20)
    assert not th.is_alive()
    assert all(r.get(lease_key(c["id"])) is None for c in cams), "leases not released on stop"


def test_fair_share():
    assert [fair_share(5, w) for w in (1, 2, 3, 5, 9)] == [5, 3, 2, 1, 1]
    assert fair_share(5, 1, cap=2) == 2


def holders(r, cams) -> dict:
    return {c: (v.decode() if isinstance(v, bytes) else v) for c in cams for v in [r.get(lease_key(c))]}


def test_two_worker_processes_share_cameras_and_take_over_a_dead_ones(tmp_path, r, redis_url):
    clip = make_demo_clip(tmp_path / "clip.avi")
    ids = [f"cam-{i}" for i in range(4)]
    cfg = {
        "data_dir": str(tmp_path / "data"),
        "grid": SMALL_GRID,
        "vision": {"lease_ttl_s": 2},
        "cameras": [demo_clip_camera(clip, id=i, fps=2, tracker="iou") for i in ids],
        "redis": {"url": redis_url},
    }
    path = tmp_path / "vision.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}

    def spawn():
        return subprocess.Popen(
            [sys.executable, "-m", "cityops", "vision", "--config", str(path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    a, b = spawn(), spawn()
    try:

        def balanced():
            h = holders(r, ids)
            pids = [v.split("-")[-2] if v else None for v in h.values()]
            return None not in pids and sorted(pids.count(str(p.pid)) for p in (a, b)) == [2, 2] and h

        h = wait_until(balanced, timeout=60)
        assert h, holders(r, ids)
        a.send_signal(signal.SIGKILL)  # dies without releasing anything
        a.wait(10)

        def all_b():
            h = holders(r, ids)
            return all(v and v.split("-")[-2] == str(b.pid) for v in h.values())

        assert wait_until(all_b, timeout=30), holders(r, ids)
        taken = [c for c in ids if str(a.pid) in h[c]]
        assert wait_until(lambda: all(health(r)[c].state == "online" for c in taken), timeout=20)
        b.send_signal(signal.SIGTERM)
        out, _ = b.communicate(timeout=30)
        assert b.returncode == 0, out
        assert holders(r, ids) == dict.fromkeys(ids), "leases not released on SIGTERM"
        assert not list(r.scan_iter(match=f"{PREFIX}:worker:*"))
        assert {health(r)[c].state for c in ids} == {"stopped"}
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait(10)
