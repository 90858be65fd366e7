"""Faults at the cameras (real ``cityops vision``, ``dispatch`` and ``dashboard`` processes): a vision
worker killed, an RTSP source down for 30 s, the evidence directory unwritable or the disk full."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from sqlalchemy import select

from dispatch.store import Incident, make_engine
from streams.bus import connect
from streams.schemas import CAMERA_HEALTH, DETECTIONS, Detection, decode
from tests.conftest import free_port, make_config
from tests.helpers import RtspServer, needs_rtsp, wait_http
from tests.reliability.harness import Answering, get_json, wait_until
from vision.leases import lease_key
from vision.sources import DEMO_CLIP_ZONE, demo_clip_camera, make_demo_clip

QUICK_ZONE = {**DEMO_CLIP_ZONE, "dwell_s": 2}  # the parked car in the generated clip: raised at ~8 s


def detections(r) -> list[Detection]:
    return [decode(f) for _, f in r.xrange(DETECTIONS)]


def incidents(store_url: str) -> list[Incident]:
    engine = make_engine(store_url, writer=False)
    try:
        with engine.connect() as c:
            return list(c.execute(select(Incident)).all())
    finally:
        engine.dispose()


def holder_pid(r, camera_id: str) -> int | None:
    v = r.get(lease_key(camera_id))
    return int(v.split("-")[-2]) if v else None


def latest_health(r, camera_id: str):
    for _, fields in reversed(r.xrevrange(CAMERA_HEALTH, count=50)):
        msg = decode(fields)
        if msg.camera_id == camera_id:
            last = msg
    return locals().get("last")


def test_killed_vision_worker_cameras_taken_over_within_the_lease(stack, tmp_path, figures):
    ttl = 3.0
    clip = make_demo_clip(tmp_path / "clip.avi")
    cam = demo_clip_camera(clip, zones=[QUICK_ZONE], tracker="iou")
    cfg = make_config(tmp_path, cameras=[cam], vision={"lease_ttl_s": ttl})
    stack.configure(cfg)
    r = connect(stack.url)
    dispatch = stack.service("dispatch")
    workers = [stack.service("vision"), stack.service("vision")]
    first = wait_until(lambda: detections(r), 90)
    assert first, [w.output()[-2000:] for w in workers]
    assert wait_until(lambda: len(incidents(cfg.store_url)) == 1, 30)
    pid = holder_pid(r, "demo-street")
    doomed = next(w for w in workers if w.pid == pid)
    other = next(w for w in workers if w.pid != pid)
    with Answering([], [dispatch, other]) as watch:
        doomed.kill(signal.SIGKILL)
        t_kill = time.monotonic()
        took = wait_until(lambda: holder_pid(r, "demo-street") == other.pid, 4 * ttl, step=0.05)
        takeover_s = time.monotonic() - t_kill
    assert took, other.output()
    assert wait_until(lambda: (h := latest_health(r, "demo-street")) and h.state == "online", 20)
    online_s = time.monotonic() - t_kill
    # the new worker reads the camera afresh: the car still parked is raised again after its dwell
    again = wait_until(lambda: len(detections(r)) >= 2 and detections(r), 60)
    assert again, other.output()[-3000:]
    raised = {d.id for d in again}
    assert wait_until(lambda: sum(i.count for i in incidents(cfg.store_url)) >= len(raised), 30)
    rows = incidents(cfg.store_url)
    figures.update(
        fault="vision worker SIGKILL",
        lease_ttl_s=ttl,
        takeover_s=round(takeover_s, 2),
        camera_online_again_s=round(online_s, 2),
        detections_raised=len(raised),
        incidents=len(rows),
        duplicated=len(rows) - 1,
        merged_into_first=rows[0].count - 1,
        others_answered=watch.answered,
    )
    assert watch.answered, watch.failures[:5]
    # the bound: the lease expires at most ttl after the kill, a worker looks every ttl/3
    assert takeover_s <= ttl * 4 / 3 + 1.0
    assert len(rows) == 1, "a re-raised event became a second incident"
    assert rows[0].count == len(raised)


@needs_rtsp
def test_rtsp_source_down_30s_shows_offline_and_recovers(stack, tmp_path, figures):
    rtsp = RtspServer(free_port()).start()
    try:
        cam = {"id": "cam-rtsp", "source": rtsp.url, "lon": 118.19, "lat": 39.65, "fps": 5}
        cfg = make_config(tmp_path, cameras=[cam])
        stack.configure(cfg)
        port = free_port()
        vision = stack.service("vision")
        board = stack.service("dashboard", "--port", str(port))
        live = f"http://127.0.0.1:{port}/api/live"
        wait_http(live, timeout=60)

        def state():
            cams = {c["camera_id"]: c for c in get_json(live)["cameras"]}
            return cams.get("cam-rtsp", {}).get("state")

        assert wait_until(lambda: state() == "online", 60), stack.services[0].output()[-3000:]
        t_stop = time.monotonic()
        with Answering([f"http://127.0.0.1:{port}/healthz"], [vision, board]) as watch:
            rtsp.stop()
            assert wait_until(lambda: state() == "offline", 15, step=0.1)
            offline_s = time.monotonic() - t_stop
            seen = set()
            while time.monotonic() - t_stop < 30:
                seen.add(state())
                time.sleep(1)
        rtsp.start()
        t_start = time.monotonic()
        back = wait_until(lambda: state() == "online", 90, step=0.2)
        recover_s = time.monotonic() - t_start
        figures.update(
            fault="RTSP server stopped 30 s",
            offline_on_board_s=round(offline_s, 2),
            states_while_down=sorted(s or "-" for s in seen),
            recover_s=round(recover_s, 1),
            others_answered=watch.answered,
        )
        assert watch.answered, watch.failures[:5]
        assert offline_s <= 10.0
        assert seen == {"offline"}
        assert back, stack.services[0].output()[-3000:]
        assert all(s.alive for s in stack.services)
    finally:
        rtsp.stop()


@pytest.fixture(params=["file-in-place", "disk-full"])
def broken_evidence(request, tmp_path):
    """``data/evidence`` unusable: a plain file where the directory should be, or a 256 KB tmpfs
    filled to the last byte (needs root and mount; skipped where that is refused)."""
    target = tmp_path / "data" / "evidence"
    target.parent.mkdir(parents=True)
    if request.param == "file-in-place":
        target.write_text("not a directory")
        yield request.param
        return
    target.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(target)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here: {res.stderr.decode().strip()}")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={target}/fill", "bs=4k"], capture_output=True)
        yield request.param
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_evidence_unwritable_clear_error_incident_still_recorded(stack, tmp_path, figures, broken_evidence):
    clip = make_demo_clip(tmp_path / "clip.avi")
    cam = demo_clip_camera(clip, zones=[QUICK_ZONE], tracker="iou", evidence_clip_s=2)
    cfg = make_config(tmp_path, cameras=[cam])
    stack.configure(cfg)
    r = connect(stack.url)
    stack.service("dispatch")
    worker = stack.service("vision")
    dets = wait_until(lambda: detections(r), 90)
    assert dets, worker.output()[-3000:]
    assert wait_until(lambda: incidents(cfg.store_url), 30)
    time.sleep(1.0)  # a health report after the detection
    log = worker.output()
    rows = incidents(cfg.store_url)
    health = latest_health(r, "demo-street")
    figures.update(
        fault=f"evidence dir: {broken_evidence}",
        detections=len(dets),
        incidents=len(rows),
        evidence=dets[0].evidence,
        clip=dets[0].clip,
        camera=health.state,
        logged=[ln.split("ERROR", 1)[1].strip()[:90] for ln in log.splitlines() if "ERROR" in ln][:2],
    )
    assert "cannot write evidence" in log, log[-3000:]
    reason = "No space left on device" if broken_evidence == "disk-full" else "Not a directory|File exists"
    assert any(x in log for x in reason.split("|")), log[-3000:]
    assert dets[0].evidence is None and dets[0].clip is None
    assert len(rows) == 1 and rows[0].evidence is None
    assert health.state == "online" and worker.alive, log[-3000:]
