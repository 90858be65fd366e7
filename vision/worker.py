"""The vision worker: one process, one thread per camera, publishing detections and camera health.

(Sharing cameras between several workers through Redis leases is the vision issue's next step.)
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis

from cityops.config import CameraConfig, CityOpsConfig
from streams.bus import connect, publish
from streams.schemas import CAMERA_HEALTH, DETECTIONS, CameraHealth
from vision.detectors import DetectorError, make_detector
from vision.pipeline import CameraPipeline
from vision.sources import SourceError, VideoSource

log = logging.getLogger(__name__)


class CameraRunner(threading.Thread):
    def __init__(
        self, cfg: CityOpsConfig, camera: CameraConfig, r: redis.Redis, stop: threading.Event, run_id: str
    ):
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.cfg, self.camera, self.r, self.stop_event, self.run_id = cfg, camera, r, stop, run_id
        self.published = 0
        self.state = "starting"
        self.error: str | None = None
        self.last_frame_at: datetime | None = None

    def _health(self, pipeline: CameraPipeline | None, fps: float) -> None:
        msg = CameraHealth(
            camera_id=self.camera.id,
            state=self.state,
            fps=round(fps, 2),
            frames=pipeline.times.frames if pipeline else 0,
            skipped_frames=pipeline.skipped if pipeline else 0,
            last_frame_at=self.last_frame_at,
            error=self.error,
        )
        try:
            publish(self.r, CAMERA_HEALTH, msg, maxlen=10_000)
        except redis.RedisError as exc:
            log.warning("camera %s: health not published: %s", self.camera.id, exc)

    def _on_source(self, state: str, err: str | None) -> None:
        self.state, self.error = state, err

    def run(self) -> None:
        pipeline = None
        try:
            detector = make_detector(
                self.camera.detector or self.cfg.detector, self.cfg.data, self.camera.fps
            )
            pipeline = CameraPipeline(
                self.camera, detector, self.cfg.data, ZoneInfo(self.cfg.timezone), self.run_id
            )
            source = VideoSource(
                self.camera.source,
                fps=self.camera.fps,
                loop=self.camera.loop,
                realtime=True,
                on_status=self._on_source,
            )
            self._health(pipeline, 0)
            window_start, window_frames, last_health = time.monotonic(), 0, 0.0
            for frame, t in source:
                if self.stop_event.is_set():
                    source.stop()
                    break
                self.state, self.error = "online", None
                self.last_frame_at = datetime.now(UTC)
                for det in pipeline.process(frame, t):
                    self._publish_detection(det)
                window_frames += 1
                now = time.monotonic()
                if now - last_health >= 2.0:
                    self._health(pipeline, window_frames / max(1e-6, now - window_start))
                    window_start, window_frames, last_health = now, 0, now
            self.state = "stopped"
        except (SourceError, DetectorError) as exc:
            log.error("camera %s: %s", self.camera.id, exc)
            self.state, self.error = "error", str(exc)
        self._health(pipeline, 0)

    def _publish_detection(self, det) -> None:
        delay = 0.2
        while not self.stop_event.is_set():
            try:
                publish(self.r, DETECTIONS, det, maxlen=self.cfg.redis.stream_maxlen)
                self.published += 1
                log.info(
                    "camera %s: %s in zone %s (dwell %.1fs) -> %s",
                    self.camera.id,
                    det.type,
                    det.zone_id,
                    det.dwell_s,
                    det.id,
                )
                return
            except redis.RedisError as exc:  # keep the finding until Redis is back
                log.warning("camera %s: publish failed (%s); retrying", self.camera.id, exc)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 5.0)


class VisionWorker:
    def __init__(self, cfg: CityOpsConfig, redis_url: str, camera_ids: list[str] | None = None) -> None:
        self.cfg = cfg
        self.r = connect(redis_url)
        self.stop_event = threading.Event()
        self.run_id = uuid.uuid4().hex[:8]
        cams = [c for c in cfg.cameras if camera_ids is None or c.id in camera_ids]
        self.runners = [CameraRunner(cfg, c, self.r, self.stop_event, self.run_id) for c in cams]

    def run(self, stop: threading.Event) -> None:
        for rn in self.runners:
            rn.start()
        stop.wait()
        self.stop_event.set()
        for rn in self.runners:
            rn.join(timeout=5)
