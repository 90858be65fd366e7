"""Camera health at fleet scale: the latest report per camera in a hash, only news on the stream;
a board started after thousands of reports (and a stream cap far below the fleet) knows every camera."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from dashboard.live import LiveState
from streams.bus import connect
from streams.camera_state import HealthReporter, latest
from streams.embedded import EmbeddedRedis
from streams.schemas import CAMERA_HEALTH, CAMERA_STATE, CameraHealth, decode


def report(cam: str, state: str = "online", fps: float = 5.0, frames: int = 0, error=None, at=None):
    return CameraHealth(camera_id=cam, state=state, fps=fps, frames=frames, error=error,
                        at=at or datetime.now(UTC))  # fmt: skip


def stream_states(r) -> list[tuple[str, str]]:
    return [(m.camera_id, m.state) for m in (decode(f) for _, f in r.xrange(CAMERA_HEALTH))]


def test_only_news_reaches_the_stream_and_the_hash_keeps_the_latest(r):
    rep = HealthReporter(maxlen=1000)
    for k in range(10):
        rep.report(r, report("cam-a", frames=10 * k))
    rep.report(r, report("cam-a", "offline", fps=0, error="no frames for 3 s"))
    rep.report(r, report("cam-a", "offline", fps=0, error="no frames for 3 s"))
    rep.report(r, report("cam-a", frames=200))
    assert stream_states(r) == [("cam-a", "online"), ("cam-a", "offline"), ("cam-a", "online")]
    assert latest(r)["cam-a"].frames == 200
    # a reporter that restarted (a new worker) announces its first report again
    HealthReporter(maxlen=1000).report(r, report("cam-a", frames=210))
    assert len(stream_states(r)) == 4


def test_a_failed_report_is_announced_again(r, redis_url):
    rep = HealthReporter(maxlen=1000)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nobody listens there
    with pytest.raises(redis.ConnectionError):
        rep.report(dead, report("cam-b", "offline", fps=0, error="gone"))
    rep.forget("cam-b")
    rep.report(r, report("cam-b", "offline", fps=0, error="gone"))
    assert stream_states(r) == [("cam-b", "offline")]


def test_a_board_started_late_knows_every_camera_of_a_fleet_beyond_the_stream_cap(r, redis_url):
    """3,000 cameras, a stream cap of 200: before, a restarted board knew only the cameras whose
    last report was among the stream's newest entries."""
    rep = HealthReporter(maxlen=200)
    pipe = r.pipeline(transaction=False)
    for i in range(3000):
        state = "offline" if i % 100 == 0 else "online"
        rep.report(pipe, report(f"cam-{i:04d}", state, fps=0 if state == "offline" else 5, frames=i))
    pipe.execute()
    for i in range(3000):  # a second round of reports: no news
        rep.report(r, report(f"cam-{i:04d}", "offline" if i % 100 == 0 else "online", frames=i + 10))
    assert r.xlen(CAMERA_HEALTH) < 400  # capped, and the second round added nothing
    assert r.hlen(CAMERA_STATE) == 3000
    live = LiveState(redis_url)
    live.sweep_cameras()
    live.poll(block_ms=10)
    _, _, cams = live.snapshot()
    assert len(cams) == 3000
    assert sum(c.state == "offline" for c in cams) == 30
    assert {c.camera_id: c.frames for c in cams}["cam-2999"] == 3009


def test_sweeps_move_the_version_only_when_what_is_shown_changed(r, redis_url):
    rep = HealthReporter(maxlen=100)
    rep.report(r, report("cam-c", frames=1))
    live = LiveState(redis_url)
    assert live.sweep_cameras() is True
    v = live.version
    rep.report(r, report("cam-c", frames=50))  # frames counted on: not shown, no new version
    assert live.sweep_cameras() is False and live.version == v
    rep.report(r, report("cam-c", fps=2.0, frames=60))  # the frame rate fell: shown
    assert live.sweep_cameras() is True and live.version == v + 1


def test_a_stream_newer_than_the_hash_wins(r, redis_url):
    live = LiveState(redis_url)
    now = datetime.now(UTC)
    live.apply(
        {
            "kind": "camera_health",
            "v": "1",
            "data": report("cam-d", "error", 0, error="x", at=now).model_dump_json(),
        }
    )
    r.hset(CAMERA_STATE, "cam-d", report("cam-d", at=now - timedelta(seconds=5)).model_dump_json())
    live.sweep_cameras()
    assert live.snapshot()[2][0].state == "error"


def test_roles_may_write_and_read_only_their_side_of_the_hash(tmp_path):
    with EmbeddedRedis(tmp_path / "acl", acl=True) as srv:
        vision, board = connect(srv.url_for("vision")), connect(srv.url_for("dashboard"))
        HealthReporter(maxlen=100).report(vision, report("cam-e"))
        assert set(latest(board)) == {"cam-e"}
        with pytest.raises(redis.exceptions.NoPermissionError):
            board.hset(CAMERA_STATE, "cam-e", "{}")
        with pytest.raises(redis.exceptions.NoPermissionError):
            vision.hgetall(CAMERA_STATE)
