"""The verdict loop on the sample footage: before/after eval of a short fine-tune.

    .venv/bin/python bench/verdict_loop.py [--frames 40] [--epochs 3] [--imgsz 320] [--out DIR]

Frames are sampled evenly from ../shared/media (car-detection.mp4, vtest.avi,
one-by-one-person-detection.mp4). Each becomes a camera incident with vision's own evidence
writers, the boxes coming from the shared YOLO11n INT8 OpenVINO model (what the worker would have
sent); a simulated operator confirms it, except every fifth, marked a false alarm (a background
image). Then ``cityops vision dataset export``, ``cityops vision train`` from ``yolo11n.yaml``
(random weights: the INT8 export cannot be trained, and no .pt can be downloaded here) and
``cityops vision eval --data`` print:

- baseline (same run): ``yolo11n.yaml`` untrained, the model the fine-tune starts from;
- after: the fine-tuned weights;
- reference: the INT8 teacher, scored on its own boxes (an upper bound by construction, not a
  measurement of its accuracy).

There are no human labels: the "ground truth" is the teacher's boxes as an operator confirmed them,
and the val split is a handful of frames from the same clips. The figures show the loop works, not
that the fine-tuned model is any good. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cityops.cli import main as cityops  # noqa: E402
from cityops.config import CityOpsConfig  # noqa: E402
from dispatch.commands import Actor  # noqa: E402
from dispatch.store import open_store  # noqa: E402
from dispatch.verdicts import Verdict, record_verdict  # noqa: E402
from dispatch.wiring import build_dispatch  # noqa: E402
from gis.default import load_grid  # noqa: E402
from streams.schemas import Detection  # noqa: E402
from vision.detectors.ultralytics_backend import UltralyticsDetector  # noqa: E402
from vision.evidence import annotate, write_jpeg  # noqa: E402
from vision.labels import write_labels  # noqa: E402
from vision.tracking import Track  # noqa: E402

SHARED = ROOT.parent / "shared"
CLIPS = ("car-detection.mp4", "vtest.avi", "one-by-one-person-detection.mp4")
TEACHER = SHARED / "models" / "yolo11n_int8_openvino_model"


def sample(path: Path, n: int):
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    for k in range(n):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int((k + 0.5) * total / n))
        ok, frame = cap.read()
        if ok:
            yield cv2.resize(frame, (640, int(frame.shape[0] * 640 / frame.shape[1])))
    cap.release()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=40, help="frames in all (split over the clips)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", help="keep the dataset and run here (default: a temp folder)")
    args = ap.parse_args()
    clips = [SHARED / "media" / c for c in CLIPS if (SHARED / "media" / c).is_file()]
    if not clips or not TEACHER.is_dir():
        print(f"skipped: needs {SHARED}/media clips and {TEACHER}")
        return 0
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="verdict-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    cfg = CityOpsConfig.model_validate(
        {"data_dir": str(data), "store": {"url": f"sqlite:///{work}/cityops.db"},
         "grid": {"cells": 60, "communities": 6, "streets": 2, "seed": 7}}
    )  # fmt: skip
    (work / "cityops.yaml").write_text(
        yaml.safe_dump(
            {"data_dir": str(data), "store": {"url": cfg.store_url}, "grid": cfg.grid.model_dump(mode="json")}
        )
    )
    _, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    intake = build_dispatch(cfg, grid, sessions=sessions).intake
    teacher = UltralyticsDetector(str(TEACHER), imgsz=640, conf=0.35, data_dir=data, threads=2)
    t0, made, boxes = datetime(2026, 11, 25, 2, 0, tzinfo=UTC), 0, 0
    started = time.monotonic()
    for clip in clips:
        for frame in sample(clip, args.frames // len(clips)):
            tracks = [Track(i + 1, b, 0.0) for i, b in enumerate(teacher.detect(frame))]
            rel = f"evidence/bench/{clip.stem}_{made}.jpg"
            write_jpeg(annotate(frame, [], tracks, {}), data, rel)
            write_labels(frame, tracks, data, rel, tracks[0].id if tracks else None)
            cell = grid.cells[made % len(grid.cells)].geometry.representative_point()
            res = intake.handle(
                Detection(id=f"bench:{made}", type="illegal_parking", camera_id=clip.stem, lon=cell.x,
                          lat=cell.y, observed_at=t0 + timedelta(seconds=made), evidence=rel)
            )  # fmt: skip
            fa = made % 5 == 4
            record_verdict(sessions, data, res.incident_id, Verdict.FALSE_ALARM if fa else Verdict.CONFIRMED,
                           "bench: simulated operator" if fa else "", Actor("bench", "operator"))  # fmt: skip
            made += 1
            boxes += 0 if fa else len(tracks)
    print(
        f"{made} incidents from {len(clips)} clip(s), {boxes} confirmed boxes ({time.monotonic() - started:.0f} s)"
    )
    conf = ["--config", str(work / "cityops.yaml")]
    ds, run = work / "dataset", work / "run"
    assert cityops(["vision", "dataset", "export", "--out", str(ds), "--quiet", *conf]) == 0
    started = time.monotonic()
    rc = cityops(["vision", "train", "--data", str(ds), "--model", "yolo11n.yaml", "--epochs", str(args.epochs),
                  "--imgsz", str(args.imgsz), "--out", str(run), "--quiet", *conf])  # fmt: skip
    print(f"train: rc {rc}, {time.monotonic() - started:.0f} s on CPU (2 torch threads)")
    print("\nbefore = yolo11n.yaml untrained (baseline, same run); after = fine-tuned; teacher = reference")
    cityops(["vision", "eval", "--data", str(ds), "--imgsz", str(args.imgsz), "--model", "yolo11n.yaml",
             "--model", str(run / "model.pt"), *conf])  # fmt: skip
    cityops(["vision", "eval", "--data", str(ds), "--imgsz", "640", "--model", str(TEACHER), *conf])
    print(f"\nkept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
