"""Static-object analysis beside any detector: new things that stayed, that the detector cannot name.

A COCO detector has no class for a pile of rubbish, a crate or a stall's goods, and a small model
mislabels what it does see. The scene's background models (:class:`vision.background.SceneBackground`)
find *new static objects*: whatever was not in the reference (or kept, or learnt) background and has
stayed. :class:`StaticObjects` runs them on every frame beside the camera's detector and, on the
frames where the detector runs, turns what the detector does not explain into boxes of class
``object`` (confidence :data:`~vision.detectors.base.STATIC_CONF`), which the zone rules take as any
other box:

- pixels inside a detector's ``person`` or vehicle box are the detector's (a person standing still,
  a parked car): they are never an ``object``;
- a blob mostly covered by another detector box (a ``suitcase``, a ``chair``) is left to that box,
  which names it better;
- only blobs that have stopped (the short-memory model absorbed them) count.

``exposed_rubbish`` then raises an ``object`` with nobody beside it in a no-dumping zone, and
``street_vending`` a person staying beside an ``object`` (or an umbrella, table, chair...) in a
no-vending zone. A user with a real stall or garbage model changes only ``model:`` and the zones'
``classes:``; the analysis can be switched off per camera (``static_objects: false``).
"""

from __future__ import annotations

import numpy as np

from vision.background import SceneBackground
from vision.detectors.base import STATIC_CONF, VEHICLES, Box

#: Classes whose pixels a detector explains: never part of a new static object.
EXPLAINED = VEHICLES | {"person"}
OBJECT = "object"


class StaticObjects:
    """One camera's static-object analysis (see the module docstring)."""

    def __init__(self, *, fps: float, camera_id: str = "", min_area: int = 300, width: int = 480) -> None:
        self.scene = SceneBackground(fps=fps, width=width, camera_id=camera_id)
        self.min_area = min_area
        self.trusted = True

    def update(self, frame: np.ndarray) -> None:
        """Feed every frame (the models' memories are counted in frames), the detector's or not."""
        self.trusted = self.scene.update(frame)

    def objects(self, boxes: list[Box]) -> list[Box]:
        """The new static objects of the last frame that ``boxes`` (the detector's, same frame) do
        not explain, as ``object`` boxes."""
        if not self.trusted:
            return []
        mine = [b.as_tuple() for b in boxes if b.cls in EXPLAINED]
        others = [b for b in boxes if b.cls not in EXPLAINED]
        out = []
        for x1, y1, x2, y2, static in self.scene.blobs(exclude=mine, min_area=self.min_area):
            if not static:
                continue
            blob = Box(x1, y1, x2, y2, OBJECT, STATIC_CONF)
            if any(_covered(blob, o) >= 0.5 for o in others):
                continue
            out.append(blob)
        return out


def _covered(a: Box, b: Box) -> float:
    """The fraction of ``a`` that ``b`` covers."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return ix * iy / a.area if a.area > 0 else 0.0
