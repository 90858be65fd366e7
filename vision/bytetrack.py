"""ByteTrack (Ultralytics' implementation) over any backend's boxes.

ByteTrack matches high-confidence boxes first and recovers low-confidence ones in a second pass,
with a Kalman motion model; lost tracks are kept for ``max_gap_s`` so short occlusions keep the id.
It needs ``cityops[ultralytics]`` (PyTorch comes with it); :class:`vision.tracker.IouTracker` is the
dependency-free fallback.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from vision.detectors.base import Box
from vision.tracker import Track, TrackerError


class _Dets:
    """The Results-like view ByteTrack reads: ``xywh``, ``conf``, ``cls``, boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls

    @property
    def xywh(self) -> np.ndarray:
        x1, y1, x2, y2 = self.xyxy.T
        return np.column_stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, idx) -> _Dets:
        return _Dets(self.xyxy[idx], self.conf[idx], self.cls[idx])


class ByteTrackTracker:
    name = "bytetrack"

    def __init__(self, *, fps: float = 5.0, max_gap_s: float = 6.0) -> None:
        from vision.detectors.ultralytics_backend import offline_env

        offline_env()
        try:
            from ultralytics.trackers.byte_tracker import BYTETracker
        except ImportError as exc:
            raise TrackerError("the bytetrack tracker needs: pip install 'cityops[ultralytics]'") from exc
        args = SimpleNamespace(
            track_high_thresh=0.25,
            track_low_thresh=0.1,
            new_track_thresh=0.25,
            track_buffer=max(1, int(round(max_gap_s * fps))),
            match_thresh=0.8,
            fuse_score=True,
        )
        self.bt = BYTETracker(args)
        self.tracks: dict[int, Track] = {}
        self._class_ids: dict[str, int] = {}
        self.max_gap_s = max_gap_s

    def update(self, boxes: list[Box], t: float) -> list[Track]:
        cls = np.array([self._class_ids.setdefault(b.cls, len(self._class_ids)) for b in boxes], np.float32)
        dets = _Dets(
            np.array([b.as_tuple() for b in boxes], np.float32).reshape(-1, 4),
            np.array([b.conf for b in boxes], np.float32),
            cls,
        )
        rows = self.bt.update(dets)
        seen = []
        for row in rows:
            tid, idx = int(row[4]), int(row[7])
            box = boxes[idx]
            tr = self.tracks.get(tid)
            if tr is None:
                tr = self.tracks[tid] = Track(tid, box, t, t, history=[(t, *box.anchor)])
            else:
                tr.box, tr.last_seen, tr.hits = box, t, tr.hits + 1
                tr.history.append((t, *box.anchor))
                del tr.history[:-300]
            seen.append(tr)
        for tid in [tid for tid, tr in self.tracks.items() if t - tr.last_seen > self.max_gap_s]:
            del self.tracks[tid]
        return seen

    def keep_alive(self, t: float) -> list[Track]:
        """No detection ran at ``t`` (nothing moved): the tracks seen last are where they were."""
        recent = [tr for tr in self.tracks.values() if t - tr.last_seen <= self.max_gap_s]
        for tr in recent:
            tr.last_seen = t
        return recent
