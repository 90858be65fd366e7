"""One camera's analysis: motion gate -> detect -> track -> zone rules -> detections with evidence.

Beside the detector, the scene's background models run on every frame: the weight-free backend's
own, or the static-object analysis (:mod:`vision.static_objects`) beside any other backend, which
adds ``object`` boxes for new static things the detector does not explain. The pipeline starts
those models from the camera's reference image or the background kept by its last run, and keeps
their image every :data:`KEEP_BACKGROUND_S` seconds and on :meth:`CameraPipeline.close`.

Pure of Redis and threads: :meth:`CameraPipeline.process` takes a frame and returns the messages it
produced, so the worker, the workbench, the benchmarks and the tests share it. The first frame
checks the zones against the picture size (:class:`vision.zones.ZoneError` for a zone outside it).
"""

from __future__ import annotations

import logging
import time as _time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from cityops.config import CameraConfig
from streams.schemas import Detection
from vision.background import BackgroundStore, SceneBackground, starting_image
from vision.classes import OBJECT, zone_class_errors
from vision.clips import ClipError, within_cap, write_clip
from vision.detectors.base import Detector
from vision.evidence import EvidenceError, annotate, write_jpeg
from vision.labels import write_labels
from vision.motion_gate import MotionGate
from vision.rules import CameraRules, Violation
from vision.static_objects import StaticObjects
from vision.tracking import make_tracker
from vision.zones import Zone, ZoneError, check_zones, mask_image

log = logging.getLogger(__name__)

STAGES = ("decode", "gate", "detect", "track", "rules", "evidence", "static")
#: Seconds (of the camera's clock) between two saves of its background image.
KEEP_BACKGROUND_S = 60.0


@dataclass
class StageTimes:
    """Seconds spent per stage (``decode`` is added by whoever reads the source) and frame counts."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames: int = 0
    detected: int = 0

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds

    def as_dict(self) -> dict:
        per_frame = {k: round(1000 * v / max(1, self.frames), 3) for k, v in self.seconds.items()}
        return {
            "frames": self.frames,
            "detector_runs": self.detected,
            "skipped_by_motion_gate": self.frames - self.detected,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "ms_per_frame": per_frame,  # per analysed frame: gated frames count, with no detector time
            "ms_per_detector_call": round(1000 * self.seconds["detect"] / max(1, self.detected), 3),
        }


def timed_frames(
    source: Iterable[tuple[np.ndarray, float]], times: StageTimes
) -> Iterator[tuple[np.ndarray, float]]:
    """The source's frames, with the time spent reading and decoding each added to ``times``."""
    it = iter(source)
    while True:
        t0 = _time.perf_counter()
        try:
            frame, t = next(it)
        except StopIteration:
            return
        times.add("decode", _time.perf_counter() - t0)
        yield frame, t


@dataclass
class CameraPipeline:
    camera: CameraConfig
    detector: Detector
    data_dir: Path
    tz: ZoneInfo
    run_id: str
    clock_origin: datetime = field(default_factory=lambda: datetime.now(UTC))
    gate_enabled: bool = True
    #: keep the background image under the data dir and start from it (the worker; not the workbench)
    persist_background: bool = True
    max_clip_bytes: int = 0  # a clip above it is deleted, the detection sent without it (0: no cap)

    def _check_classes(self, camera: CameraConfig) -> bool:
        """Raise ZoneError for zone classes the detector never produces; returns whether the camera
        runs the static-object analysis."""
        can = getattr(self.detector, "classes", None)
        static = camera.uses_static_objects(self.detector.name)
        if static and can is not None:
            can = can | {OBJECT}
        bad = [e for z in camera.zones for e in zone_class_errors(z.id, z.classes, can)]
        if bad:
            raise ZoneError(f"camera {camera.id!r}: " + "; ".join(bad))
        return static

    def __post_init__(self) -> None:
        static = self._check_classes(self.camera)
        self.zones = [Zone.from_config(z) for z in self.camera.zones]
        gap = max([z.max_gap_s for z in self.camera.zones] + [5.0]) + 1.0
        self.tracker = make_tracker(self.camera.tracker, fps=self.camera.fps, max_gap_s=gap)
        self.rules = CameraRules(self.zones)
        self.static: StaticObjects | None = None
        if static:
            self.static = StaticObjects(fps=self.camera.fps, camera_id=self.camera.id, named=self._named())
        self.scene: SceneBackground | None = (
            self.static.scene if self.static else getattr(self.detector, "scene", None)
        )
        self.store = BackgroundStore(self.data_dir, self.camera.id) if self.persist_background else None
        self._kept_at: float | None = None
        if self.scene is not None:
            self.scene.camera_id = self.camera.id
            img, origin = starting_image(self.store, self.camera.background)
            if img is not None:
                self.scene.seed(img, origin)
        self.gate: MotionGate | None = None
        self.times = StageTimes()
        self.last_tracks: list = []
        self.frame_size: tuple[int, int] | None = None
        clip_frames = int(self.camera.evidence_clip_s * self.camera.fps)
        self.recent: deque[np.ndarray] = deque(maxlen=max(1, clip_frames))
        # the weight-free backend is motion analysis itself: gating it would starve its background model
        self.use_gate = self.gate_enabled and self.camera.motion_gate and self.detector.name != "motion"

    @property
    def skipped(self) -> int:
        return self.gate.skipped if self.gate else 0

    def _named(self) -> frozenset[str]:
        return frozenset().union(*(r.classes for r in self.rules.rules))

    def set_zones(self, camera: CameraConfig) -> None:
        """Use ``camera``'s zones and motion masks from the next frame on (a zone override saved by
        the editor), keeping the tracks and the background models. Raises ZoneError (nothing
        changed) for zones the detector or the frame cannot serve. Dwell clocks start again."""
        static = self._check_classes(camera)
        if self.frame_size is not None:
            check_zones(camera.zones, *self.frame_size, camera.motion_masks)
        zones = [Zone.from_config(z, self.frame_size) for z in camera.zones]
        rules = CameraRules(zones)
        self.camera, self.zones, self.rules = camera, zones, rules
        if static and self.static is None:  # a zone now enforces exposed_rubbish or street_vending
            self.static = StaticObjects(fps=camera.fps, camera_id=camera.id, named=self._named())
            self.scene = self.static.scene
            self.scene.camera_id = camera.id
        elif self.static is not None:
            self.static.named = self._named()
        if self.frame_size is not None:
            self._fit_masks(*self.frame_size)

    def _first_frame(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        check_zones(self.camera.zones, w, h, self.camera.motion_masks)
        for z in self.zones:
            z.fit(w, h)
        self.frame_size = (w, h)
        self._fit_masks(w, h)

    def _fit_masks(self, w: int, h: int) -> None:
        ignore = mask_image(self.camera.motion_masks, w, h)
        if self.scene is not None:  # the background models (weight-free, static)
            self.scene.set_ignore(ignore)
        if self.use_gate:
            self.gate = MotionGate([z.mask((h, w)) for z in self.zones if not z.excludes], ignore=ignore)

    def process(self, frame: np.ndarray, t: float) -> list[Detection]:
        """Analyse one frame at media time ``t`` (seconds); returns the new detections."""
        if self.frame_size is None:
            self._first_frame(frame)
        self.times.frames += 1
        now = self.clock_origin + timedelta(seconds=t)
        ts = _time.perf_counter()
        if self.static is not None:  # every frame: its background models count memory in frames
            self.static.update(frame)
        t0 = _time.perf_counter()
        self.times.add("static", t0 - ts)
        run = self.gate is None or self.gate.should_detect(
            frame, t, [tr.box for tr in self.tracker.keep_alive(t)]
        )
        t1 = _time.perf_counter()
        if run:
            boxes = self.detector.detect(frame)
            self.times.detected += 1
            t2 = _time.perf_counter()
            if self.static is not None:  # what the detector does not explain, as 'object' boxes
                boxes = self.static.fuse(boxes)
            t2s = _time.perf_counter()
            self.times.add("static", t2s - t2)
            tracks = self.tracker.update(boxes, t)
        else:  # nothing moved where anything was: draw the tracks as last seen, count nothing
            t2 = t2s = t1
            tracks = self.tracker.keep_alive(t)
        t3 = _time.perf_counter()
        # a skipped frame is not a sighting: the dwell clocks advance only on the detector's frames
        violations = self.rules.update(tracks, t, now.astimezone(self.tz).time()) if run else []
        t4 = _time.perf_counter()
        self.last_tracks = tracks
        if self.camera.evidence_clip_s > 0:
            self.recent.append(self._small(annotate(frame, self.zones, tracks, self.rules.dwell_clocks(t))))
        out = [self._detection(v, frame, tracks, now) for v in violations]
        t5 = _time.perf_counter()
        for stage, dt in zip(STAGES[1:6], (t1 - t0, t2 - t1, t3 - t2s, t4 - t3, t5 - t4), strict=True):
            self.times.add(stage, dt)
        if self.store is not None and self.scene is not None:
            if self._kept_at is None:
                self._kept_at = t
            elif t - self._kept_at >= KEEP_BACKGROUND_S:
                self.keep_background()
                self._kept_at = t
        return out

    def keep_background(self) -> bool:
        """Save the background models' image for the next run (atomically; failures are logged)."""
        img = self.scene.image() if self.scene is not None and self.store is not None else None
        return img is not None and self.store.save(img)

    def close(self) -> None:
        """The camera stops: keep its background for the next run."""
        self.keep_background()

    @staticmethod
    def _small(img: np.ndarray, width: int = 640) -> np.ndarray:
        h, w = img.shape[:2]
        return (
            img if w <= width else cv2.resize(img, (width, int(h * width / w)), interpolation=cv2.INTER_AREA)
        )

    def live_image(self, frame: np.ndarray, t: float) -> np.ndarray:
        """``frame`` with the zones, the tracks as last seen and their dwell clocks (the live view)."""
        return annotate(frame, self.zones, self.last_tracks, self.dwell_clocks(t))

    def dwell_clocks(self, t: float) -> dict[int, float]:
        return self.rules.dwell_clocks(t)

    def _detection(self, v: Violation, frame: np.ndarray, tracks: list, now: datetime) -> Detection:
        det_id = f"{self.camera.id}:{v.zone_id}:{v.type}:{self.run_id}:{v.track_id}:{v.at:.1f}"
        stem = f"evidence/{now:%Y%m%d}/{det_id.replace(':', '_')}"
        try:
            evidence = write_jpeg(
                annotate(frame, self.zones, tracks, self.dwell_clocks(v.at), hit=v.track_id),
                self.data_dir,
                f"{stem}.jpg",
            )
        except EvidenceError as exc:  # the finding still counts without its picture
            log.error("%s; sending the detection without evidence", exc)
            evidence = None
        if evidence:
            try:  # the clean frame and boxes an operator's verdict turns into a training example
                write_labels(frame, tracks, self.data_dir, evidence, v.track_id)
            except EvidenceError as exc:
                log.error("%s; the verdict loop cannot use this detection", exc)
        clip = None
        if self.camera.evidence_clip_s > 0 and self.recent:
            try:
                path = write_clip(self.data_dir / f"{stem}.mp4", list(self.recent), self.camera.fps)
                if path and (not self.max_clip_bytes or within_cap(path, self.max_clip_bytes)):
                    clip = f"{stem}.mp4"
                elif path:
                    log.warning(
                        "%s: clip over %d bytes deleted; sending without it", det_id, self.max_clip_bytes
                    )
            except ClipError as exc:
                log.error("%s; sending the detection without a clip", exc)
        return Detection(
            id=det_id,
            source="camera",
            type=v.type,
            camera_id=self.camera.id,
            zone_id=v.zone_id,
            track_id=v.track_id,
            lon=self.camera.lon,
            lat=self.camera.lat,
            confidence=min(1.0, v.box.conf),
            bbox=v.box.as_tuple(),
            dwell_s=round(v.dwell_s, 2),
            observed_at=now,
            evidence=evidence,
            clip=clip,
        )
