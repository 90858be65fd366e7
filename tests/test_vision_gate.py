"""The motion gate on real footage and real weights (YOLO11n, OpenVINO INT8, from ../shared).

Cars that drive through a no-parking zone and leave must raise nothing with the gate on: a frame
the gate skips is not a sighting, and a departure makes the detector run. A car that stops there
still raises exactly one incident. Clips are built from ../shared/media/car-detection.mp4 (an
overhead parking lot, 768x432 at 12.5 fps): each real drive-through is followed by 25 s of the
real empty lot, so the gate has quiet frames to skip.
"""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from cityops.config import CameraConfig, DetectorConfig
from tests.conftest import SHARED
from vision.clips import write_clip
from vision.detectors import make_detector
from vision.detectors.base import Box
from vision.motion_gate import MotionGate
from vision.pipeline import CameraPipeline
from vision.sources import VideoSource

LOT = SHARED / "media" / "car-detection.mp4"
YOLO11N = SHARED / "models" / "yolo11n_int8_openvino_model"
NO_PARKING = {
    "id": "no-parking",
    "polygon": [[100, 60], [740, 60], [740, 432], [100, 432]],
    "rules": ["illegal_parking"],
    # measured on this clip: YOLO11n (COCO) boxes these cars seen from straight above as "cell phone"
    # (0.7-0.8) far more often than as "car"; a zone names the classes its camera's detector gives
    "classes": ["car", "truck", "bus", "cell phone"],
    "dwell_s": 20,
    "min_area": 3000,
}
needs_footage = pytest.mark.skipif(
    not (LOT.exists() and YOLO11N.exists()), reason="../shared (footage and YOLO11n) absent"
)
pytestmark = [pytest.mark.media, needs_footage]


def lot_frames() -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(str(LOT)), []
    while (got := cap.read())[0]:
        out.append(got[1])
    return out


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    pytest.importorskip("ultralytics", reason="needs cityops[ultralytics]")
    pytest.importorskip("openvino", reason="needs cityops[ultralytics] (openvino)")
    cfg = DetectorConfig(backend="ultralytics", model=str(YOLO11N), imgsz=640)
    return make_detector(cfg, tmp_path_factory.mktemp("yolo"), 5)


def quiet(empty: list[np.ndarray], seconds: float) -> list[np.ndarray]:
    """``seconds`` of the real empty lot (its frames played forward and back: sensor noise, no motion)."""
    out, seq = [], empty + empty[::-1]
    while len(out) < seconds * 12.5:
        out += seq
    return out[: int(seconds * 12.5)]


@pytest.fixture(scope="module")
def drive_throughs(tmp_path_factory) -> Path:
    """Three real drive-throughs (a white car; a grey and a red car; a white car), each followed by
    25 s of the empty lot: 90 s."""
    frames = lot_frames()
    empty = frames[130:190]
    out = []
    for a, b in [(60, 125), (190, 260), (300, 350)]:
        out += frames[a:b] + quiet(empty, 25)
    return write_clip(tmp_path_factory.mktemp("lot") / "drive-throughs.mp4", out, 12.5)


@pytest.fixture(scope="module")
def car_stops(tmp_path_factory) -> Path:
    """45 s: the grey car cut from frame 200 stands at the right of the zone from 5 s to 40 s of the
    empty lot (a real car parked: no motion at all while it stands)."""
    frames = lot_frames()
    car = frames[200][0:241, 118:262].copy()
    out = []
    for i, f in enumerate(quiet(frames[130:190], 45)):
        if 5 <= i / 12.5 < 40:
            f = f.copy()
            f[150:391, 560:704] = car
        out.append(f)
    return write_clip(tmp_path_factory.mktemp("lot") / "car-stops.mp4", out, 12.5)


def run(clip: Path, detector, data: Path, *, gate: bool, tracker: str = "iou"):
    cam = CameraConfig(id="lot", source=str(clip), lon=0, lat=0, fps=5, zones=[NO_PARKING], tracker=tracker)
    pipe = CameraPipeline(
        cam,
        detector,
        data,
        ZoneInfo("Asia/Shanghai"),
        "t",
        clock_origin=datetime(2026, 1, 1, 2, tzinfo=UTC),
        gate_enabled=gate,
    )
    found = [(t, d) for f, t in VideoSource(str(clip), fps=5) for d in pipe.process(f, t)]
    return found, pipe


@pytest.mark.parametrize("tracker", ["iou", "bytetrack"])
def test_drive_throughs_with_the_gate_on_raise_nothing(tmp_path, yolo, drive_throughs, tracker):
    if tracker == "bytetrack":
        pytest.importorskip("trackers", reason="bytetrack needs cityops[tracking]")
    found, pipe = run(drive_throughs, yolo, tmp_path, gate=True, tracker=tracker)
    assert pipe.skipped > 250  # the gate did skip the quiet stretches (375 frames in all)
    assert found == [], [(t, d.track_id, d.bbox) for t, d in found]


def test_a_car_that_stops_raises_exactly_one_with_the_gate_on(tmp_path, yolo, car_stops):
    found, pipe = run(car_stops, yolo, tmp_path, gate=True)
    assert pipe.skipped > 100  # it stood still: most frames were skipped
    assert len(found) == 1, [(t, d.track_id, d.bbox) for t, d in found]
    t, d = found[0]
    assert 25 <= t <= 32 and d.dwell_s >= 20  # stopped at 5 s; seen again by a run within 5 s
    x1, y1, x2, y2 = d.bbox
    assert abs((x1 + x2) / 2 - 632) < 30 and abs(y2 - 391) < 30


def test_the_gate_runs_the_detector_when_a_tracked_object_leaves_outside_every_zone():
    """Real frames: the white car drives off at the top of the lot; the zone is elsewhere."""
    frames = lot_frames()
    zone = np.zeros(frames[0].shape[:2], np.uint8)
    zone[400:432, 0:50] = 255  # a corner where nothing happens
    car = Box(300, 0, 520, 230, "car", 0.9)  # where the white car is at frame 75
    gate = MotionGate([zone])
    assert gate.should_detect(frames[74], 0.0, [car])  # the first frame always runs
    assert not gate.should_detect(frames[76], 0.16)  # zones only: nothing moved
    assert gate.should_detect(frames[78], 0.32, [car])  # its box changes: it is leaving
