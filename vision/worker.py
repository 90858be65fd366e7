"""The vision worker: one process serves many cameras, one thread each; processes share cameras
through Redis leases (:mod:`vision.leases`).

Each round (a third of the lease TTL) the worker renews its leases, stops cameras whose lease it
lost, gives up cameras above its fair share (another worker joined) and takes free ones up to it
(a worker died or left). A camera whose source or zones are wrong fails alone: its health says
why, the other cameras go on. SIGTERM stops every camera, publishes their last health and releases
the leases, so another worker takes them at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis

from cityops.config import CameraConfig, CityOpsConfig
from streams.bus import connect
from streams.camera_state import HealthReporter
from streams.errors import Outage, is_transient
from streams.media import EVIDENCE_DIR
from streams.producer import DurableProducer
from streams.schemas import DETECTIONS, CameraHealth, Detection, encode
from streams.spool import Spool
from vision.background import BackgroundError
from vision.clips import sweep_clips
from vision.detectors import DetectorError, make_detector
from vision.leases import Leases, fair_share, new_worker_id
from vision.live_view import LivePublisher
from vision.pipeline import CameraPipeline, timed_frames
from vision.rules import UnknownRule
from vision.sources import SourceError, VideoSource
from vision.tracking import TrackerError
from vision.zone_overrides import OverrideWatcher
from vision.zones import ZoneError

log = logging.getLogger(__name__)
#: Seconds between two looks at a camera's zone override file.
OVERRIDE_POLL_S = 2.0
CAMERA_ERRORS = (SourceError, DetectorError, ZoneError, TrackerError, UnknownRule, BackgroundError)


def detection_producer(cfg: CityOpsConfig, r: redis.Redis, name: str) -> DurableProducer:
    """The detections stream's producer with its spool (``vision.spool_dir``, one file per process)."""
    spool = Spool(cfg.data / cfg.vision.spool_dir, name, cfg.vision.spool_max_entries)
    return DurableProducer(
        r,
        DETECTIONS,
        spool,
        maxlen=cfg.redis.stream_maxlen,
        confirm_timeout_ms=cfg.vision.confirm_timeout_ms,
        name=f"vision {name}",
    )


class CameraRunner(threading.Thread):
    def __init__(
        self,
        cfg: CityOpsConfig,
        camera: CameraConfig,
        r: redis.Redis,
        run_id: str,
        producer: DurableProducer | None = None,
    ):
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.cfg, self.camera, self.r, self.run_id = cfg, camera, r, run_id
        self._producer = producer
        self.health_outage = Outage(log, f"camera {camera.id}: health")
        self.reporter = HealthReporter(maxlen=cfg.redis.health_maxlen)
        self.stop_event = threading.Event()
        self.source: VideoSource | None = None
        self.published = 0
        self.state = "starting"
        self.error: str | None = None
        self.last_frame_at: datetime | None = None
        self.pipeline: CameraPipeline | None = None
        self.final_health = True
        self.live = LivePublisher(r, camera.id, cfg.vision.live_max_fps)
        # the zone editor's file for this camera, looked at every few seconds (no restart needed)
        self.overrides = OverrideWatcher(cfg.data, camera, cfg.detector, OVERRIDE_POLL_S)
        self.zones_applied = 0  # overrides swapped in while running

    def stop(self, *, final_health: bool = True) -> None:
        self.final_health = final_health
        self.stop_event.set()
        if self.source:
            self.source.stop()

    def _health(self, fps: float) -> None:
        p = self.pipeline
        msg = CameraHealth(
            camera_id=self.camera.id,
            state=self.state,
            fps=round(fps, 2),
            frames=p.times.frames if p else 0,
            skipped_frames=p.skipped if p else 0,
            last_frame_at=self.last_frame_at,
            error=self.error,
        )
        try:
            self.reporter.report(self.r, msg)
            self.health_outage.ok()
        except redis.RedisError as exc:  # health is news, not a record: the next one replaces it
            self.reporter.forget(self.camera.id)
            if is_transient(exc):
                self.health_outage.failed(exc)
            else:
                log.error("camera %s: health not published: %s", self.camera.id, exc)

    def _on_source(self, state: str, err: str | None) -> None:
        changed = (state, err) != (self.state, self.error)
        self.state, self.error = state, err
        if changed:  # a stream going offline or back is news at once, not at the next frame
            self._health(0)

    def run(self) -> None:
        try:
            self._run()
            self.state = "stopped"
        except CAMERA_ERRORS as exc:
            log.error("camera %s: %s", self.camera.id, exc)
            self.state, self.error = "error", str(exc)
        finally:
            if self.pipeline is not None:
                self.pipeline.close()  # keep the background for whoever runs this camera next
        if self.final_health:
            self._health(0)

    def _run(self) -> None:
        cam = self.camera = self.overrides.initial()
        detector = make_detector(cam.detector or self.cfg.detector, self.cfg.data, cam.fps)
        try:
            self.pipeline = self._pipeline(cam, detector)
        except ZoneError as exc:
            if cam is self.overrides.camera:
                raise
            self._refuse(exc)
            self.pipeline = self._pipeline(self.overrides.camera, detector)
        self.source = VideoSource(
            cam.source,
            fps=cam.fps,
            loop=cam.loop,
            realtime=True,
            interval_s=cam.image_interval_s,
            on_status=self._on_source,
        )
        if self.stop_event.is_set():
            return
        self._health(0)
        window_start, window_frames, last_health = time.monotonic(), 0, 0.0
        for frame, t in timed_frames(self.source, self.pipeline.times):
            if self.stop_event.is_set():
                return
            self.state, self.error = "online", None
            self.last_frame_at = datetime.now(UTC)
            for det in self._process(frame, t):
                self._publish_detection(det)
            window_frames += 1
            now = time.monotonic()
            self._reload_zones(now)
            self.live.tick(now, lambda f=frame, t=t: self.pipeline.live_image(f, t))  # only if watched
            if now - last_health >= self.cfg.vision.health_interval_s:
                self._health(window_frames / max(1e-6, now - window_start))
                window_start, window_frames, last_health = now, 0, now

    def _pipeline(self, cam: CameraConfig, detector) -> CameraPipeline:
        self.camera = cam
        return CameraPipeline(
            cam,
            detector,
            self.cfg.data,
            ZoneInfo(self.cfg.timezone),
            self.run_id,
            max_clip_bytes=int(self.cfg.vision.max_clip_mb * 1e6),
        )

    def _refuse(self, exc: Exception) -> None:
        """The zone override does not fit this camera: log why and go on with the config's zones."""
        self.overrides.refused = str(exc)
        log.error("camera %s: zone override refused, the zones in use stay: %s", self.camera.id, exc)

    def _process(self, frame, t: float) -> list[Detection]:
        try:
            return self.pipeline.process(frame, t)
        except ZoneError as exc:  # the first frame: an override's zone outside the picture
            if self.pipeline.frame_size is not None or self.camera is self.overrides.camera:
                raise
            self._refuse(exc)
            self.camera = self.overrides.camera
            self.pipeline.set_zones(self.camera)
            return self.pipeline.process(frame, t)

    def _reload_zones(self, now: float) -> None:
        """Swap in the camera's zone override if its file changed and fits this camera's frames."""
        cam = self.overrides.poll(now, self.pipeline.frame_size)
        if cam is None:
            return
        try:
            self.pipeline.set_zones(cam)
        except (ZoneError, UnknownRule) as exc:
            self._refuse(exc)
            return
        self.camera = cam
        self.zones_applied += 1
        log.info(
            "camera %s: now %d zone(s), %d motion mask(s)", cam.id, len(cam.zones), len(cam.motion_masks)
        )

    @property
    def producer(self) -> DurableProducer:
        """The worker's shared producer; a runner used on its own (tools, tests) makes its own."""
        if self._producer is None:
            name = f"camera-{self.camera.id}-{os.getpid()}-{self.run_id}"
            self._producer = detection_producer(self.cfg, self.r, name)
        return self._producer

    def _publish_detection(self, det: Detection) -> None:
        """Spool the finding (fsync'd) and hand it to the sender: it is kept until Redis has it on
        disk, through Redis outages and full disks, without holding up this camera's frames."""
        self.producer.submit(det.id, encode(det))
        self.published += 1
        log.info(
            "camera %s: %s in zone %s (dwell %.1fs) -> %s",
            self.camera.id,
            det.type,
            det.zone_id,
            det.dwell_s,
            det.id,
        )


class VisionWorker:
    def __init__(
        self,
        cfg: CityOpsConfig,
        redis_url: str,
        camera_ids: list[str] | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.r = connect(redis_url)
        self.run_id = uuid.uuid4().hex[:8]
        self.worker_id = worker_id or new_worker_id()
        self.cameras = {c.id: c for c in cfg.cameras if camera_ids is None or c.id in camera_ids}
        self.leases = Leases(self.r, self.worker_id, cfg.vision.lease_ttl_s)
        self.runners: dict[str, CameraRunner] = {}
        self.producer = detection_producer(cfg, self.r, self.worker_id).start()
        self.outage = Outage(log, f"worker {self.worker_id}: camera leases")

    def _start(self, cam_id: str) -> None:
        rn = self.runners[cam_id] = CameraRunner(
            self.cfg, self.cameras[cam_id], self.r, self.run_id, self.producer
        )
        rn.start()
        log.info("worker %s: took camera %s", self.worker_id, cam_id)

    def _drop(self, cam_id: str, *, release: bool) -> None:
        rn = self.runners.pop(cam_id)
        rn.stop(final_health=release)
        rn.join(timeout=5)
        if release:
            self.leases.release(cam_id)

    def balance(self) -> None:
        """One round: renew, drop lost leases, shed cameras above the fair share, take free ones."""
        self.leases.heartbeat()
        for cam_id in list(self.runners):
            if not self.leases.renew(cam_id):
                log.warning("worker %s: lease on camera %s lost; stopping it", self.worker_id, cam_id)
                self._drop(cam_id, release=False)
        share = fair_share(len(self.cameras), self.leases.live_workers(), self.cfg.vision.max_cameras)
        for cam_id in sorted(self.runners)[share:]:
            log.info("worker %s: handing camera %s over (share %d)", self.worker_id, cam_id, share)
            self._drop(cam_id, release=True)
        for cam_id in sorted(self.cameras):
            if len(self.runners) >= share:
                break
            if cam_id not in self.runners and self.leases.acquire(cam_id):
                self._start(cam_id)

    def sweep(self) -> int:
        """Delete the evidence clips past ``vision.clip_retention_days`` (every worker may: a clip
        another one deleted first is skipped)."""
        days = self.cfg.vision.clip_retention_days
        n = sweep_clips(self.cfg.data / EVIDENCE_DIR, days * 86400, time.time())
        if n:
            log.info("worker %s: deleted %d evidence clip(s) older than %g day(s)", self.worker_id, n, days)
        return n

    def run(self, stop: threading.Event) -> None:
        interval = self.cfg.vision.lease_ttl_s / 3
        log.info("vision worker %s: %d camera(s) configured", self.worker_id, len(self.cameras))
        next_sweep = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.cfg.vision.clip_sweep_interval_s
                    try:
                        self.sweep()
                    except OSError as exc:
                        log.error("worker %s: clip sweep failed: %s", self.worker_id, exc)
                try:
                    self.balance()
                    self.outage.ok()
                except redis.RedisError as exc:  # cameras keep running; leases are renewed next round
                    if is_transient(exc):
                        self.outage.failed(exc)
                    else:
                        log.error("worker %s: camera leases failed: %s", self.worker_id, exc)
                stop.wait(interval)
        finally:
            for cam_id in list(self.runners):
                self.runners[cam_id].stop()
            for cam_id in list(self.runners):
                try:
                    self._drop(cam_id, release=True)
                except redis.RedisError:
                    pass
            try:
                self.leases.leave()
            except redis.RedisError:
                pass
            self.producer.stop()
            log.info("vision worker %s stopped", self.worker_id)
