"""Frame sources: video files (optionally looped), image folders, RTSP/HTTP streams, the demo clip.

A source yields ``(frame, t)``: ``t`` is seconds of media time for files (continuing across loops,
so dwell is measured in clip time), ``index x interval_s`` for image folders (sorted by name), and
seconds since opening for live streams. Frames are dropped to
the camera's frame-rate cap before decoding where the container allows it. Live streams reconnect
with exponential backoff.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: FFmpeg options for live streams (RTSP over TCP, a short probe); a value the user set wins.
LIVE_CAPTURE_OPTIONS = "rtsp_transport;tcp|analyzeduration;100000|probesize;32768"


def _next_due(due: float, t: float, fps: float) -> float:
    """When the next frame is due under an ``fps`` cap: on schedule, or one period after a late frame."""
    period = 1.0 / fps
    return due + period if t < due + period else t + period


class SourceError(RuntimeError):
    """A source that cannot be opened or decoded; the message says which and why."""


def is_live(url: str) -> bool:
    return url.split("://", 1)[0].lower() in {"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp"}


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def folder_images(folder: Path) -> list[Path]:
    """The images of an image-folder source, in name order (timestamped names sort in time)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def open_capture(url: str, timeout_ms: int = 3000) -> cv2.VideoCapture:
    if not is_live(url) and not Path(url).is_file():
        raise SourceError(f"video file not found: {url}")
    if is_live(url):  # OpenCV reads its FFmpeg options from the environment when a capture opens
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", LIVE_CAPTURE_OPTIONS)
    cap = cv2.VideoCapture(
        url,
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
    )
    if not cap.isOpened():
        raise SourceError(f"cannot open video source {url} (not a video, unsupported codec, or unreachable)")
    return cap


class VideoSource:
    def __init__(
        self,
        url: str,
        *,
        fps: float = 5.0,
        loop: bool = False,
        realtime: bool = False,
        max_backoff_s: float = 30.0,
        interval_s: float = 1.0,
        on_status: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.url, self.fps, self.loop, self.realtime = url, fps, loop, realtime
        self.interval_s = interval_s
        self.reconnects = 0
        self.max_backoff_s = max_backoff_s
        self.on_status = on_status or (lambda state, err: None)
        self.frames_read = 0
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def _sleep(self, seconds: float) -> None:
        """Back off, waking early when stopped."""
        end = time.monotonic() + seconds
        while not self.stopped and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        if is_live(self.url):
            return self._live()
        return self._folder() if Path(self.url).is_dir() else self._file()

    def _pace(self, start_wall: float, t: float) -> None:
        if self.realtime:
            delay = start_wall + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    # -- image folders ----------------------------------------------------------------------------
    def _folder(self) -> Iterator[tuple[np.ndarray, float]]:
        offset, next_t, start_wall = 0.0, 0.0, time.monotonic()
        while not self.stopped:
            images = folder_images(Path(self.url))
            if not images:
                raise SourceError(
                    f"image folder {self.url} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            got_any = False
            for i, path in enumerate(images):
                if self.stopped:
                    return
                t = offset + i * self.interval_s
                if t + 1e-6 < next_t:
                    continue
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is None:
                    log.warning("image folder %s: %s is not a readable image; skipped", self.url, path.name)
                    continue
                got_any, next_t = True, _next_due(next_t, t, self.fps)
                self.frames_read += 1
                self._pace(start_wall, t)
                yield frame, t
            if not got_any:
                raise SourceError(f"no image in {self.url} could be decoded")
            if not self.loop:
                return
            offset += len(images) * self.interval_s

    # -- files ------------------------------------------------------------------------------------
    def _file(self) -> Iterator[tuple[np.ndarray, float]]:
        offset, next_t, start_wall = 0.0, 0.0, time.monotonic()
        while not self.stopped:
            cap = open_capture(self.url)
            native = cap.get(cv2.CAP_PROP_FPS) or 25.0
            if not (0 < native < 1000):
                native = 25.0
            idx, got_any = 0, False
            try:
                while not self.stopped:
                    if not cap.grab():
                        break
                    t = offset + idx / native
                    idx += 1
                    if t + 1e-6 < next_t:
                        continue
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        break
                    got_any = True
                    next_t = _next_due(next_t, t, self.fps)
                    self.frames_read += 1
                    self._pace(start_wall, t)
                    yield frame, t
            finally:
                cap.release()
            if not got_any:
                raise SourceError(f"no frame could be decoded from {self.url} (truncated or corrupt file?)")
            if not self.loop:
                return
            offset += idx / native

    # -- live streams -----------------------------------------------------------------------------
    def _live(self) -> Iterator[tuple[np.ndarray, float]]:
        backoff, t0, next_t = 0.5, time.monotonic(), 0.0
        while not self.stopped:
            try:
                cap = open_capture(self.url)
            except SourceError as exc:
                self.on_status("offline", str(exc))
                log.warning("%s; retrying in %.1fs", exc, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                self.reconnects += 1
                continue
            self.on_status("online", None)
            try:
                while not self.stopped:
                    ok = cap.grab()
                    if not ok:
                        self.on_status("offline", f"stream {self.url} stopped delivering frames")
                        break
                    t = time.monotonic() - t0
                    if t < next_t:
                        continue
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        continue
                    backoff = 0.5
                    next_t = _next_due(next_t, t, self.fps)
                    self.frames_read += 1
                    yield frame, t
            finally:
                cap.release()


#: The no-parking bay drawn in the generated clip, as a zone config (image coordinates).
DEMO_CLIP_ZONE = {
    "id": "no-parking-bay",
    "polygon": [[380, 250], [600, 250], [600, 350], [380, 350]],
    "rules": ["illegal_parking"],
    "classes": ["object", "car", "truck"],
    "dwell_s": 10,
    "min_area": 2000,
    "cooldown_s": 60,
}


def demo_clip_camera(clip: Path, **overrides) -> dict:
    """A camera config (as a dict) watching the generated clip, with its no-parking bay."""
    return {
        "id": "demo-street",
        "name": "Generated street (demo)",
        "source": str(clip),
        "loop": True,
        "lon": 118.1912,
        "lat": 39.6531,
        "fps": 5,
        "zones": [DEMO_CLIP_ZONE],
        **overrides,
    }


def make_demo_clip(
    path: Path, *, seconds: float = 40.0, fps: float = 10.0, size: tuple[int, int] = (640, 360)
) -> Path:
    """A synthetic street scene: a car drives in, parks in the no-parking bay for 20 s, drives off.

    Used by the demo and the tests when the real sample clips are not available.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    tmp = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    out = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not out.isOpened():
        raise SourceError(f"cannot write the demo clip {path}")
    rng = np.random.default_rng(7)
    base = np.full((h, w, 3), (70, 72, 75), np.uint8)
    cv2.rectangle(base, (0, 0), (w, 90), (110, 140, 120), -1)  # verge
    for x in range(0, w, 60):
        cv2.line(base, (x, 230), (x + 30, 230), (230, 230, 230), 3)  # lane marks
    cv2.rectangle(base, (380, 250), (600, 350), (0, 200, 255), 2)  # the no-parking bay
    n = int(seconds * fps)
    for i in range(n):
        t = i / fps
        frame = base.copy()
        if t < 6:
            x = int(-160 + (t / 6) * 580)
        elif t < 26:
            x = 420
        else:
            x = int(420 + (t - 26) * 90)
        if x < w:
            cv2.rectangle(frame, (x, 270), (x + 150, 335), (40, 40, 200), -1)
            cv2.rectangle(frame, (x + 25, 278), (x + 120, 300), (200, 200, 220), -1)
        noise = rng.normal(0, 2, frame.shape).astype(np.int16)
        out.write(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    out.release()
    tmp.replace(path)
    return path
