"""Vision pipeline benchmark: per-stage time and real-time streams per core, for each backend.

    .venv/bin/python bench/vision_pipeline.py [--clip PATH] [--fps 5] [--gate both]
        [--backends motion,darknet,yolo11n-ov,yolo11n-640,yolo11n-320]

For each backend it runs the full camera pipeline (decode -> motion gate -> detect -> track -> rules)
over the clip at the camera frame-rate cap, then the bare detector over the same decoded frames, in
the same run. Prints ms per frame per stage, CPU-time throughput, real-time streams per core
(per-core frames/s divided by the camera fps) and the pipeline's throughput as a ratio of the bare
detector's, with the motion gate on and off. ``yolo11n-ov`` is the real YOLO11n (COCO) exported to
OpenVINO INT8 from ../shared/models (the production path); ``yolo11n-640``/``-320`` are built from
yolo11n.yaml (random weights: PyTorch, the same compute as the trained model). Figures are printed, never asserted.
A busy clip (people moving in every frame, so the gate seldom skips): ``--clip ../shared/media/vtest.avi``.
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
    # real weights: YOLO11n (COCO) exported to OpenVINO INT8 (../shared; needs cityops[ultralytics])
    "yolo11n-ov": {"backend": "ultralytics", "model": str(SHARED / "models" / "yolo11n_int8_openvino_model")},
    "yolo11n-640": {"backend": "ultralytics", "model": "yolo11n.yaml", "imgsz": 640},
    "yolo11n-320": {"backend": "ultralytics", "model": "yolo11n.yaml", "imgsz": 320},
}


def cpu() -> float:
    return time.process_time()


def bench(name: str, det_cfg: dict, clip: str, fps: float, data: Path, gate: bool = True) -> dict | None:
    det_cfg = {"imgsz": 640, **det_cfg}
    cam = CameraConfig(id="bench", source=clip, lon=0, lat=0, fps=fps, zones=[ZONE], detector=det_cfg)
    try:
        det = make_detector(DetectorConfig(**det_cfg), data, fps)
    except DetectorError as exc:
        print(f"{name:<12} skipped: {exc}")
        return None
    pipe = CameraPipeline(cam, det, data, ZoneInfo("Asia/Shanghai"), "bench", gate_enabled=gate)
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
    times = pipe.times.as_dict()
    ms = times["ms_per_frame"]
    return {
        "name": name + ("" if gate or det.name == "motion" else "/nogate"),
        "ms_call": times["ms_per_detector_call"],
        "frames": n,
        "detector_runs": pipe.times.detected,
        "ms": ms,
        "pipe_fps_core": n / pipe_cpu,
        "pipe_fps_wall": n / pipe_wall,
        "bare_fps_core": n / bare_cpu,
        "bare_ms_cpu": 1000 * bare_cpu / n,  # the detector alone: CPU ms per call (load-independent)
        "streams_per_core": n / pipe_cpu / fps,
        "streams_per_2": 2 * n / pipe_cpu / fps,
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
    ap.add_argument(
        "--gate",
        choices=("on", "off", "both"),
        default="both",
        help="motion gate (the weight-free backend: off)",
    )
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
            f"{'backend':<18} {'frames':>6} {'det':>4} {'ms/call':>8} {'cpu ms':>7} {head}  {'fps/core':>8} {'bare':>8} "
            f"{'ratio':>6} {'streams/core':>12} {'streams/2cores':>14}"
        )
        gates = {"on": [True], "off": [False], "both": [True, False]}[args.gate]
        for name in args.backends.split(","):
            for gate in gates if BACKENDS[name]["backend"] != "motion" else [True]:
                r = bench(name, BACKENDS[name], clip, args.fps, data, gate)
                if r is None:
                    break
                stages = " ".join(f"{r['ms'][s]:8.2f}" for s in STAGES)
                print(
                    f"{r['name']:<18} {r['frames']:>6} {r['detector_runs']:>4} {r['ms_call']:8.2f} {r['bare_ms_cpu']:7.1f} "
                    f"{stages}  "
                    f"{r['pipe_fps_core']:8.1f} {r['bare_fps_core']:8.1f} {r['ratio']:6.2f} "
                    f"{r['streams_per_core']:12.1f} {r['streams_per_2']:14.1f}"
                )
        print(
            "\nstage columns: ms per analysed frame; det: detector runs (the rest skipped by the motion gate);"
        )
        print("ms/call: the detector's ms per call (wall clock, per run, not averaged over skipped frames);")
        print("cpu ms: the bare detector's CPU ms per call (what a loaded machine does not inflate);")
        print(
            "ratio: pipeline frames/s over the bare detector's on the same frames (gating can make it > 1)."
        )


if __name__ == "__main__":
    main()
