"""Zone rules: turn tracks into at most one violation per object, zone and event.

A track's dwell in a zone starts when its bottom-centre enters the zone; with
``require_stationary`` it restarts whenever the object moves more than a tolerance from where the
dwell began. Once the dwell passes the zone's threshold the rule fires once, then stays quiet for
that track and zone for ``cooldown_s`` (fires again after that if the object is still there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from vision.detectors.base import Box
from vision.tracker import Track
from vision.zones import Zone


@dataclass(frozen=True)
class Violation:
    type: str
    zone_id: str
    track_id: int
    box: Box
    dwell_s: float
    started_at: float
    at: float


@dataclass
class _Dwell:
    start: float
    ref: tuple[float, float]
    fired_at: float | None = None


def moved(ref: tuple[float, float], now: tuple[float, float], box: Box, frac: float = 0.15) -> bool:
    tol = max(6.0, frac * max(box.x2 - box.x1, box.y2 - box.y1))
    return abs(now[0] - ref[0]) > tol or abs(now[1] - ref[1]) > tol


class DwellRule:
    """Applies every rule code of every zone to the tracks of one camera."""

    def __init__(self, zones: list[Zone]) -> None:
        self.zones = zones
        self.state: dict[tuple[int, str], _Dwell] = {}

    def update(self, tracks: list[Track], t: float, local: time) -> list[Violation]:
        out: list[Violation] = []
        present: set[tuple[int, str]] = set()
        for zone in self.zones:
            if not zone.active(local):
                continue
            for tr in tracks:
                if not zone.counts(tr.box):
                    continue
                key = (tr.id, zone.id)
                present.add(key)
                st = self.state.get(key)
                anchor = tr.box.anchor
                if st is None:
                    st = self.state[key] = _Dwell(start=t, ref=anchor)
                elif zone.cfg.require_stationary and moved(st.ref, anchor, tr.box):
                    st.start, st.ref, st.fired_at = t, anchor, None
                dwell = t - st.start
                due = st.fired_at is None or t - st.fired_at >= zone.cfg.cooldown_s
                if dwell >= zone.cfg.dwell_s and due:
                    st.fired_at = t
                    out.extend(
                        Violation(code, zone.id, tr.id, tr.box, dwell, st.start, t) for code in zone.cfg.rules
                    )
        for key in [k for k in self.state if k not in present]:
            del self.state[key]  # left the zone or vanished: a return is a new event
        return out

    def dwell_of(self, track_id: int, zone_id: str, t: float) -> float | None:
        st = self.state.get((track_id, zone_id))
        return None if st is None else t - st.start
