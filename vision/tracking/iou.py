"""A dependency-free greedy IoU tracker: tolerates short gaps and is enough for parked objects."""

from __future__ import annotations

import numpy as np

from vision.detectors.base import Box
from vision.tracking import Track


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N,4) with every box in ``b`` (M,4), xyxy."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


class IouTracker:
    name = "iou"

    def __init__(self, *, iou_threshold: float = 0.3, max_gap_s: float = 6.0) -> None:
        self.iou_threshold, self.max_gap_s = iou_threshold, max_gap_s
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, boxes: list[Box], t: float) -> list[Track]:
        """Match ``boxes`` seen at time ``t`` to tracks; returns the tracks seen at ``t``."""
        live = list(self.tracks.values())
        ious = iou_matrix(
            np.array([tr.box.as_tuple() for tr in live]), np.array([b.as_tuple() for b in boxes])
        )
        matched_t, matched_b = set(), set()
        if ious.size:
            for flat in np.argsort(-ious, axis=None):
                ti, bi = divmod(int(flat), ious.shape[1])
                if ious[ti, bi] < self.iou_threshold:
                    break
                if ti in matched_t or bi in matched_b:
                    continue
                matched_t.add(ti)
                matched_b.add(bi)
                tr, b = live[ti], boxes[bi]
                tr.box, tr.last_seen = b, t
        for bi, b in enumerate(boxes):
            if bi not in matched_b:
                tr = Track(self._next_id, b, t)
                self.tracks[tr.id] = tr
                self._next_id += 1
        for tid in [tid for tid, tr in self.tracks.items() if t - tr.last_seen > self.max_gap_s]:
            del self.tracks[tid]
        return [tr for tr in self.tracks.values() if tr.last_seen == t]

    def keep_alive(self, t: float) -> list[Track]:
        """No detection ran at ``t``: the recent tracks, as last seen (``last_seen`` is not refreshed)."""
        return [tr for tr in self.tracks.values() if t - tr.last_seen <= self.max_gap_s]
