"""One camera's analysis: motion gate -> detect -> track -> zone rules -> detections with evidence.

Pure of Redis and threads: :meth:`CameraPipeline.process` takes a frame and returns the messages it
produced, so the worker, the workbench and the tests share it.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from cityops.config import CameraConfig
from streams.schemas import Detection
from vision.detectors.base import Detector
from vision.evidence import EvidenceError, annotate, write_jpeg
from vision.motion_gate import MotionGate
from vision.rules import DwellRule, Violation
from vision.tracker import IouTracker
from vision.zones import Zone

log = logging.getLogger(__name__)


@dataclass
class StageTimes:
    detect_s: float = 0.0
    track_s: float = 0.0
    rules_s: float = 0.0
    evidence_s: float = 0.0
    frames: int = 0
    detected: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class CameraPipeline:
    camera: CameraConfig
    detector: Detector
    data_dir: Path
    tz: ZoneInfo
    run_id: str
    clock_origin: datetime = field(default_factory=lambda: datetime.now(UTC))
    gate_enabled: bool = True

    def __post_init__(self) -> None:
        self.zones = [Zone.from_config(z) for z in self.camera.zones]
        self.tracker = IouTracker()
        self.rules = DwellRule(self.zones)
        self.gate: MotionGate | None = None
        self.times = StageTimes()
        self.last_tracks: list = []

    def _gate(self, frame: np.ndarray) -> MotionGate:
        if self.gate is None:
            self.gate = MotionGate([z.mask(frame.shape[:2]) for z in self.zones])
        return self.gate

    @property
    def skipped(self) -> int:
        return self.gate.skipped if self.gate else 0

    def process(self, frame: np.ndarray, t: float) -> list[Detection]:
        """Analyse one frame at media time ``t`` (seconds); returns the new detections."""
        self.times.frames += 1
        now = self.clock_origin + timedelta(seconds=t)
        use_gate = (
            self.gate_enabled and self.detector.name != "motion"
        )  # the weight-free backend is motion analysis
        t0 = _time.perf_counter()
        if not use_gate or self._gate(frame).should_detect(frame, t):
            boxes = self.detector.detect(frame)
            self.times.detected += 1
            t1 = _time.perf_counter()
            tracks = self.tracker.update(boxes, t)
        else:
            t1 = _time.perf_counter()
            tracks = self.tracker.keep_alive(t)
        t2 = _time.perf_counter()
        violations = self.rules.update(tracks, t, now.astimezone(self.tz).time())
        t3 = _time.perf_counter()
        self.last_tracks = tracks
        out = [self._detection(v, frame, tracks, now) for v in violations]
        t4 = _time.perf_counter()
        self.times.detect_s += t1 - t0
        self.times.track_s += t2 - t1
        self.times.rules_s += t3 - t2
        self.times.evidence_s += t4 - t3
        return out

    def dwell_clocks(self, t: float) -> dict[int, float]:
        out: dict[int, float] = {}
        for tr in self.last_tracks:
            for z in self.zones:
                d = self.rules.dwell_of(tr.id, z.id, t)
                if d is not None:
                    out[tr.id] = max(out.get(tr.id, 0.0), d)
        return out

    def _detection(self, v: Violation, frame: np.ndarray, tracks: list, now: datetime) -> Detection:
        det_id = f"{self.camera.id}:{v.zone_id}:{v.type}:{self.run_id}:{v.track_id}:{v.at:.1f}"
        rel = f"evidence/{now:%Y%m%d}/{det_id.replace(':', '_')}.jpg"
        try:
            evidence = write_jpeg(
                annotate(frame, self.zones, tracks, self.dwell_clocks(v.at), hit=v.track_id),
                self.data_dir,
                rel,
            )
        except EvidenceError as exc:  # the finding still counts without its picture
            log.error("%s; sending the detection without evidence", exc)
            evidence = None
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
        )
