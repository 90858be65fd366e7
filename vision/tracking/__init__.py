"""Trackers give objects identities so dwell can be measured per object and zone.

The interface is small (as Frigate's ``frigate/track``): a tracker takes the boxes seen at time
``t`` and returns the tracks seen then; ``keep_alive`` says that no detector ran at ``t`` (the motion
gate skipped the frame) and returns the recent tracks as they were last seen, for drawing and for
the gate to watch. It never refreshes ``last_seen``: a skipped frame is not a sighting, so a car
that has left ages out at the next detector runs instead of staying "present" as a ghost.
Implementations live beside this module:

- :mod:`vision.tracking.bytetrack`: ByteTrack through the maintained ``trackers`` package
  (``cityops[tracking]``), two-stage matching with a Kalman motion model;
- :mod:`vision.tracking.iou`: a dependency-free greedy IoU tracker, enough for parked objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vision.detectors.base import Box


@dataclass
class Track:
    """One object's identity and where it was seen last (``last_seen``: seconds, the clip's clock)."""

    id: int
    box: Box
    last_seen: float


class TrackerError(RuntimeError):
    """A tracker that cannot be built here (its package is not installed)."""


class Tracker(Protocol):
    name: str

    def update(self, boxes: list[Box], t: float) -> list[Track]:
        """Match ``boxes`` seen at time ``t`` to tracks; returns the tracks seen at ``t``."""
        ...

    def keep_alive(self, t: float) -> list[Track]:
        """No detection ran at ``t``: the recent tracks as last seen; never refreshes ``last_seen``."""
        ...


def make_tracker(kind: str, *, fps: float, max_gap_s: float = 6.0) -> Tracker:
    """``bytetrack``, ``iou``, or ``auto`` (ByteTrack when its package is installed, else IoU)."""
    from vision.tracking.iou import IouTracker

    if kind in ("bytetrack", "auto"):
        from vision.tracking.bytetrack import ByteTrackTracker

        try:
            return ByteTrackTracker(fps=fps, max_gap_s=max_gap_s)
        except TrackerError:
            if kind == "bytetrack":
                raise
    return IouTracker(max_gap_s=max_gap_s)


__all__ = ["Track", "Tracker", "TrackerError", "make_tracker"]
