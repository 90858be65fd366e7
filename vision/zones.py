"""Zones drawn in image coordinates (``polygon``, pixels) or as fractions of the frame
(``polygon_norm``, scaled when the first frame gives the size); membership is tested at a box's
bottom-centre."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import cv2
import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from cityops.config import ZoneConfig
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

    def active(self, local: time) -> bool:
        return any(h.contains(local) for h in self.cfg.active_hours)

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        m = np.zeros(shape, dtype=np.uint8)
        cv2.fillPoly(m, [np.array(self.points, dtype=np.int32)], 255)
        return m


def outside_frame(polygon: list[tuple[float, float]], width: int, height: int) -> list[tuple[float, float]]:
    """The polygon's points that lie outside a ``width`` x ``height`` picture (a 1 px margin allowed)."""
    return [(x, y) for x, y in polygon if x > width + 1 or y > height + 1]


def check_zones(zones: list[ZoneConfig], width: int, height: int) -> None:
    """Raise :class:`ZoneError` naming each zone drawn (partly) outside the camera's frames."""
    bad = [(z.id, pts) for z in zones if z.polygon and (pts := outside_frame(z.polygon, width, height))]
    if bad:
        detail = "; ".join(f"zone {zid!r} has point(s) {pts}" for zid, pts in bad)
        raise ZoneError(f"zone outside the {width}x{height} frame: {detail}")
