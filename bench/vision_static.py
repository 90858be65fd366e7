"""Static objects (rubbish, stalls) and background handling on footage built from real clips.

    .venv/bin/python bench/vision_static.py [--backends motion,yolo11n-ov] [--scenarios all] [--fps 5]

Builds event clips in memory from ../shared/media (vision.clips: a real object cut from a frame of
``vtest.avi`` and left on the pavement; a real person cut from another frame held beside it; a
whole-frame brightness change; the cars of ``car-detection.mp4`` driving through), runs the camera
pipeline over each with every backend, and prints the incidents found against the ones expected.
Then prints the static-object analysis' cost per frame at 640 and 1280 wide, beside the cost of
only shrinking the frame (its baseline, same run). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityops.config import CameraConfig, DetectorConfig  # noqa: E402
from vision.clips import cut_object, left_object, median_background, paste_object, scale_brightness  # noqa: E402
from vision.detectors import make_detector  # noqa: E402
from vision.pipeline import CameraPipeline  # noqa: E402
from vision.sources import VideoSource  # noqa: E402
from vision.static_objects import StaticObjects  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
VTEST = SHARED / "media" / "vtest.avi"
LOT = SHARED / "media" / "car-detection.mp4"
YF = SHARED / "models" / "yolo-fastest-1.1"
BACKENDS = {
    "motion": {"backend": "motion"},
    "darknet": {
        "backend": "darknet",
        "cfg": str(YF / "yolo-fastest-1.1-xl.cfg"),
        "model": str(YF / "yolo-fastest-1.1-xl.weights"),
        "imgsz": 320,
    },
    "yolo11n-ov": {
        "backend": "ultralytics",
        "model": str(SHARED / "models" / "yolo11n_int8_openvino_model"),
        "imgsz": 640,
    },
}
#: vtest.avi: the pavement in the middle of the campus crossing, no dumping and no vending there.
PAVEMENT = {
    "id": "pavement",
    "polygon": [[330, 215], [768, 215], [768, 430], [330, 430]],
    "rules": ["exposed_rubbish", "street_vending"],
    "dwell_s": 30,
    "min_area": 300,
    "cooldown_s": 600,
}
#: car-detection.mp4: the lot's aisle as a no-dumping zone (cars drive through it).
AISLE = {
    "id": "aisle",
    "polygon": [[100, 60], [740, 60], [740, 432], [100, 432]],
    "rules": ["exposed_rubbish"],
    "dwell_s": 30,
    "min_area": 300,
    "cooldown_s": 600,
}
CLOTH_AT, MAN_AT = (560, 300), (640, 242)


@dataclass
class Scenario:
    name: str
    what: str
    frames: Callable[[float], Iterator[np.ndarray]]  # fps -> frames
    zone: dict
    expected: dict[str, int]
    camera: dict = field(default_factory=dict)


def read(path: Path, fps: float) -> Iterator[np.ndarray]:
    for f, _ in VideoSource(str(path), fps=fps):
        yield f


def props() -> dict:
    """The real pieces cut from vtest.avi: the yellow garment lying on the grass (frame 0) and the
    man standing on the pavement (frame 0, cut against the clip's median background)."""
    bg = median_background(read(VTEST, 10))
    first = next(read(VTEST, 10))
    cloth = cut_object(first, (66, 492, 162, 530))
    man = cut_object(first, (248, 214, 292, 312), bg)
    return {"bg": bg, "cloth": cloth, "man": man}


def scenarios(p: dict) -> list[Scenario]:
    bg, cloth, man = p["bg"], p["cloth"], p["man"]

    def with_cloth(fps: float, start_s: float, frames=None) -> Iterator[np.ndarray]:
        return left_object(frames or read(VTEST, fps), *cloth, CLOTH_AT, int(start_s * fps), background=bg)

    def attended(fps: float) -> Iterator[np.ndarray]:
        for i, f in enumerate(with_cloth(fps, 10)):
            if i >= 10 * fps:  # the man stays beside his goods, swaying a pixel or two
                sway = (0, 1, 2, 1)[int(i / fps) % 4]
                f = paste_object(f, *man, (MAN_AT[0] + sway, MAN_AT[1]), bg)
            yield f

    def exposure(fps: float, gain: float, frames=None) -> Iterator[np.ndarray]:
        for i, f in enumerate(frames or read(VTEST, fps)):
            yield scale_brightness(f, gain) if 30 <= i / fps < 50 else f

    return [
        Scenario(
            "walkers",
            "vtest.avi as is: people walking, parked van",
            lambda fps: read(VTEST, fps),
            PAVEMENT,
            {},
        ),
        Scenario(
            "left-object",
            "garment left on the pavement at 10 s, nobody beside it",
            lambda fps: with_cloth(fps, 10),
            PAVEMENT,
            {"exposed_rubbish": 1},
        ),
        Scenario(
            "attended-object",
            "garment laid on the pavement at 10 s, a man standing beside it",
            attended,
            PAVEMENT,
            {"street_vending": 1},
        ),
        Scenario(
            "exposure-1.5", "x1.5 brightness from 30 s to 50 s", lambda fps: exposure(fps, 1.5), PAVEMENT, {}
        ),
        Scenario(
            "exposure-0.7", "x0.7 brightness from 30 s to 50 s", lambda fps: exposure(fps, 0.7), PAVEMENT, {}
        ),
        Scenario(
            "exposure-1.3-left",
            "garment left at 5 s, x1.3 brightness from 30 s to 50 s",
            lambda fps: exposure(fps, 1.3, with_cloth(fps, 5)),
            PAVEMENT,
            {"exposed_rubbish": 1},
        ),
        Scenario(
            "there-at-start",
            "garment there from the first frame, no reference image",
            lambda fps: with_cloth(fps, 0),
            PAVEMENT,
            {},
        ),
        Scenario(
            "there-at-start-ref",
            "garment there from the first frame; the camera's reference image is the empty scene",
            lambda fps: with_cloth(fps, 0),
            PAVEMENT,
            {"exposed_rubbish": 1},
            {"background": "<bg>"},
        ),
        Scenario(
            "lot-drive",
            "car-detection.mp4: cars drive through the aisle",
            lambda fps: read(LOT, fps),
            AISLE,
            {},
        ),
    ]


def run(s: Scenario, det_cfg: dict, fps: float, tmp: Path, bg_path: Path) -> tuple[list, dict]:
    cam = dict(id="bench", source="-", lon=0, lat=0, fps=fps, zones=[s.zone], tracker="iou", **s.camera)
    if cam.get("background") == "<bg>":
        cam["background"] = str(bg_path)
    camera = CameraConfig.model_validate(cam)
    det = make_detector(DetectorConfig(**det_cfg), tmp, fps)
    pipe = CameraPipeline(camera, det, tmp, ZoneInfo("Asia/Shanghai"), "b", persist_background=False)
    found = []
    for i, f in enumerate(s.frames(fps)):
        found += [(round(i / fps, 1), d.type) for d in pipe.process(f, i / fps)]
    return found, pipe.times.as_dict()


def static_cost(width: int, frames: list[np.ndarray]) -> tuple[float, float]:
    """CPU ms per frame of the static-object analysis, and of only shrinking the frame (baseline)."""
    h = int(frames[0].shape[0] * width / frames[0].shape[1])
    frames = [cv2.resize(f, (width, h)) for f in frames]
    st = StaticObjects(fps=5)
    t0 = time.process_time()  # CPU time: the machine may be shared
    for f in frames:
        st.update(f)
        st.fuse([])
    t1 = time.process_time()
    for f in frames:
        cv2.resize(f, st.scene.size, interpolation=cv2.INTER_AREA)
    t2 = time.process_time()
    return 1000 * (t1 - t0) / len(frames), 1000 * (t2 - t1) / len(frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", default="motion,yolo11n-ov")
    ap.add_argument("--scenarios", default="all")
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args()
    if not VTEST.exists() or not LOT.exists():
        print(f"needs {VTEST} and {LOT} (../shared)")
        return 1
    p = props()
    todo = [s for s in scenarios(p) if args.scenarios == "all" or s.name in args.scenarios.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        bg_path = Path(tmp) / "empty-scene.png"
        cv2.imwrite(str(bg_path), p["bg"])
        print(f"{'scenario':<20} {'backend':<11} {'expected':<22} {'found':<40} {'static ms/frame':>15}")
        for s in todo:
            for b in args.backends.split(","):
                found, times = run(s, BACKENDS[b], args.fps, Path(tmp) / b, bg_path)
                got = Counter(t for _, t in found)
                exp = ", ".join(f"{k} {v}" for k, v in s.expected.items()) or "none"
                shown = ", ".join(f"{k}@{t}" for t, k in found) or "none"
                ok = "ok " if got == Counter(s.expected) else "BAD"
                print(
                    f"{s.name:<20} {b:<11} {exp:<22} {ok} {shown:<36} {times['ms_per_frame']['static']:>15.2f}"
                )
    frames = [f for i, f in enumerate(read(VTEST, args.fps)) if i < 100]
    for w in (640, 1280):
        ms, base = static_cost(w, frames)
        print(
            f"static-object analysis at {w} wide: {ms:.2f} CPU ms/frame (baseline, shrinking the frame only: {base:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
