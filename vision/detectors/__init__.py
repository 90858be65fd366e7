"""Detector backends; :func:`make_detector` builds the configured one."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cityops.config import DetectorConfig
from vision.classes import fold_families
from vision.detectors.base import Box, Detector, DetectorError

__all__ = ["Box", "Detector", "DetectorError", "make_detector"]
log = logging.getLogger(__name__)


class FamilyFolding:
    """A backend whose boxes of one family (a van as both ``car`` and ``truck``) are folded into one
    before tracking (:func:`vision.classes.fold_families`); everything else is the backend's."""

    def __init__(self, inner: Detector, iou: float) -> None:
        self.inner, self.iou, self.name = inner, iou, inner.name

    def detect(self, frame: np.ndarray) -> list[Box]:
        return fold_families(self.inner.detect(frame), self.iou)

    def __getattr__(self, attr: str):
        return getattr(self.inner, attr)


def make_detector(cfg: DetectorConfig, data_dir: Path, fps: float = 5.0) -> Detector:
    """The configured backend; its ``fallback`` (with a warning) when it cannot be built here."""
    try:
        return _make(cfg, data_dir, fps)
    except DetectorError as exc:
        if cfg.fallback is None:
            raise
        log.warning("%s; using the fallback detector (%s)", exc, cfg.fallback.backend)
        return make_detector(cfg.fallback, data_dir, fps)


def _make(cfg: DetectorConfig, data_dir: Path, fps: float) -> Detector:
    if cfg.backend == "motion":
        from vision.detectors.motion import MotionDetector

        return MotionDetector(fps=fps)
    return FamilyFolding(_backend(cfg, data_dir), cfg.family_iou)


def _backend(cfg: DetectorConfig, data_dir: Path) -> Detector:
    if cfg.backend == "darknet":
        from vision.detectors.darknet import DarknetDetector

        return DarknetDetector(
            cfg.cfg, cfg.model, cfg.names, imgsz=cfg.imgsz, conf=cfg.confidence, nms=cfg.nms
        )
    if cfg.backend == "ultralytics":
        from vision.detectors.ultralytics_backend import UltralyticsDetector

        return UltralyticsDetector(
            cfg.model, imgsz=cfg.imgsz, conf=cfg.confidence, device=cfg.device, data_dir=data_dir
        )
    raise DetectorError(f"unknown detector backend {cfg.backend!r}")
