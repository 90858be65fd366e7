"""Exposed rubbish: something new left lying in a no-dumping zone, with nobody beside it."""

from __future__ import annotations

from vision.detectors.base import STATIC_CONF, VEHICLES
from vision.geometry import near_any
from vision.rules.base import Violation, ZoneRule, register
from vision.tracking import Track

#: COCO classes that, left lying with nobody near them, are dumped goods; ``object`` is a new static
#: blob (weight-free backend, or the static-object analysis beside a detector): something that was not
#: part of the scene and stopped there.
RUBBISH_CLASSES = frozenset({"object", "suitcase", "backpack", "handbag", "bottle", "cup", "bowl", "vase"})


@register
class ExposedRubbish(ZoneRule):
    """A static, unattended object or pile in a no-dumping zone for the dwell.

    Weight-free blobs count only once static (the short-memory background has absorbed them); an
    item with a person or vehicle beside it (a bag being carried, a car being loaded, a vendor's
    goods) is not raised while they are beside it, though its dwell goes on: people walking past
    do not reset it. A left item is raised once it has lain for the dwell with nobody beside it.
    """

    code = "exposed_rubbish"
    default_classes = RUBBISH_CLASSES
    reach = 0.5
    # someone passing in front hides part of a left object for a moment: its box, and so its
    # bottom-centre, shifts without the object moving
    move_frac = 0.5

    def _items(self, tracks: list[Track]) -> list[Track]:
        return [
            tr
            for tr in self.in_zone(tracks, self.classes - {"person"} - VEHICLES)
            if tr.box.cls != "object" or tr.box.conf >= STATIC_CONF
        ]

    def subjects(self, tracks: list[Track]) -> list[Track]:
        """The items lying here with nobody beside them in this frame."""
        carriers = [tr.box for tr in tracks if tr.box.cls == "person" or tr.box.cls in VEHICLES]
        return [tr for tr in self._items(tracks) if not near_any(tr.box, carriers, self.reach)]

    def update(self, tracks: list[Track], t: float) -> list[Violation]:
        """An item with someone beside it keeps its dwell (people walk past a left bag all day) but
        is not raised while they are there; someone who stays beside it the whole time attends it."""
        items = self._items(tracks)
        lonely = {tr.id for tr in self.subjects(tracks)}
        attended = frozenset(tr.id for tr in items if tr.id not in lonely)
        return [
            Violation(self.code, self.zone.id, tr.id, tr.box, dwell, start, t)
            for tr, dwell, start in self.clock.update(items, t, hold=attended)
        ]
