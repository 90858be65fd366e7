"""The small interface every detector backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})
#: Confidence the weight-free backend gives a blob that has stopped (moving blobs get MOVING_CONF).
STATIC_CONF = 1.0
MOVING_CONF = 0.5


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float
    cls: str
    conf: float

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre: where an object stands on the ground (as Frigate and supervision use)."""
        return ((self.x1 + self.x2) / 2, self.y2)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


class Detector(Protocol):
    name: str
    #: the classes it can produce, canonical spellings (vision/classes.py)
    classes: frozenset[str]

    def detect(self, frame: np.ndarray) -> list[Box]: ...


class DetectorError(RuntimeError):
    """A detector that cannot be built from its settings (missing file, unreadable model)."""
