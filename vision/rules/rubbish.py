"""Exposed rubbish: something new left lying in a no-dumping zone, with nobody beside it."""

from __future__ import annotations

from vision.detectors.base import STATIC_CONF, VEHICLES
from vision.geometry import near_any
from vision.rules.base import ZoneRule, register
from vision.tracking import Track

#: COCO classes that, left lying with nobody near them, are dumped goods; ``object`` is a new static
#: blob from the weight-free backend (something that was not part of the scene and stopped there).
RUBBISH_CLASSES = frozenset({"object", "suitcase", "backpack", "handbag", "bottle", "cup", "bowl", "vase"})


@register
class ExposedRubbish(ZoneRule):
    """A static, unattended object or pile in a no-dumping zone for the dwell.

    Weight-free blobs count only once static (the short-memory background has absorbed them); an
    item with a person or vehicle beside it (a bag being carried, a car being loaded) does not count.
    """

    code = "exposed_rubbish"
    default_classes = RUBBISH_CLASSES
    reach = 0.5
    # someone passing in front hides part of a left object for a moment: its box, and so its
    # bottom-centre, shifts without the object moving
    move_frac = 0.5

    def subjects(self, tracks: list[Track]) -> list[Track]:
        carriers = [tr.box for tr in tracks if tr.box.cls == "person" or tr.box.cls in VEHICLES]
        return [
            tr
            for tr in self.in_zone(tracks, self.classes - {"person"} - VEHICLES)
            if (tr.box.cls != "object" or tr.box.conf >= STATIC_CONF)
            and not near_any(tr.box, carriers, self.reach)
        ]
