"""The picture the zone editor draws on: a camera's current frame, from the first of

1. the worker's live view (the board marks the camera watched, as a live viewer does, and waits a
   few seconds for a frame; the frame's own size comes with it, see :mod:`streams.live_view`);
2. the camera's latest evidence JPEG (a frame of the camera, with the zones of that time drawn);
3. the first frame of a file source (a clip);
4. the camera's reference image of the empty scene (``background``);

or none: a blank canvas then, of a guessed size (the editor says so, and does not check zones
against it)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import redis

from cityops.config import CameraConfig
from streams.live_view import WATCH_TTL_MS, frame_key, watch_key
from streams.media import is_evidence

BLANK_SIZE = (1280, 720)
SHOWN_WIDTH = 1280  # larger frames are scaled down for the browser (the zones stay in frame pixels)


@dataclass
class Frame:
    jpeg: bytes | None  # None: no picture (a blank canvas of ``size``)
    size: tuple[int, int]  # the camera frame's width and height in pixels
    origin: str  # live | evidence | source | background | none

    @property
    def known(self) -> bool:
        return self.jpeg is not None

    def data_uri(self) -> str | None:
        return None if self.jpeg is None else "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode()


def _jpeg(img: np.ndarray) -> bytes:
    h, w = img.shape[:2]
    if w > SHOWN_WIDTH:
        img = cv2.resize(img, (SHOWN_WIDTH, int(h * SHOWN_WIDTH / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else b""


def _image_file(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except (OSError, cv2.error):
        return None


def live_frame(rb: redis.Redis, camera_id: str, wait_s: float = 4.0) -> Frame | None:
    """The worker's newest live-view frame (``rb``: a client answering bytes); waits ``wait_s`` for
    one to be published after marking the camera watched; an older last frame if none comes."""
    deadline = time.monotonic() + wait_s
    try:
        _, before = rb.hmget(frame_key(camera_id), "jpeg", "at")
        while True:
            rb.set(watch_key(camera_id), b"1", px=WATCH_TTL_MS)
            jpeg, at, w, h = rb.hmget(frame_key(camera_id), "jpeg", "at", "width", "height")
            if jpeg and (at != before or time.monotonic() >= deadline):
                break
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.25)
    except redis.RedisError:
        return None
    if w and h:
        return Frame(jpeg, (int(w), int(h)), "live")
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else Frame(jpeg, (img.shape[1], img.shape[0]), "live")


def evidence_picture(data_dir: Path, rel: str | None) -> np.ndarray | None:
    """The evidence JPEG ``rel`` (a path in the data folder, as the incident events name it)."""
    if not rel or not is_evidence(rel) or not rel.lower().endswith(".jpg") or ".." in rel.split("/"):
        return None
    return _image_file(Path(data_dir) / rel.lstrip("/"))


def first_source_frame(source: str) -> np.ndarray | None:
    """A file source's first frame (network streams are not opened here: they may hang)."""
    if "://" in source or source.startswith("demo:") or not Path(source).is_file():
        return None
    cap = cv2.VideoCapture(source)
    try:
        ok, img = cap.read()
    finally:
        cap.release()
    return img if ok else None


def current_frame(
    rb: redis.Redis | None,
    data_dir: Path,
    camera: CameraConfig,
    wait_s: float = 4.0,
    evidence: str | None = None,
) -> Frame:
    """The frame to draw on (see the module docstring); ``evidence``: the camera's newest evidence
    picture named by the incident events (dashboard.camera_wall.newest_evidence), if any."""
    if rb is not None and (live := live_frame(rb, camera.id, wait_s)) is not None:
        return live
    for origin, get in (
        ("evidence", lambda: evidence_picture(data_dir, evidence)),
        ("source", lambda: first_source_frame(camera.source)),
        ("background", lambda: camera.background and _image_file(Path(camera.background))),
    ):
        img = get()
        if img is not None and img is not False and getattr(img, "size", 0):
            return Frame(_jpeg(img), (img.shape[1], img.shape[0]), origin)
    return Frame(None, BLANK_SIZE, "none")
