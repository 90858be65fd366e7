"""Weight-free detection: the scene's two background models (:mod:`vision.background`).

Blobs of the long-memory model are reported as class ``object``; those the short-memory model has
already absorbed are marked static (``conf`` 1.0 vs 0.5 for moving), which is what "something new
stopped here" rules need. The pipeline seeds the models (reference image, or the background kept by
the last run) and keeps their image (see :class:`vision.background.BackgroundStore`).
"""

from __future__ import annotations

import numpy as np

from vision.background import SceneBackground
from vision.detectors.base import MOVING_CONF, STATIC_CONF, Box


class MotionDetector:
    name = "motion"
    classes = frozenset({"object"})

    def __init__(
        self,
        *,
        fps: float = 5.0,
        long_memory_s: float = 600.0,
        short_memory_s: float = 3.0,
        min_area: int = 300,
        width: int = 480,
    ):
        self.scene = SceneBackground(
            fps=fps, long_memory_s=long_memory_s, short_memory_s=short_memory_s, width=width
        )
        self.min_area = min_area

    def detect(self, frame: np.ndarray) -> list[Box]:
        if not self.scene.update(frame):
            return []  # re-learning after a scene change: nothing it sees now can be trusted
        return [
            Box(x1, y1, x2, y2, "object", STATIC_CONF if static else MOVING_CONF)
            for x1, y1, x2, y2, static in self.scene.blobs(min_area=self.min_area)
        ]
