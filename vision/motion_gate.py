"""Motion gating as in Frigate: skip the detector on frames where nothing moved.

"Nothing moved" means: no motion inside any zone, and no motion inside the last box of any object
still tracked (``watch``), so an object leaving (even out of the zones, or where a zone does not
reach) makes the detector run and see that it has gone. The detector still runs every ``refresh_s``.
Motion inside ``ignore`` (the camera's motion masks: trees, a clock, a screen) never counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vision.detectors.base import Box


class MotionGate:
    def __init__(
        self,
        zone_masks: list[np.ndarray],
        *,
        width: int = 320,
        threshold: float = 0.002,
        refresh_s: float = 5.0,
        box_threshold: float = 0.02,
        ignore: np.ndarray | None = None,
    ):
        self.width, self.threshold, self.refresh_s = width, threshold, refresh_s
        self.box_threshold = box_threshold  # changed fraction of a watched box that counts as motion
        self._zone_masks = zone_masks
        self._ignore_full = ignore  # frame-sized, 255 where motion is ignored
        self._ignore: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._last_detect_t = -1e9
        self.skipped = 0

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        scale = self.width / w
        g = cv2.cvtColor(cv2.resize(frame, (self.width, max(1, int(h * scale)))), cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(g, (5, 5), 0)

    def should_detect(self, frame: np.ndarray, t: float, watch: Sequence[Box] = ()) -> bool:
        """Run the detector on this frame? ``watch``: the last boxes of the objects still tracked."""
        small = self._small(frame)
        if self._mask is None:
            full = np.zeros(frame.shape[:2], np.uint8)
            for m in self._zone_masks:
                full = cv2.bitwise_or(full, m)
            if not self._zone_masks:
                full[:] = 255
            self._mask = cv2.resize(full, small.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
            if self._ignore_full is not None:
                self._ignore = (
                    cv2.resize(self._ignore_full, small.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
                )
                self._mask &= ~self._ignore
        prev, self._prev = self._prev, small
        if prev is None or t - self._last_detect_t >= self.refresh_s:
            self._last_detect_t = t
            return True
        diff = cv2.absdiff(prev, small) > 20
        if self._ignore is not None:
            diff &= ~self._ignore
        moving = np.count_nonzero(diff & self._mask) / max(1, np.count_nonzero(self._mask))
        if moving >= self.threshold or self._departing(diff, frame.shape[1], watch):
            self._last_detect_t = t
            return True
        self.skipped += 1
        return False

    def _departing(self, diff: np.ndarray, frame_w: int, watch: Sequence[Box]) -> bool:
        """Did anything change inside the last box of a tracked object?"""
        k = self.width / frame_w
        h, w = diff.shape
        for b in watch:
            x1, y1 = max(0, int(b.x1 * k)), max(0, int(b.y1 * k))
            x2, y2 = min(w, int(np.ceil(b.x2 * k))), min(h, int(np.ceil(b.y2 * k)))
            if (
                x2 > x1
                and y2 > y1
                and np.count_nonzero(diff[y1:y2, x1:x2]) >= self.box_threshold * ((x2 - x1) * (y2 - y1))
            ):
                return True
        return False
