"""``cityops vision try``: run one camera's pipeline over a clip and keep everything it saw.

Writes into an output folder: ``annotated.mp4`` (H.264: zones, boxes, track ids, dwell clocks,
the media time), ``incidents.json`` (each detection, with its media time) and ``timings.json``
(seconds and milliseconds per analysed frame for each stage, and the detector's
milliseconds per call: the motion gate makes the two differ), and the evidence JPEGs under ``evidence/``.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import yaml
from pydantic import ValidationError

from cityops.config import (
    CameraConfig,
    CityOpsConfig,
    ConfigError,
    DetectorConfig,
    format_errors,
    resolve_paths,
)
from vision.clips import H264Writer
from vision.detectors import make_detector
from vision.evaluate import Score, load_labels, match_events
from vision.evidence import annotate
from vision.pipeline import CameraPipeline, timed_frames
from vision.sources import SourceError, VideoSource, folder_images, is_live

ORIGIN = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai: inside default active hours


def load_detector(path: Path) -> DetectorConfig:
    """A detector mapping from a YAML file (``--detector``); relative paths against the file's folder."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        cfg = CityOpsConfig.model_validate({"detector": data})
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read detector YAML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc.error_count()} problem(s)\n{format_errors(exc, data)}") from exc
    return resolve_paths(cfg, Path(path).parent.resolve()).detector


def load_camera(
    path: Path, clip: str, camera_id: str | None = None, detector: DetectorConfig | None = None
) -> tuple[CameraConfig, CityOpsConfig]:
    """A camera from a YAML file holding one camera mapping or a whole config (``cameras:``).

    The clip replaces the camera's source; position defaults to (0, 0); relative paths are resolved
    against the YAML file's folder. Returns the camera and a config carrying its detector.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read camera YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping (one camera, or a config with 'cameras:')")
    if "cameras" in data:
        cams = [c for c in data["cameras"] if camera_id in (None, c.get("id"))]
        if not cams:
            raise ConfigError(f"{path}: no camera {camera_id!r}")
        top = {k: v for k, v in data.items() if k in ("detector", "timezone")}
        cam = cams[0]
    else:
        top, cam = {}, data
    cam = {"id": "workbench", "lon": 0.0, "lat": 0.0, **cam, "source": str(clip), "loop": False}
    try:
        cfg = CityOpsConfig.model_validate({**top, "cameras": [cam]})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc.error_count()} problem(s)\n{format_errors(exc, data)}") from exc
    try:
        cfg = resolve_paths(cfg, Path(path).parent.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    camera = cfg.cameras[0].model_copy(update={"source": str(clip)})
    if detector is not None:
        camera = camera.model_copy(update={"detector": detector})
    return camera, cfg


def expected_frames(source: str, fps: float, interval_s: float) -> int | None:
    if is_live(source):
        return None
    if Path(source).is_dir():
        n = len(folder_images(Path(source)))
        return int(n * min(1.0, fps * interval_s))
    cap = cv2.VideoCapture(source)
    n, native = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    if n <= 0 or not (0 < native < 1000):
        return None
    return int(n / native * min(fps, native)) + 1


@dataclass
class RunResult:
    incidents: list[dict]
    timings: dict
    frames: int
    wall_s: float


def run_clip(
    camera: CameraConfig,
    cfg: CityOpsConfig,
    out_dir: Path,
    *,
    video: bool = True,
    progress: bool = True,
) -> RunResult:
    """Run the pipeline over the camera's (file or folder) source as fast as it goes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    detector = make_detector(camera.detector or cfg.detector, out_dir, camera.fps)
    pipe = CameraPipeline(
        camera,
        detector,
        out_dir,
        ZoneInfo(cfg.timezone),
        "try",
        clock_origin=ORIGIN,
        persist_background=False,  # a clip starts from its camera's reference image, never a past run
    )
    source = VideoSource(camera.source, fps=camera.fps, interval_s=camera.image_interval_s)
    writer = H264Writer(out_dir / "annotated.mp4", camera.fps) if video else None
    incidents: list[dict] = []
    total = expected_frames(camera.source, camera.fps, camera.image_interval_s)
    bar = _progress(progress, total, Path(camera.source).name)
    start = time.perf_counter()
    with bar as (advance):
        for frame, t in timed_frames(source, pipe.times):
            for d in pipe.process(frame, t):
                incidents.append(
                    {
                        "t": round(t, 2),
                        "type": d.type,
                        "zone": d.zone_id,
                        "track_id": d.track_id,
                        "dwell_s": d.dwell_s,
                        "confidence": round(d.confidence, 3),
                        "bbox": [round(v, 1) for v in d.bbox or ()],
                        "evidence": d.evidence,
                        "clip": d.clip,
                    }
                )
            if writer:
                img = annotate(frame, pipe.zones, pipe.last_tracks, pipe.dwell_clocks(t))
                label = f"t={t:6.1f}s  incidents={len(incidents)}"
                cv2.putText(
                    img, label, (8, img.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2
                )
                writer.write(img)
            advance()
    if writer:
        writer.close()
    wall = time.perf_counter() - start
    timings = {**pipe.times.as_dict(), "wall_s": round(wall, 3), "fps": round(pipe.times.frames / wall, 2)}
    timings["detector"], timings["tracker"] = detector.name, pipe.tracker.name
    timings["expected_frames"] = total
    (out_dir / "incidents.json").write_text(json.dumps(incidents, indent=2), encoding="utf-8")
    (out_dir / "timings.json").write_text(json.dumps(timings, indent=2), encoding="utf-8")
    return RunResult(incidents, timings, pipe.times.frames, wall)


class _progress:
    """A rich progress bar (or nothing); the context value advances it by one frame."""

    def __init__(self, enabled: bool, total: int | None, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.p = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        self.p.start()
        task = self.p.add_task(self.label, total=self.total)
        return lambda: self.p.advance(task)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.p.stop()


def try_clip(
    clip: str, camera_yaml: Path, out: Path, camera_id: str | None, video: bool, progress: bool
) -> None:
    """The ``vision try`` command: run, then print the incidents and the stage timings."""
    from rich.console import Console

    camera, cfg = load_camera(camera_yaml, clip, camera_id)
    res = run_clip(camera, cfg, out.resolve(), video=video, progress=progress)
    con = Console()
    for inc in res.incidents:
        con.print(f"  {inc['t']:7.1f}s  {inc['type']:<18} zone {inc['zone']:<16} track {inc['track_id']}")
    ms = res.timings["ms_per_frame"]
    con.print(
        f"{len(res.incidents)} incident(s) in {res.frames} frames, {res.timings['fps']} fps "
        f"({res.timings['detector']} + {res.timings['tracker']}); ms/frame: "
        + ", ".join(f"{k} {v:.2f}" for k, v in ms.items())
    )
    t = res.timings
    con.print(
        f"detector: {t['ms_per_detector_call']:.2f} ms per call ({t['detector_runs']} calls), "
        f"{ms['detect']:.2f} ms per analysed frame ({t['skipped_by_motion_gate']} frames skipped by the gate)"
    )
    con.print(f"wrote {out}/annotated.mp4, incidents.json, timings.json")
    expected = res.timings.get("expected_frames")
    if short_read(res.frames, expected):
        raise SourceError(
            f"{clip}: read {res.frames} of {expected} expected frames: the clip ends early "
            "(cut off or damaged); the results above cover only the frames read"
        )


def short_read(frames: int, expected: int | None) -> bool:
    """Fewer frames than the container announces (beyond rounding of the frame-rate cap)?"""
    return expected is not None and frames < expected - max(2, 0.02 * expected)


def evaluate(
    labels: Path,
    tolerance: float | None = None,
    *,
    clips_dir: Path | None = None,
    detector: Path | None = None,
    json_out: Path | None = None,
    gate: bool | None = None,
    model: str | None = None,
) -> Score:
    """The ``vision eval`` command: run each labelled clip, print per-clip and overall scores (and
    per violation type); ``clips_dir`` holds the clips (default: beside the label file), ``detector``
    a detector YAML that replaces every camera's, ``gate`` forces the motion gate on or off, ``model``
    an Ultralytics model replacing each camera's detector's model (to compare old and new weights)."""
    tol, clips = load_labels(labels, clips_dir)
    tol = tolerance if tolerance is not None else tol
    det_cfg = load_detector(detector) if detector else None
    missing = [str(p) for lc in clips for p in (lc.clip, lc.background) if p is not None and not p.exists()]
    if missing:
        raise ConfigError(f"{labels}: clip(s) not found: {', '.join(missing)} (build them first?)")
    total, by_type, rows = Score(), {}, []

    def row(name: str, s: Score, extra: str = "") -> None:
        print(
            f"{name:<30} {s.tp:>3} {s.fp:>3} {s.fn:>3} {s.precision:6.2f} {s.recall:6.2f} {s.f1:6.2f}  {extra}"
        )

    print(f"{'clip':<30} {'TP':>3} {'FP':>3} {'FN':>3} {'P':>6} {'R':>6} {'F1':>6}  (tolerance {tol:g} s)")
    used = None
    for lc in clips:
        camera, cfg = load_camera(lc.camera, str(lc.clip), detector=det_cfg)
        if model:
            det = (camera.detector or cfg.detector).model_copy(
                update={"backend": "ultralytics", "model": model, "fallback": None}
            )
            camera = camera.model_copy(update={"detector": det})
            cfg = cfg.model_copy(update={"detector": det})
        if gate is not None:
            camera = camera.model_copy(update={"motion_gate": gate})
        if lc.background is not None:
            camera = camera.model_copy(update={"background": str(lc.background)})
        with tempfile.TemporaryDirectory() as tmp:
            res = run_clip(camera, cfg, Path(tmp), video=False, progress=False)
        used = res.timings["detector"]
        s = match_events(res.incidents, lc.events, tol)
        total += s
        for typ in sorted({e.type for e in lc.events} | {d["type"] for d in res.incidents}):
            by_type.setdefault(typ, Score())
            by_type[typ] += match_events(
                [d for d in res.incidents if d["type"] == typ], [e for e in lc.events if e.type == typ], tol
            )
        skipped = res.timings["skipped_by_motion_gate"]
        row(
            lc.clip.stem,
            s,
            f"{res.frames} frames, {skipped} gated, {res.timings['ms_per_detector_call']:.0f} ms/call",
        )
        rows.append(
            {
                "clip": lc.clip.stem,
                **_score_dict(s),
                "frames": res.frames,
                "gated": skipped,
                "detections": [{k: d[k] for k in ("t", "type", "zone", "track_id")} for d in res.incidents],
            }
        )
    for typ, s in sorted(by_type.items()):
        row(f"all {typ}", s)
    row("all", total)
    if total.duplicates:
        print(f"({total.duplicates} repeated detection(s) of a matched event counted as false positives)")
    if json_out is not None:
        doc = {
            "labels": str(labels),
            "detector": used,
            "detector_yaml": str(detector) if detector else None,
            "tolerance_s": tol,
            "clips": rows,
            "by_type": {typ: _score_dict(s) for typ, s in sorted(by_type.items())},
            "all": _score_dict(total),
        }
        json_out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return total


def _score_dict(s: Score) -> dict:
    return {
        "tp": s.tp,
        "fp": s.fp,
        "fn": s.fn,
        "duplicates": s.duplicates,
        "precision": round(s.precision, 4),
        "recall": round(s.recall, 4),
        "f1": round(s.f1, 4),
    }
