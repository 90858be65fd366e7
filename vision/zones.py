"""Zones drawn in image coordinates (``polygon``, pixels) or as fractions of the frame
(``polygon_norm``, scaled when the first frame gives the size); membership is tested at a box's
bottom-centre. An ``exclude`` zone (a marked parking row) exempts the objects standing in it from
the camera's rule zones; motion masks (:func:`mask_image`) are areas whose motion is ignored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import cv2
import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from cityops.config import Outline, ZoneConfig, ZoneKind
from vision.detectors.base import Box


class ZoneError(ValueError):
    """A zone that cannot apply to the camera's frames (e.g. drawn outside the picture)."""


@dataclass
class Zone:
    cfg: ZoneConfig
    polygon: Polygon | None  # None for a 'polygon_norm' zone until :meth:`fit` knows the frame size
    points: list[tuple[float, float]]

    @classmethod
    def from_config(cls, cfg: ZoneConfig, size: tuple[int, int] | None = None) -> Zone:
        z = cls(cfg, None, [])
        if cfg.polygon is not None or size is not None:
            z.fit(*(size or (0, 0)))
        return z

    def fit(self, width: int, height: int) -> None:
        """The outline in this frame's pixels (a 'polygon_norm' zone scales with the frame)."""
        self.points = self.cfg.pixels(width, height)
        self.polygon = Polygon(self.points)
        shapely.prepare(self.polygon)

    @property
    def id(self) -> str:
        return self.cfg.id

    def counts(self, box: Box, classes: frozenset[str]) -> bool:
        """Does this object count here: class, confidence, size and position?"""
        c = self.cfg
        return (
            box.cls in classes
            and box.conf >= c.min_confidence
            and box.area >= c.min_area
            and self.polygon is not None
            and self.polygon.intersects(Point(box.anchor))
        )

    @property
    def excludes(self) -> bool:
        return self.cfg.kind == ZoneKind.EXCLUDE

    def exempts(self, box: Box, code: str) -> bool:
        """An exclude zone: is this object (its class, confidence, size and anchor) exempt from ``code``?"""
        c = self.cfg
        return (
            c.exempts(code)
            and (not c.classes or box.cls in self.classes)
            and box.conf >= c.min_confidence
            and box.area >= c.min_area
            and self.polygon is not None
            and self.polygon.intersects(Point(box.anchor))
        )

    @property
    def classes(self) -> frozenset[str]:
        from vision.classes import canonical

        return frozenset(map(canonical, self.cfg.classes or ()))

    def active(self, local: time) -> bool:
        return any(h.contains(local) for h in self.cfg.active_hours)

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        m = np.zeros(shape, dtype=np.uint8)
        cv2.fillPoly(m, [np.array(self.points, dtype=np.int32)], 255)
        return m


def exempt(box: Box, code: str, exclusions: list[Zone]) -> bool:
    """Is ``box`` standing in an exclude zone that exempts it from rule ``code``?"""
    return any(z.exempts(box, code) for z in exclusions)


def mask_image(outlines: list[Outline], width: int, height: int) -> np.ndarray | None:
    """A ``height`` x ``width`` uint8 image, 255 inside any of ``outlines`` (None: no outline)."""
    if not outlines:
        return None
    m = np.zeros((height, width), dtype=np.uint8)
    for o in outlines:
        cv2.fillPoly(m, [np.round(np.array(o.pixels(width, height))).astype(np.int32)], 255)
    return m


def outside_frame(polygon: list[tuple[float, float]], width: int, height: int) -> list[tuple[float, float]]:
    """The polygon's points that lie outside a ``width`` x ``height`` picture (a 1 px margin allowed)."""
    return [(x, y) for x, y in polygon if x > width + 1 or y > height + 1]


def check_zones(zones: list[ZoneConfig], width: int, height: int, masks: list[Outline] = ()) -> None:
    """Raise :class:`ZoneError` naming each zone (or motion mask) drawn (partly) outside the frames."""
    named = [(f"zone {z.id!r}", z) for z in zones] + [
        (f"motion mask {m.name or i + 1!r}", m) for i, m in enumerate(masks)
    ]
    bad = [(n, pts) for n, z in named if z.polygon and (pts := outside_frame(z.polygon, width, height))]
    if bad:
        detail = "; ".join(f"{n} has point(s) {pts}" for n, pts in bad)
        raise ZoneError(f"zone outside the {width}x{height} frame: {detail}")
