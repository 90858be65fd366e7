"""Motion gating as in Frigate: skip the detector on frames where nothing moved in any zone."""

from __future__ import annotations

import cv2
import numpy as np


class MotionGate:
    def __init__(
        self,
        zone_masks: list[np.ndarray],
        *,
        width: int = 320,
        threshold: float = 0.002,
        refresh_s: float = 5.0,
    ):
        self.width, self.threshold, self.refresh_s = width, threshold, refresh_s
        self._zone_masks = zone_masks
        self._mask: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._last_detect_t = -1e9
        self.skipped = 0

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        scale = self.width / w
        g = cv2.cvtColor(cv2.resize(frame, (self.width, max(1, int(h * scale)))), cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(g, (5, 5), 0)

    def should_detect(self, frame: np.ndarray, t: float) -> bool:
        small = self._small(frame)
        if self._mask is None:
            full = np.zeros(frame.shape[:2], np.uint8)
            for m in self._zone_masks:
                full = cv2.bitwise_or(full, m)
            if not self._zone_masks:
                full[:] = 255
            self._mask = cv2.resize(full, small.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        prev, self._prev = self._prev, small
        if prev is None or t - self._last_detect_t >= self.refresh_s:
            self._last_detect_t = t
            return True
        diff = cv2.absdiff(prev, small) > 20
        moving = np.count_nonzero(diff & self._mask) / max(1, np.count_nonzero(self._mask))
        if moving >= self.threshold:
            self._last_detect_t = t
            return True
        self.skipped += 1
        return False
