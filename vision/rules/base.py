"""What every zone rule shares: the violation record, the rule registry and the dwell clock.

A rule picks, frame by frame, the tracks it measures in its zone (:meth:`ZoneRule.subjects`); the
:class:`DwellClock` turns their presence into at most one violation per object, zone and event:

- dwell starts when a subject is first seen; with ``require_stationary`` it restarts when the
  object's bottom-centre moves further than the rule's tolerance from where the dwell began;
- a subject unseen for up to the zone's ``max_gap_s`` keeps its dwell (missed detections,
  occlusion), and a new track id appearing where a lost one stood takes over its clock, so an
  identity switch neither restarts the dwell nor raises a second incident;
- for rules that ask for it (``ZoneRule.keeps_place``, every rule here), a clock belongs to a place
  as much as to a track id: when a subject that had stayed a while is
  seen to move away, its clock stays behind at the place (as a lost one) and the track starts a new
  one; a subject that has stood a second where an older clock's object (unseen now) stood takes
  that clock. A passer-by whose box takes over a standing vendor's track id (the IoU tracker matches the
  merged box of the two) walks off with the id but not with the vendor's dwell: the vendor, back
  under a new id where he stood, takes over his clock. Only another id takes a clock back: the
  track that moved off from it coming back is no swap (its dwell restarts, as without kept places),
  or a blob of noise whose box keeps jumping off its place and back (parts of it fading and
  returning) would keep its dwell through every jump;
- the clock is advanced only on frames where the detector ran (the pipeline does not call it on
  frames the motion gate skipped): dwell is measured between sightings, never extended by a frame
  nobody looked at; as the gate may leave seconds between two runs, a subject's clock ends only when
  it has been unseen longer than ``max_gap_s`` *and* missed by at least :data:`MIN_MISSES` runs;
- once the dwell passes ``dwell_s`` the rule fires once; while the object stays it fires again
  every ``cooldown_s`` (a re-raise: dispatch merges it into the open incident or, if that incident
  was resolved meanwhile, opens a new one); an object gone longer than ``max_gap_s`` ends the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vision.classes import canonical
from vision.detectors.base import Box
from vision.geometry import box_iou, moved
from vision.tracking import Track
from vision.zones import Zone, exempt

#: Detector runs that must miss a subject before its clock may end (see the module docstring).
MIN_MISSES = 2
#: A subject that moves away after staying at least this long leaves its clock at the place.
LEAVE_CLOCK_S = 2.0
#: A subject that has stood this long at a place takes back an older clock left there (never a
#: walker: people walking along a pavement would pick up the clocks of those who went before).
RECLAIM_AFTER_S = 1.0


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
class _Clock:
    start: float
    ref: tuple[float, float]
    last_seen: float
    box: Box
    fired_at: float | None = None
    misses: int = 0  # detector runs since ``last_seen`` that did not see it
    home: Box | None = None  # the last box seen at the place the dwell is measured from
    home_seen: float = -1.0  # ... and when
    carrier: int | None = None  # left at its place: the track id that moved off (never takes it back)

    @property
    def stayed(self) -> bool:
        """Did its object stand at its place (not just pass through it) for a while?"""
        return self.home is not None and self.home_seen - self.start >= LEAVE_CLOCK_S


class DwellClock:
    """Dwell per track in one zone for one rule (state only; all decisions are in :meth:`update`)."""

    def __init__(
        self,
        *,
        dwell_s: float,
        cooldown_s: float,
        max_gap_s: float,
        require_stationary: bool,
        move_frac: float,
        keep_place: bool = False,
    ) -> None:
        self.dwell_s, self.cooldown_s, self.max_gap_s = dwell_s, cooldown_s, max_gap_s
        self.require_stationary, self.move_frac = require_stationary, move_frac
        # clocks kept at their place through track-id swaps (see the module docstring): people
        # standing at a stall, whom passers-by cross; a parked car whose box merges with traffic
        self.keep_place = keep_place
        self.clocks: dict[int, _Clock] = {}  # by track id; clocks left at their place: negative keys
        self._parked = 0

    def _take_over(self, tr: Track, t: float, seen: set[int]) -> _Clock | None:
        """A clock of a track lost recently at this very place (an identity switch), if any."""
        box, best, best_iou = tr.box, None, 0.5
        for tid, c in self.clocks.items():
            if tid in seen or c.last_seen >= t or c.carrier == tr.id:  # not its own: see _reclaim
                continue
            # where it was last seen, or where it stood (a passer-by may have walked off with its id)
            iou = max(box_iou(c.box, box), box_iou(c.home, box) if self.keep_place and c.stayed else 0.0)
            if iou >= best_iou:
                best, best_iou = tid, iou
        return self.clocks.pop(best) if best is not None else None

    def _reclaim(self, tr: Track, c: _Clock, seen: set[int]) -> _Clock:
        """An older clock of this very place whose object is not seen now (left behind, or its track
        id away with a passer-by), taken by ``tr`` instead of its younger ``c``: a vendor whose id the
        tracker swapped with a passer-by's is back where he stood under another id (see the module
        docstring). Never by the id that moved off from it (``carrier``): the same track back at its
        place is no swap; taking its own clock back would let a blob whose box keeps jumping (noise
        fading and returning in parts) keep one dwell through every jump."""
        best, best_iou = None, 0.5
        for key, old in self.clocks.items():
            if key in seen or old is c or old.start >= c.start or not old.stayed or old.carrier == tr.id:
                continue
            iou = box_iou(old.home or old.box, tr.box)
            if iou >= best_iou:
                best, best_iou = key, iou
        if best is None:
            return c
        old = self.clocks.pop(best)
        self.clocks[tr.id] = old
        return old

    def update(
        self, subjects: list[Track], t: float, hold: frozenset[int] = frozenset()
    ) -> list[tuple[Track, float, float]]:
        """Advance to time ``t``, a detector run that saw ``subjects``; returns ``(track, dwell,
        started_at)`` for each subject that fires. Subjects in ``hold`` (track ids) are seen and
        keep their dwell but cannot fire now (e.g. someone is standing beside a left object)."""
        fired = []
        seen = {tr.id for tr in subjects}
        for tr in subjects:
            c = self.clocks.get(tr.id)
            if c is None:
                c = self._take_over(tr, t, seen) or _Clock(t, tr.box.anchor, t, tr.box)
                self.clocks[tr.id] = c
            elif self.require_stationary and moved(c.ref, tr.box.anchor, tr.box, self.move_frac):
                if self.keep_place and c.stayed:  # it had stood there: the clock stays there
                    c.box, c.carrier = c.home or c.box, tr.id
                    self._parked -= 1
                    self.clocks[self._parked] = c
                c = _Clock(t, tr.box.anchor, t, tr.box, fired_at=c.fired_at)
                self.clocks[tr.id] = c
            if self.keep_place and t - c.start >= RECLAIM_AFTER_S:  # it has stood a moment here
                c = self._reclaim(tr, c, seen)
            if c.home is None or not moved(c.ref, tr.box.anchor, tr.box, self.move_frac / 3):
                c.home, c.home_seen = tr.box, t  # still where it stopped (not a passer-by's box walking off)
            c.last_seen, c.box, c.misses = t, tr.box, 0
            dwell = t - c.start
            if (
                tr.id not in hold
                and dwell >= self.dwell_s
                and (c.fired_at is None or t - c.fired_at >= self.cooldown_s)
            ):
                c.fired_at = t
                fired.append((tr, dwell, c.start))
        for tid, c in list(self.clocks.items()):
            if tid in seen:
                continue
            c.misses += 1
            if t - c.last_seen > self.max_gap_s and c.misses >= MIN_MISSES:
                del self.clocks[tid]  # gone: a return is a new event
        return fired

    def dwell_of(self, track_id: int, t: float) -> float | None:
        c = self.clocks.get(track_id)
        return None if c is None else t - c.start


#: code -> rule class; filled by :func:`register` when the rule modules are imported.
RULES: dict[str, type[ZoneRule]] = {}


def register(cls: type[ZoneRule]) -> type[ZoneRule]:
    if cls.code in RULES:
        raise ValueError(f"rule code {cls.code!r} registered twice")
    RULES[cls.code] = cls
    return cls


class ZoneRule:
    """One violation type enforced in one zone. Subclasses set ``code`` and pick their subjects."""

    code: ClassVar[str]
    default_classes: ClassVar[frozenset[str]]
    #: whether a subject's dwell clock stays at its place through track-id swaps (DwellClock): a
    #: vendor crossed by passers-by, a parked car whose box merges with passing traffic
    keeps_place: ClassVar[bool] = True
    move_frac: ClassVar[float] = 0.15  # how far (x box size) a subject may shift and still "stay"

    def __init__(self, zone: Zone, exclusions: list[Zone] = ()) -> None:
        self.zone = zone
        self.exclusions = list(exclusions)  # the camera's exclude zones (a marked parking row)
        c = zone.cfg
        self.classes = frozenset(map(canonical, c.classes)) if c.classes else self.default_classes
        self.clock = DwellClock(
            dwell_s=c.dwell_s,
            cooldown_s=c.cooldown_s,
            max_gap_s=c.max_gap_s,
            require_stationary=c.require_stationary,
            move_frac=self.move_frac,
            keep_place=self.keeps_place,
        )

    def in_zone(self, tracks: list[Track], classes: frozenset[str]) -> list[Track]:
        """Tracks of ``classes`` counted in this zone and not standing where this rule is exempted."""
        return [
            tr
            for tr in tracks
            if self.zone.counts(tr.box, classes) and not exempt(tr.box, self.code, self.exclusions)
        ]

    def subjects(self, tracks: list[Track]) -> list[Track]:
        """The tracks whose stay this rule measures in this frame."""
        return self.in_zone(tracks, self.classes)

    def update(self, tracks: list[Track], t: float) -> list[Violation]:
        return [
            Violation(self.code, self.zone.id, tr.id, tr.box, dwell, start, t)
            for tr, dwell, start in self.clock.update(self.subjects(tracks), t)
        ]
