"""Darknet models (e.g. Yolo-Fastest 1.1, COCO) through OpenCV 4.x's DNN module."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.classes import names_file
from vision.detectors.base import Box, DetectorError


class DarknetDetector:
    name = "darknet"

    def __init__(
        self,
        cfg: str,
        weights: str,
        names: str | None,
        *,
        imgsz: int = 320,
        conf: float = 0.25,
        nms: float = 0.45,
    ):
        for label, p in (("cfg", cfg), ("weights", weights)):
            if not Path(p).is_file():
                raise DetectorError(f"darknet {label} file not found: {p}")
        if not hasattr(cv2.dnn, "readNetFromDarknet"):
            raise DetectorError(
                f"OpenCV {cv2.__version__} has no Darknet importer; install opencv-python-headless<5"
            )
        try:
            self.net = cv2.dnn.readNetFromDarknet(cfg, weights)
        except cv2.error as exc:
            raise DetectorError(f"OpenCV cannot read the Darknet model {weights}: {exc}") from exc
        names_path = Path(names) if names else Path(cfg).with_name("coco.names")
        # canonical spellings at the edge: Darknet's 'motorbike' is everyone's 'motorcycle'
        self.names = names_file(names_path) if names_path.is_file() else []
        self.classes = frozenset(self.names)  # what this detector can produce
        self.out_names = self.net.getUnconnectedOutLayersNames()
        self.imgsz, self.conf, self.nms = imgsz, conf, nms

    def detect(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, (self.imgsz, self.imgsz), swapRB=True, crop=False)
        self.net.setInput(blob)
        outs = np.concatenate([o.reshape(-1, o.shape[-1]) for o in self.net.forward(self.out_names)])
        scores = outs[:, 5:]
        cls = scores.argmax(axis=1)
        conf = scores[np.arange(len(cls)), cls] * outs[:, 4]
        keep = conf >= self.conf
        outs, cls, conf = outs[keep], cls[keep], conf[keep]
        if not len(outs):
            return []
        cx, cy, bw, bh = outs[:, 0] * w, outs[:, 1] * h, outs[:, 2] * w, outs[:, 3] * h
        rects = np.column_stack([cx - bw / 2, cy - bh / 2, bw, bh])
        idx = cv2.dnn.NMSBoxesBatched(rects.tolist(), conf.tolist(), cls.tolist(), self.conf, self.nms)
        out = []
        for i in np.asarray(idx).reshape(-1):
            x, y, bw_, bh_ = rects[i]
            name = self.names[cls[i]] if cls[i] < len(self.names) else str(cls[i])
            out.append(Box(max(0.0, x), max(0.0, y), min(w, x + bw_), min(h, y + bh_), name, float(conf[i])))
        return out
