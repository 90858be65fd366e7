"""Detector backends behind one interface, trackers, and the evidence clip."""

import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np
import pytest

from cityops.config import CameraConfig, DetectorConfig
from tests.conftest import SHARED
from vision.detectors import DetectorError, make_detector
from vision.detectors.base import Box
from vision.pipeline import CameraPipeline
from vision.sources import DEMO_CLIP_ZONE, VideoSource, demo_clip_camera, make_demo_clip
from vision.tracking import make_tracker
from vision.tracking.iou import IouTracker

MODELS = SHARED / "models" / "yolo-fastest-1.1"
VTEST = SHARED / "media" / "vtest.avi"


def first_frame(path: Path, at_s: float = 0.0) -> np.ndarray:
    for f, t in VideoSource(str(path), fps=10):
        if t >= at_s:
            return f
    raise AssertionError("clip too short")


def test_ultralytics_model_built_from_yaml_runs_through_the_pipeline(tmp_path):
    pytest.importorskip("ultralytics", reason="needs cityops[ultralytics]")
    cfg = DetectorConfig(backend="ultralytics", model="yolo11n.yaml", imgsz=320, confidence=0.0001)
    det = make_detector(cfg, tmp_path, 5)
    assert det.name == "ultralytics" and os.environ["YOLO_OFFLINE"] == "1"
    clip = make_demo_clip(tmp_path / "clip.avi", seconds=4)
    frame = first_frame(clip)
    boxes = det.detect(frame)  # random weights: boxes of no meaning, but real ones
    assert boxes and all(isinstance(b, Box) for b in boxes)
    assert all(0 <= b.x1 <= b.x2 <= 640 and 0 <= b.y1 <= b.y2 <= 360 for b in boxes)
    cam = CameraConfig.model_validate(demo_clip_camera(clip, detector=cfg.model_dump()))
    pipe = CameraPipeline(cam, det, tmp_path, ZoneInfo("Asia/Shanghai"), "t")
    for f, t in VideoSource(str(clip), fps=5):
        pipe.process(f, t)
    assert pipe.times.frames == 20 and pipe.times.detected >= 1


def test_ultralytics_missing_model_is_a_clear_error(tmp_path):
    pytest.importorskip("ultralytics", reason="needs cityops[ultralytics]")
    for ref in (str(tmp_path / "nope.pt"), str(tmp_path / "nope.onnx"), str(tmp_path / "x_openvino_model")):
        with pytest.raises(DetectorError, match="not found"):
            make_detector(DetectorConfig(backend="ultralytics", model=ref), tmp_path)


def test_darknet_missing_files_is_a_clear_error(tmp_path):
    cfg = DetectorConfig(backend="darknet", model=str(tmp_path / "a.weights"), cfg=str(tmp_path / "a.cfg"))
    with pytest.raises(DetectorError, match="not found"):
        make_detector(cfg, tmp_path)


@pytest.mark.media
@pytest.mark.skipif(not MODELS.exists() or not VTEST.exists(), reason="../shared models/media absent")
def test_darknet_yolo_fastest_finds_people_and_the_parked_car(tmp_path):
    cfg = DetectorConfig(
        backend="darknet",
        cfg=str(MODELS / "yolo-fastest-1.1-xl.cfg"),
        model=str(MODELS / "yolo-fastest-1.1-xl.weights"),
        imgsz=320,
    )
    boxes = make_detector(cfg, tmp_path).detect(first_frame(VTEST, 5.0))
    classes = {b.cls for b in boxes}
    assert "person" in classes
    assert any(b.cls in ("car", "truck") and b.x1 > 550 and b.y2 < 200 for b in boxes), boxes


@pytest.mark.parametrize("kind", ["iou", "bytetrack"])
def test_trackers_keep_the_id_through_a_short_gap(kind):
    if kind == "bytetrack":
        pytest.importorskip("trackers", reason="bytetrack needs cityops[tracking]")
    tr = make_tracker(kind, fps=5, max_gap_s=3)
    assert tr.name == kind
    ids = []
    for i in range(30):
        x = 100 + 4 * i
        boxes = [] if 10 <= i < 14 else [Box(x, 100, x + 80, 160, "car", 0.9)]  # 0.8 s unseen
        ids += [t.id for t in tr.update(boxes, i / 5)]
    # 26 frames with the car; ByteTrack confirms a new track on its second frame (its first has no id)
    assert len(set(ids)) == 1 and len(ids) == (26 if kind == "iou" else 25)


def test_iou_tracker_is_the_fallback_without_ultralytics():
    assert isinstance(make_tracker("iou", fps=5), IouTracker)


def test_detection_carries_an_h264_evidence_clip(tmp_path):
    clip = make_demo_clip(tmp_path / "clip.avi", seconds=30)
    cam = CameraConfig.model_validate(
        demo_clip_camera(clip, zones=[DEMO_CLIP_ZONE], evidence_clip_s=4, tracker="iou", loop=False)
    )
    pipe = CameraPipeline(
        cam,
        make_detector(DetectorConfig(), tmp_path, 5),
        tmp_path,
        ZoneInfo("Asia/Shanghai"),
        "t",
        clock_origin=datetime(2026, 1, 1, 2, tzinfo=UTC),
    )
    found = [d for f, t in VideoSource(str(clip), fps=5) for d in pipe.process(f, t)]
    assert len(found) == 1 and found[0].clip and found[0].clip.endswith(".mp4")
    with av.open(str(tmp_path / found[0].clip)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(s)]
    assert s.codec_context.name == "h264" and len(frames) == 20  # 4 s at 5 fps before the detection
    assert cv2.imread(str(tmp_path / found[0].evidence)) is not None
