"""Real footage (../shared/media/car-detection.mp4, overhead parking lot): cars that drive through a
no-parking zone raise nothing at a 20 s dwell; a car held still there for 40 s raises exactly one.
Also the workbench commands on the generated clip (no ../shared needed)."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import cv2
import pytest
import yaml

from cityops.config import CameraConfig, DetectorConfig
from tests.conftest import ROOT, SHARED
from vision.clips import write_clip
from vision.detectors import make_detector
from vision.pipeline import CameraPipeline
from vision.sources import DEMO_CLIP_ZONE, VideoSource, make_demo_clip

LOT = SHARED / "media" / "car-detection.mp4"
NO_PARKING = {
    "id": "no-parking",
    "polygon": [[100, 60], [740, 60], [740, 432], [100, 432]],  # the aisle and the bays beside it
    "rules": ["illegal_parking"],
    "classes": ["object"],  # weight-free backend: new blobs
    "dwell_s": 20,
    "min_area": 3000,
}
needs_lot = pytest.mark.skipif(
    not LOT.exists(), reason=f"sample footage {LOT} absent (../shared not mounted)"
)


def read_all(path: Path) -> list:
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


def detections(clip: Path, data: Path, tracker: str) -> list:
    cam = CameraConfig(id="lot", source=str(clip), lon=0, lat=0, fps=5, zones=[NO_PARKING], tracker=tracker)
    det = make_detector(DetectorConfig(), data, cam.fps)
    pipe = CameraPipeline(
        cam, det, data, ZoneInfo("Asia/Shanghai"), "t", clock_origin=datetime(2026, 1, 1, 2, tzinfo=UTC)
    )
    return [(t, d) for f, t in VideoSource(str(clip), fps=5) for d in pipe.process(f, t)]


@pytest.fixture(scope="module")
def held_car_clip(tmp_path_factory) -> Path:
    """60 s of the lot (the footage twice) with the grey car seen at 16 s cut out and held still at
    the right of the zone from 10 s to 50 s, while the real traffic goes on around it."""
    frames = read_all(LOT)
    assert len(frames) > 300
    car = frames[200][0:241, 118:262].copy()  # the grey car entering at the top left, 144x241 px
    out = []
    for i, f in enumerate(frames + frames):
        if 10 <= i / 12.5 < 50:
            f = f.copy()
            f[150:391, 560:704] = car
        out.append(f)
    return write_clip(tmp_path_factory.mktemp("lot") / "held-car.mp4", out, 12.5)


@pytest.mark.media
@needs_lot
@pytest.mark.parametrize("tracker", ["iou", "bytetrack"])
def test_cars_driving_through_raise_no_illegal_parking(tmp_path, tracker):
    if tracker == "bytetrack":
        pytest.importorskip("trackers", reason="bytetrack needs cityops[tracking]")
    assert detections(LOT, tmp_path, tracker) == []


@pytest.mark.media
@needs_lot
@pytest.mark.parametrize("tracker", ["iou", "bytetrack"])
def test_car_held_still_for_40s_raises_exactly_one(tmp_path, held_car_clip, tracker):
    if tracker == "bytetrack":
        pytest.importorskip("trackers", reason="bytetrack needs cityops[tracking]")
    found = detections(held_car_clip, tmp_path, tracker)
    assert len(found) == 1, [(t, d.track_id, d.bbox) for t, d in found]
    t, d = found[0]
    assert 29 <= t <= 34 and d.dwell_s >= 20  # held from 10 s; dwell 20 s
    x1, y1, x2, y2 = d.bbox
    assert abs((x1 + x2) / 2 - 632) < 30 and abs(y2 - 391) < 30  # it is the held car
    assert cv2.imread(str(tmp_path / d.evidence)) is not None


def test_workbench_try_writes_h264_video_incidents_and_timings(tmp_path):
    clip = make_demo_clip(tmp_path / "clip.avi", seconds=30)
    cam = tmp_path / "cam.yaml"
    cam.write_text(yaml.safe_dump({"id": "gen", "fps": 5, "zones": [DEMO_CLIP_ZONE], "tracker": "iou"}))
    out = tmp_path / "out"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "cityops",
            "vision",
            "try",
            str(clip),
            "--camera",
            str(cam),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    incidents = json.loads((out / "incidents.json").read_text())
    assert [(i["type"], i["zone"]) for i in incidents] == [("illegal_parking", "no-parking-bay")]
    timings = json.loads((out / "timings.json").read_text())
    assert timings["frames"] == 150 and set(timings["ms_per_frame"]) >= {"decode", "detect", "track", "rules"}
    with av.open(str(out / "annotated.mp4")) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and sum(1 for _ in c.decode(s)) == 150
    assert "1 incident(s) in 150 frames" in res.stdout


def test_workbench_eval_scores_labelled_events(tmp_path):
    make_demo_clip(tmp_path / "clip.avi", seconds=30)
    (tmp_path / "cam.yaml").write_text(yaml.safe_dump({"id": "gen", "fps": 5, "zones": [DEMO_CLIP_ZONE]}))
    labels = {
        "tolerance_s": 5,
        "clips": [
            {
                "clip": "clip.avi",
                "camera": "cam.yaml",
                "events": [
                    {"type": "illegal_parking", "zone": "no-parking-bay", "start": 6, "end": 26},
                    {"type": "street_vending", "start": 0, "end": 30},  # not in the clip: a miss
                ],
            }
        ],
    }
    (tmp_path / "labels.yaml").write_text(yaml.safe_dump(labels))
    res = subprocess.run(
        [sys.executable, "-m", "cityops", "vision", "eval", str(tmp_path / "labels.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    last = res.stdout.strip().splitlines()[-1].split()
    assert last == ["all", "1", "0", "1", "1.00", "0.50", "0.67"], res.stdout
