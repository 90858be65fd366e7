"""Weight-free detection: background subtraction with static-object analysis.

Two background models run side by side. The long-memory model still shows an object that arrived
and stopped minutes ago as foreground; the short-memory model has already absorbed it. Blobs of the
long model are reported as class ``object``; those the short model no longer sees are marked
static (``conf`` 1.0 vs 0.5 for moving), which is what "something new stopped here" rules need.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vision.detectors.base import MOVING_CONF, STATIC_CONF, Box


class MotionDetector:
    name = "motion"
    classes = frozenset({"object"})

    def __init__(
        self,
        *,
        fps: float = 5.0,
        long_memory_s: float = 600.0,
        short_memory_s: float = 3.0,
        min_area: int = 300,
        width: int = 480,
    ):
        # MOG2 takes a new colour as background once the old one's weight falls under its background
        # ratio (0.9): after about ln(0.9)/ln(1 - rate) frames. Rates are set from seconds of memory.
        self.long_rate = -math.log(0.9) / (long_memory_s * fps)
        self.short_rate = -math.log(0.9) / (short_memory_s * fps)
        self.bootstrap = max(3, int(fps))  # the first second learns the empty scene at full speed
        self.long = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=25, detectShadows=True)
        self.short = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=25, detectShadows=True)
        self.min_area, self.width = min_area, width
        self.frames = 0
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.ignore: np.ndarray | None = None  # frame-sized, 255 where motion is ignored (motion masks)

    def _mask(self, sub: cv2.BackgroundSubtractor, small: np.ndarray, rate: float) -> np.ndarray:
        m = sub.apply(small, learningRate=-1 if self.frames <= self.bootstrap else rate)
        m = np.where(m == 255, 255, 0).astype(np.uint8)  # drop shadows (127)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, self.kernel)
        return cv2.morphologyEx(m, cv2.MORPH_CLOSE, self.kernel, iterations=2)

    def detect(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        scale = self.width / w if w > self.width else 1.0
        small = cv2.resize(frame, (int(w * scale), int(h * scale))) if scale != 1.0 else frame
        self.frames += 1
        long_m = self._mask(self.long, small, self.long_rate)
        short_m = self._mask(self.short, small, self.short_rate)
        if self.ignore is not None:  # the camera's motion masks: no foreground there
            keep = cv2.resize(self.ignore, long_m.shape[::-1], interpolation=cv2.INTER_NEAREST) == 0
            long_m, short_m = long_m * keep, short_m * keep
        n, _, stats, _ = cv2.connectedComponentsWithStats(long_m)
        out = []
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if area * (1 / scale) ** 2 < self.min_area:
                continue
            moving = short_m[y : y + bh, x : x + bw].mean() / 255 > 0.3
            conf = MOVING_CONF if moving else STATIC_CONF
            out.append(Box(x / scale, y / scale, (x + bw) / scale, (y + bh) / scale, "object", conf))
        return out
