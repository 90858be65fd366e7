"""Detector backends; :func:`make_detector` builds the configured one."""

from __future__ import annotations

from pathlib import Path

from cityops.config import DetectorConfig
from vision.detectors.base import Box, Detector, DetectorError

__all__ = ["Box", "Detector", "DetectorError", "make_detector"]


def make_detector(cfg: DetectorConfig, data_dir: Path, fps: float = 5.0) -> Detector:
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
    from vision.detectors.motion import MotionDetector

    return MotionDetector(fps=fps)
