"""Ultralytics models (.pt, ONNX, OpenVINO, Triton URL) behind the common interface.

Imported only when configured: the package pulls in PyTorch (several GB). It is run offline:
YOLO_OFFLINE=1 and YOLO_AUTOINSTALL=0, with its settings under the data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vision.detectors.base import Box, DetectorError


class UltralyticsDetector:
    name = "ultralytics"

    def __init__(
        self, model: str, *, imgsz: int = 640, conf: float = 0.25, device: str = "cpu", data_dir: Path
    ):
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "0")
        os.environ.setdefault("YOLO_CONFIG_DIR", str(data_dir / "ultralytics"))
        try:
            import torch
            from ultralytics import YOLO
        except ImportError as exc:
            raise DetectorError("the ultralytics backend needs: pip install 'cityops[ultralytics]'") from exc
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        try:
            self.model = YOLO(model, task="detect")
        except Exception as exc:  # Ultralytics raises many types for a missing or bad model
            raise DetectorError(f"Ultralytics cannot load model {model!r}: {exc}") from exc
        self.imgsz, self.conf, self.device = imgsz, conf, device

    def detect(self, frame: np.ndarray) -> list[Box]:
        res = self.model.predict(frame, imgsz=self.imgsz, conf=self.conf, device=self.device, verbose=False)[
            0
        ]
        names = res.names
        xyxy = res.boxes.xyxy.cpu().numpy()
        cls = res.boxes.cls.cpu().numpy().astype(int)
        conf = res.boxes.conf.cpu().numpy()
        return [Box(*map(float, b), names[int(c)], float(p)) for b, c, p in zip(xyxy, cls, conf, strict=True)]
