"""Vertical and odd-sized frames: the Darknet backend letterboxes (aspect kept, padded) and maps
boxes back to the frame; and the workbench's detector timings per call and per analysed frame."""

import cv2
import numpy as np
import pytest

from cityops.config import DetectorConfig
from tests.conftest import SHARED
from vision.detectors import make_detector
from vision.detectors.darknet import letterbox
from vision.geometry import box_iou
from vision.pipeline import StageTimes
from vision.sources import VideoSource

YF = SHARED / "models" / "yolo-fastest-1.1"
VTEST = SHARED / "media" / "vtest.avi"


def test_letterbox_keeps_the_aspect_and_says_how_to_map_back():
    frame = np.zeros((1920, 1080, 3), np.uint8)
    frame[960:1920, :] = 255  # the lower half white
    square, scale, (px, py) = letterbox(frame, 320)
    assert square.shape == (320, 320, 3) and scale == pytest.approx(320 / 1920)
    assert (px, py) == (70, 0)  # 180 px wide picture in the middle
    assert (square[:, :60] == 114).all() and (square[:, 260:] == 114).all()  # grey pad, not the picture
    assert square[300, 160].min() == 255 and square[20, 160].max() == 0
    x = 1000  # a frame x maps to the square and back
    assert ((x * scale + px) - px) / scale == pytest.approx(x)


@pytest.mark.media
@pytest.mark.skipif(not (YF.exists() and VTEST.exists()), reason="../shared absent")
def test_people_in_a_vertical_1080x1920_frame_are_found_where_they_are(tmp_path):
    """A 9:16 crop of real footage blown up to 1080x1920: the boxes found there are the people
    found in the crop itself, scaled (boxes mapped back through the letterbox)."""
    det = make_detector(
        DetectorConfig(
            backend="darknet",
            cfg=str(YF / "yolo-fastest-1.1-xl.cfg"),
            model=str(YF / "yolo-fastest-1.1-xl.weights"),
        ),
        tmp_path,
    )
    frame = next(f for f, t in VideoSource(str(VTEST), fps=1) if t >= 5)
    crop = np.ascontiguousarray(frame[:, 222:546])  # 324 x 576
    k = 1080 / 324
    vertical = cv2.resize(crop, (1080, 1920))
    small = [b for b in det.detect(crop) if b.cls == "person"]
    big = [b for b in det.detect(vertical) if b.cls == "person"]
    assert len(big) >= 2
    assert all(0 <= b.x1 < b.x2 <= 1080 and 0 <= b.y1 < b.y2 <= 1920 for b in big)
    for b in big:  # each one is a person of the crop, in the same place
        scaled = [type(s)(s.x1 * k, s.y1 * k, s.x2 * k, s.y2 * k, s.cls, s.conf) for s in small]
        assert max(box_iou(b, s) for s in scaled) >= 0.5, (b, small)


def test_timings_give_the_detector_per_call_and_per_analysed_frame():
    times = StageTimes()
    times.frames, times.detected = 10, 2  # the gate skipped 8 frames
    times.add("detect", 0.2)
    got = times.as_dict()
    assert got["ms_per_detector_call"] == 100.0 and got["ms_per_frame"]["detect"] == 20.0
    assert got["skipped_by_motion_gate"] == 8


@pytest.mark.media
@pytest.mark.skipif(not VTEST.exists(), reason="../shared absent")
def test_vision_try_on_a_clip_cut_off_half_way_says_so_and_fails(tmp_path):
    import subprocess
    import sys

    import yaml

    from tests.conftest import ROOT

    data = VTEST.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the real clip, cut off half-way (its header says 795 frames)
    cam = tmp_path / "cam.yaml"
    zone = {"id": "z", "polygon": [[400, 0], [768, 0], [768, 170], [400, 170]], "rules": ["illegal_parking"]}
    cam.write_text(yaml.safe_dump({"id": "c", "fps": 1, "zones": [{**zone, "classes": ["object"]}]}))
    cmd = [sys.executable, "-m", "cityops", "vision", "try", str(cut), "--camera", str(cam), "--quiet"]
    res = subprocess.run(
        cmd + ["--no-video", "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "of 80 expected frames" in res.stderr and "ends early" in res.stderr, res.stderr
