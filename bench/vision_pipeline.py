"""Vision pipeline benchmark: per-stage time and real-time streams per core, for each backend.

    .venv/bin/python bench/vision_pipeline.py [--clip PATH] [--fps 5] [--backends motion,darknet,yolo11n-640,yolo11n-320]

For each backend it runs the full camera pipeline (decode -> motion gate -> detect -> track -> rules)
over the clip at the camera frame-rate cap, then the bare detector over the same decoded frames, in
the same run. Prints ms per frame per stage, CPU-time throughput, real-time streams per core
(per-core frames/s divided by the camera fps) and the pipeline's throughput as a ratio of the bare
detector's. Ultralytics models are built from yolo11n.yaml (random weights: the same compute as
the trained model; no weights can be downloaded here). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityops.config import CameraConfig, DetectorConfig  # noqa: E402
from vision.detectors import DetectorError, make_detector  # noqa: E402
from vision.pipeline import STAGES, CameraPipeline, timed_frames  # noqa: E402
from vision.sources import VideoSource, make_demo_clip  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
YF = SHARED / "models" / "yolo-fastest-1.1"
ZONE = {
    "id": "aisle",
    "polygon": [[100, 60], [740, 60], [740, 432], [100, 432]],
    "rules": ["illegal_parking"],
    "classes": ["object", "car", "truck", "bus"],
    "dwell_s": 20,
    "min_area": 3000,
}
BACKENDS = {
    "motion": {"backend": "motion"},
    "darknet": {
        "backend": "darknet",
        "cfg": str(YF / "yolo-fastest-1.1.cfg"),
        "model": str(YF / "yolo-fastest-1.1.weights"),
        "imgsz": 320,
    },
    "yolo11n-640": {"backend": "ultralytics", "model": "yolo11n.yaml", "imgsz": 640},
    "yolo11n-320": {"backend": "ultralytics", "model": "yolo11n.yaml", "imgsz": 320},
}


def cpu() -> float:
    return time.process_time()


def bench(name: str, det_cfg: dict, clip: str, fps: float, data: Path) -> dict | None:
    cam = CameraConfig(id="bench", source=clip, lon=0, lat=0, fps=fps, zones=[ZONE], detector=det_cfg)
    try:
        det = make_detector(DetectorConfig(**det_cfg), data, fps)
    except DetectorError as exc:
        print(f"{name:<12} skipped: {exc}")
        return None
    pipe = CameraPipeline(cam, det, data, ZoneInfo("Asia/Shanghai"), "bench")
    frames = []
    c0, w0 = cpu(), time.perf_counter()
    for frame, t in timed_frames(VideoSource(clip, fps=fps), pipe.times):
        frames.append(frame)
        pipe.process(frame, t)
    pipe_cpu, pipe_wall = cpu() - c0, time.perf_counter() - w0
    bare = make_detector(DetectorConfig(**det_cfg), data, fps)  # fresh state (the weight-free one learns)
    c0 = cpu()
    for f in frames:
        bare.detect(f)
    bare_cpu = cpu() - c0
    n = len(frames)
    ms = pipe.times.as_dict()["ms_per_frame"]
    return {
        "name": name,
        "frames": n,
        "detector_runs": pipe.times.detected,
        "ms": ms,
        "pipe_fps_core": n / pipe_cpu,
        "pipe_fps_wall": n / pipe_wall,
        "bare_fps_core": n / bare_cpu,
        "streams_per_core": n / pipe_cpu / fps,
        "ratio": (n / pipe_cpu) / (n / bare_cpu),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default=str(SHARED / "media" / "car-detection.mp4"))
    ap.add_argument(
        "--fps", type=float, default=5.0, help="camera frame-rate cap (a stream's real-time rate)"
    )
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch/OpenCV threads")
    args = ap.parse_args()
    import cv2

    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        clip = args.clip if Path(args.clip).exists() else str(make_demo_clip(data / "clip.avi", seconds=30))
        print(f"clip {clip} at {args.fps:g} fps, {os.cpu_count()} cores, OpenCV {cv2.__version__}")
        print("(CPU time: 'per core' figures divide the frames by the process CPU seconds)\n")
        head = " ".join(f"{s:>8}" for s in STAGES)
        print(
            f"{'backend':<12} {'frames':>6} {'det':>4} {head}  {'fps/core':>8} {'bare':>8} {'ratio':>6} {'streams/core':>12}"
        )
        for name in args.backends.split(","):
            r = bench(name, BACKENDS[name], clip, args.fps, data)
            if r is None:
                continue
            stages = " ".join(f"{r['ms'][s]:8.2f}" for s in STAGES)
            print(
                f"{name:<12} {r['frames']:>6} {r['detector_runs']:>4} {stages}  {r['pipe_fps_core']:8.1f} "
                f"{r['bare_fps_core']:8.1f} {r['ratio']:6.2f} {r['streams_per_core']:12.1f}"
            )
        print(
            "\nstage columns: ms per analysed frame; det: detector runs (the rest skipped by the motion gate);"
        )
        print(
            "ratio: pipeline frames/s over the bare detector's on the same frames (gating can make it > 1)."
        )


if __name__ == "__main__":
    main()
