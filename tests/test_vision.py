"""The vision pipeline on real video: a generated clip always, the shared sample clips when present."""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import pytest

from cityops.config import CameraConfig, DetectorConfig
from tests.conftest import SHARED
from vision.detectors import make_detector
from vision.detectors.base import Box
from vision.pipeline import CameraPipeline
from vision.rules import CameraRules
from vision.sources import DEMO_CLIP_ZONE, SourceError, VideoSource, make_demo_clip
from vision.tracking.iou import IouTracker
from vision.zones import Zone

TZ = ZoneInfo("Asia/Shanghai")
BAY = {**DEMO_CLIP_ZONE, "id": "bay", "classes": ["object"], "cooldown_s": 600}


def run(camera: CameraConfig, data_dir: Path):
    det = make_detector(camera.detector or DetectorConfig(), data_dir, camera.fps)
    pipe = CameraPipeline(
        camera, det, data_dir, TZ, "test", clock_origin=datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    )
    found = []
    for frame, t in VideoSource(camera.source, fps=camera.fps):
        found += [(round(t, 1), d) for d in pipe.process(frame, t)]
    return pipe, found


def test_generated_clip_parked_car_raises_one_detection_with_evidence(tmp_path):
    clip = make_demo_clip(tmp_path / "clip.avi")
    cam = CameraConfig(id="gen", source=str(clip), lon=118.19, lat=39.66, fps=5, zones=[BAY])
    pipe, found = run(cam, tmp_path)
    assert len(found) == 1, found
    t, d = found[0]
    assert 15 <= t <= 20  # parks at 6 s, dwell 10 s, static after the 3 s short memory (weight-free)
    assert d.type == "illegal_parking" and d.zone_id == "bay" and d.dwell_s >= 10
    img = cv2.imread(str(tmp_path / d.evidence))
    assert img is not None and img.shape[:2] == (360, 640)
    assert pipe.times.frames == 200


def test_no_detection_when_zone_is_inactive(tmp_path):
    clip = make_demo_clip(tmp_path / "clip.avi")
    night_only = {**BAY, "active_hours": [{"start": "22:00", "end": "06:00"}]}  # the clip runs at 10:00 local
    cam = CameraConfig(id="gen", source=str(clip), lon=118.19, lat=39.66, fps=5, zones=[night_only])
    _, found = run(cam, tmp_path)
    assert found == []


def test_dwell_rule_fires_once_per_track_and_restarts_when_moved():
    zone = Zone.from_config(
        CameraConfig(
            id="c", source="x", lon=0, lat=0, zones=[{**BAY, "dwell_s": 3, "cooldown_s": 100}]
        ).zones[0]
    )
    rule, tracker = CameraRules([zone]), IouTracker()
    parked = Box(400, 280, 550, 340, "object", 1.0)
    fired = []
    for i in range(50):  # 10 s at 5 fps, standing still
        fired += rule.update(tracker.update([parked], i / 5), i / 5, datetime.now(TZ).time())
    assert len(fired) == 1 and fired[0].dwell_s >= 3
    moved = Box(440, 282, 590, 342, "object", 1.0)  # drives forward within the bay: dwell restarts
    fired = []
    for i in range(50, 60):
        fired += rule.update(tracker.update([moved], i / 5), i / 5, datetime.now(TZ).time())
    assert fired == []


def test_broken_video_gives_clear_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(SourceError, match="cannot open|no frame"):
        list(VideoSource(str(bad)))
    with pytest.raises(SourceError, match="not found"):
        list(VideoSource(str(tmp_path / "missing.mp4")))


def test_looped_file_keeps_time_increasing(tmp_path):
    clip = make_demo_clip(tmp_path / "clip.avi", seconds=2)
    times = []
    src = VideoSource(str(clip), fps=5, loop=True)
    for _, t in src:
        times.append(t)
        if len(times) == 25:
            src.stop()
    assert times == sorted(times) and times[-1] > 4.0


MEDIA = SHARED / "media"
MODELS = SHARED / "models" / "yolo-fastest-1.1"


@pytest.mark.media
@pytest.mark.skipif(
    not (MEDIA / "vtest.avi").exists() or not MODELS.exists(), reason="../shared media/models absent"
)
def test_yolo_fastest_finds_the_parked_vehicles_in_vtest(tmp_path):
    cam = CameraConfig(
        id="campus",
        source=str(MEDIA / "vtest.avi"),
        lon=118.2,
        lat=39.67,
        fps=5,
        detector={
            "backend": "darknet",
            "cfg": str(MODELS / "yolo-fastest-1.1-xl.cfg"),
            "model": str(MODELS / "yolo-fastest-1.1-xl.weights"),
        },
        zones=[
            {
                "id": "driveway",
                "polygon": [[590, 40], [768, 40], [768, 140], [590, 140]],
                "rules": ["illegal_parking"],
                "classes": ["car", "truck", "bus"],
                "dwell_s": 20,
                "min_area": 400,
            }
        ],
    )
    pipe, found = run(cam, tmp_path)
    assert found, "the car parked in the driveway for the whole clip was not reported"
    t, d = found[0]
    assert 19 <= t <= 25 and d.type == "illegal_parking"
    assert len(found) <= 3  # one per parked vehicle, not one per frame
    assert pipe.skipped > 0  # motion gating skipped still frames


@pytest.mark.media
@pytest.mark.skipif(not (MEDIA / "car-detection.mp4").exists(), reason="../shared/media absent")
def test_weight_free_backend_sees_cars_in_the_aisle(tmp_path):
    cam = CameraConfig(
        id="lot",
        source=str(MEDIA / "car-detection.mp4"),
        lon=118.2,
        lat=39.67,
        fps=5,
        zones=[
            {
                "id": "aisle",
                "polygon": [[200, 100], [520, 100], [520, 432], [200, 432]],
                "rules": ["fire_lane_blocked"],
                "classes": ["object"],
                "dwell_s": 2,
                "require_stationary": False,
                "min_area": 3000,
            }
        ],
    )
    _, found = run(cam, tmp_path)
    assert 1 <= len(found) <= 4, found
