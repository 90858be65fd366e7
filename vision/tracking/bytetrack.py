"""ByteTrack through the ``trackers`` package's public API (``ByteTrackTracker.update``).

ByteTrack matches high-confidence boxes first and recovers low-confidence ones in a second pass,
with a Kalman motion model; a lost track is kept for ``max_gap_s`` so a short occlusion keeps the
id. Frames are fed with their timestamps, so a motion gate that skips frames does not age tracks
by frame count. Needs ``pip install 'cityops[tracking]'``.
"""

from __future__ import annotations

import numpy as np

from vision.detectors.base import Box
from vision.tracking import Track, TrackerError

#: ``trackers`` measures a lost track's lifetime in frames at 30 fps (``lost_track_buffer / 30`` s).
_BUFFER_FPS = 30.0


class ByteTrackTracker:
    name = "bytetrack"

    def __init__(self, *, fps: float = 5.0, max_gap_s: float = 6.0, conf: float = 0.25) -> None:
        try:
            import supervision
            from trackers import ByteTrackTracker as _ByteTrack
        except ImportError as exc:
            raise TrackerError("the bytetrack tracker needs: pip install 'cityops[tracking]'") from exc
        self._sv = supervision
        self.bt = _ByteTrack(
            lost_track_buffer=max(1, round(max_gap_s * _BUFFER_FPS)),
            frame_rate=fps,
            track_activation_threshold=conf,
            high_conf_det_threshold=conf,
            minimum_consecutive_frames=1,  # a new object has an id from its first frame
        )
        self.max_gap_s = max_gap_s
        self.tracks: dict[int, Track] = {}

    def update(self, boxes: list[Box], t: float) -> list[Track]:
        dets = self._sv.Detections(
            xyxy=np.array([b.as_tuple() for b in boxes], np.float32).reshape(-1, 4),
            confidence=np.array([b.conf for b in boxes], np.float32),
            data={"index": np.arange(len(boxes))},
        )
        out = self.bt.update(dets, timestamp=t)
        seen = []
        for tid, idx in zip(out.tracker_id, out.data.get("index", []), strict=True):
            if tid < 0:  # a low-confidence box that matched no track
                continue
            tr = self.tracks.get(int(tid))
            if tr is None:
                tr = self.tracks[int(tid)] = Track(int(tid), boxes[int(idx)], t)
            else:
                tr.box, tr.last_seen = boxes[int(idx)], t
            seen.append(tr)
        for tid in [tid for tid, tr in self.tracks.items() if t - tr.last_seen > self.max_gap_s]:
            del self.tracks[tid]
        return seen

    def keep_alive(self, t: float) -> list[Track]:
        """No detection ran at ``t``: the recent tracks, as last seen (``last_seen`` is not refreshed)."""
        return [tr for tr in self.tracks.values() if t - tr.last_seen <= self.max_gap_s]
