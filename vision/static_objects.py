"""Static-object analysis beside any detector: new things that stayed, that the detector cannot name.

A COCO detector has no class for a pile of rubbish, a crate or a stall's goods, and a small model
mislabels what it does see. The scene's background models (:class:`vision.background.SceneBackground`)
find *new static objects*: whatever was not in the reference (or kept, or learnt) background and has
stayed. :class:`StaticObjects` runs them on every frame beside the camera's detector and, on the
frames where the detector runs, turns what the detector does not explain into boxes of class
``object`` (confidence :data:`~vision.detectors.base.STATIC_CONF`), which the zone rules take as any
other box:

- pixels that stand still inside a detector's ``person`` or vehicle box are the detector's (a person
  standing still, a parked car): never an ``object``, until no such box covers them any more (a bag
  put down, then left behind); pixels that stood still outside such boxes stay an ``object`` when
  someone later stands on or in front of them;
- a blob mostly covered by another detector box of a class the zones count (a ``suitcase``, a
  ``chair``) is left to that box, which names it better; a box of a class no zone counts (a garment
  lying flat, boxed "surfboard" by a COCO model) gives way to the blob;
- only blobs that have stopped (the short-memory model absorbed them) count.

``exposed_rubbish`` then raises an ``object`` with nobody beside it in a no-dumping zone, and
``street_vending`` a person staying beside an ``object`` (or an umbrella, table, chair...) in a
no-vending zone. A user with a real stall or garbage model changes only ``model:`` and the zones'
``classes:``; the analysis can be switched off per camera (``static_objects: false``).
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.background import SceneBackground
from vision.detectors.base import STATIC_CONF, VEHICLES, Box

#: Classes whose pixels a detector explains: never part of a new static object.
EXPLAINED = VEHICLES | {"person"}
OBJECT = "object"


class StaticObjects:
    """One camera's static-object analysis (see the module docstring).

    ``named``: the classes the camera's zones count (besides people, vehicles and ``object``); a
    detector box of one of them covering a static blob speaks for it, while a box of a class no zone
    counts (a garment lying flat boxed as "surfboard" or "kite" by a COCO model) gives way to the
    blob, which then counts as ``object``.
    """

    def __init__(
        self,
        *,
        fps: float,
        camera_id: str = "",
        min_area: int = 300,
        width: int = 480,
        named: frozenset[str] = frozenset(),
    ) -> None:
        self.scene = SceneBackground(fps=fps, width=width, camera_id=camera_id)
        self.min_area, self.named = min_area, named
        self.trusted = True
        self.claimed: np.ndarray | None = None  # static pixels whose owner is decided
        self.explained: np.ndarray | None = None  # ... and decided to be a person's or a vehicle's

    def update(self, frame: np.ndarray) -> None:
        """Feed every frame (the models' memories are counted in frames), the detector's or not."""
        self.trusted = self.scene.update(frame)

    def fuse(self, boxes: list[Box]) -> list[Box]:
        """The detector's ``boxes`` (same frame as the last :meth:`update`) with the new static
        objects they do not explain added as ``object`` boxes, and boxes of classes no zone counts
        that cover one of those objects left out (the ``object`` box stands for them)."""
        sc = self.scene
        static = sc.static_mask()
        if not self.trusted or static is None:
            return list(boxes)
        if self.claimed is None or self.claimed.shape != static.shape:
            self.claimed = np.zeros(static.shape, bool)
            self.explained = np.zeros(static.shape, bool)
        people = sc.frame_mask([b.as_tuple() for b in boxes if b.cls in EXPLAINED])
        # who a static pixel belongs to is decided when it first stands still: inside a person's or
        # a vehicle's box it is theirs; once no such box covers it any more, what stays is an object
        # (a bag put down, then left); an object's pixels stay an object when someone stands on it
        self.claimed &= static
        new = static & ~self.claimed
        self.explained[new] = people[new]
        self.claimed |= new
        self.explained &= self.claimed & people
        mask = cv2.morphologyEx((static & ~self.explained).astype(np.uint8), cv2.MORPH_OPEN, sc.kernel)
        others = [b for b in boxes if b.cls not in EXPLAINED]
        added, replaced = [], set()
        for x1, y1, x2, y2 in sc.static_boxes(mask, self.min_area):
            blob = Box(x1, y1, x2, y2, OBJECT, STATIC_CONF)
            covering = [i for i, o in enumerate(others) if _covered(blob, o) >= 0.5]
            if any(others[i].cls in self.named for i in covering):
                continue  # the detector names it with a class a zone counts
            replaced.update(covering)
            added.append(blob)
        kept = [b for b in boxes if b.cls in EXPLAINED] + [
            o for i, o in enumerate(others) if i not in replaced
        ]
        return kept + added


def _covered(a: Box, b: Box) -> float:
    """The fraction of ``a`` that ``b`` covers."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return ix * iy / a.area if a.area > 0 else 0.0
