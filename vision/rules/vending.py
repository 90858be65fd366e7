"""Street vending: people staying in a no-vending zone next to stall-like objects."""

from __future__ import annotations

from vision.detectors.base import STATIC_CONF
from vision.geometry import near_any
from vision.rules.base import ZoneRule, register
from vision.tracking import Track

PERSON = "person"
#: COCO classes a roadside stall is made of or carries (no COCO class for a cart; bench/chair/table stand
#: in), and ``object``: a new static object the detector does not name (the static-object analysis).
STALL_CLASSES = frozenset(
    {
        "umbrella",
        "dining table",
        "chair",
        "bench",
        "handbag",
        "backpack",
        "suitcase",
        "potted plant",
        "object",
    }
)


@register
class StreetVending(ZoneRule):
    """A person who stays (within about a body height) beside stall-like objects for the dwell.

    The zone's ``classes`` may narrow or widen the stall classes; ``person`` is always the subject.
    The event is the vendor's stay: one incident per vendor track and zone.
    """

    code = "street_vending"
    default_classes = STALL_CLASSES | {PERSON}
    move_frac = 0.5  # a vendor shifts about beside the stall (half a body height); passers-by walk on
    reach = 1.0  # a stall item this close (x the person's height) belongs to the person

    def subjects(self, tracks: list[Track]) -> list[Track]:
        stall = self.classes - {PERSON}
        # a blob counts once it stands still (a moving one is someone walking past)
        items = [
            tr.box
            for tr in self.in_zone(tracks, stall)
            if tr.box.cls != "object" or tr.box.conf >= STATIC_CONF
        ]
        if not items:
            return []
        people = self.in_zone(tracks, frozenset({PERSON}))
        return [p for p in people if near_any(p.box, items, self.reach)]
