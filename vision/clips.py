"""H.264 MP4 writing through PyAV (browsers play H.264 MP4; OpenCV's writer here cannot make it)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class ClipError(OSError):
    pass


class H264Writer:
    """Writes BGR frames to ``path`` (atomically: a temporary file renamed on :meth:`close`)."""

    def __init__(self, path: Path, fps: float, *, crf: int = 26) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1000)
        self.crf = crf
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.mp4")
        self.container = None
        self.stream = None
        self.frames = 0

    def _open(self, w: int, h: int) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.container = av.open(str(self.tmp), mode="w")
        except (OSError, av.FFmpegError) as exc:
            raise ClipError(f"cannot write video {self.path}: {exc}") from exc
        self.stream = self.container.add_stream("libx264", rate=self.fps)
        self.stream.width, self.stream.height = w - w % 2, h - h % 2  # yuv420p needs even sizes
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(self.crf), "preset": "veryfast", "movflags": "+faststart"}

    def write(self, frame: np.ndarray) -> None:
        if self.container is None:
            self._open(frame.shape[1], frame.shape[0])
        w, h = self.stream.width, self.stream.height
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="bgr24")
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
        except (OSError, av.FFmpegError) as exc:  # e.g. the disk is full
            self._abort()
            raise ClipError(f"cannot write video {self.path}: {exc}") from exc
        self.frames += 1

    def _abort(self) -> None:
        """Drop the unfinished file (closing may fail too when the disk is full)."""
        if self.container is not None:
            try:
                self.container.close()
            except (OSError, av.FFmpegError):
                pass
            self.container = None
        with contextlib.suppress(OSError):  # e.g. the folder itself could not be made
            self.tmp.unlink(missing_ok=True)

    def close(self) -> Path | None:
        """Finish the file; returns its path, or None when no frame was written."""
        if self.container is None:
            return None
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
            self.container = None
            self.tmp.replace(self.path)
        except (OSError, av.FFmpegError) as exc:
            self._abort()
            raise ClipError(f"cannot write video {self.path}: {exc}") from exc
        return self.path

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._abort()


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: float) -> Path | None:
    with H264Writer(path, fps) as w:
        for f in frames:
            w.write(f)
    return path if w.frames else None


# -- composing test footage from real clips ------------------------------------------------------
# Event clips for tests and the labelled eval set are built from real footage: a real object cut
# from one frame and left at a place of the same scene ("left object"), a real person held beside
# it, a whole-frame brightness change. These functions do the composing; callers read and write.


def median_background(frames: Iterable[np.ndarray], every: int = 16) -> np.ndarray:
    """The scene without passers-by: the per-pixel median of every ``every``-th frame."""
    picked = [f for i, f in enumerate(frames) if i % every == 0]
    if not picked:
        raise ValueError("no frames to take a background from")
    return np.median(np.stack(picked), axis=0).astype(np.uint8)


def cut_object(
    frame: np.ndarray,
    box: tuple[int, int, int, int],
    background: np.ndarray | None = None,
    threshold: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """The object inside ``box`` (x1, y1, x2, y2) of ``frame`` as ``(crop, alpha)``: alpha is 1 where
    the pixel differs from ``background`` (the same scene without the object) or, without one, from
    the median colour of the box's border (an item lying on grass or tarmac), else 0."""
    import cv2

    x1, y1, x2, y2 = box
    crop = frame[y1:y2, x1:x2].copy()
    if background is not None:
        ref = background[y1:y2, x1:x2].astype(np.int16)
    else:
        border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
        ref = np.broadcast_to(np.median(border, axis=0).astype(np.int16), crop.shape)
    diff = np.abs(crop.astype(np.int16) - ref).max(axis=2) > threshold
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    alpha = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_CLOSE, k)
    alpha = cv2.morphologyEx(alpha, cv2.MORPH_OPEN, k)
    return crop, alpha.astype(np.float32)


def paste_object(
    frame: np.ndarray,
    crop: np.ndarray,
    alpha: np.ndarray,
    at: tuple[int, int],
    background: np.ndarray | None = None,
    threshold: int = 30,
) -> np.ndarray:
    """``frame`` with ``crop`` placed at ``at`` (its top-left corner). With ``background`` (the scene
    without passers-by), pixels where the frame differs from it (someone walking past) stay in front."""
    x, y = at
    h, w = crop.shape[:2]
    out = frame.copy()
    region = out[y : y + h, x : x + w]
    a = alpha[: region.shape[0], : region.shape[1]].copy()
    if background is not None:
        passer = np.abs(region.astype(np.int16) - background[y : y + h, x : x + w]).max(axis=2) > threshold
        a[passer] = 0
    a = a[..., None]
    region[:] = (crop[: region.shape[0], : region.shape[1]] * a + region * (1 - a)).astype(np.uint8)
    return out


def left_object(
    frames: Iterable[np.ndarray],
    crop: np.ndarray,
    alpha: np.ndarray,
    at: tuple[int, int],
    start: int,
    end: int | None = None,
    background: np.ndarray | None = None,
) -> Iterable[np.ndarray]:
    """``frames`` with the object left at ``at`` from frame index ``start`` up to ``end`` (exclusive;
    None: to the end); occlusion by passers-by as in :func:`paste_object`."""
    for i, f in enumerate(frames):
        yield paste_object(f, crop, alpha, at, background) if start <= i and (end is None or i < end) else f


def scale_brightness(frame: np.ndarray, gain: float) -> np.ndarray:
    """A whole-frame brightness change as auto-exposure makes it: every pixel x ``gain``, clipped."""
    return np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)
