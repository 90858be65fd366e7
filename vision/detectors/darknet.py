"""Darknet models (e.g. Yolo-Fastest 1.1, COCO) through OpenCV 4.x's DNN module.

Frames are letterboxed (scaled to fit the model's square input, aspect kept, padded) and boxes are
mapped back to the frame, so vertical and odd-sized frames are seen as they are. (The Ultralytics
backend letterboxes in its own pre-processing; the weight-free backend works at any size.)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.classes import names_file
from vision.detectors.base import Box, DetectorError


def letterbox(frame: np.ndarray, size: int, fill: int = 114) -> tuple[np.ndarray, float, tuple[int, int]]:
    """``frame`` scaled to fit a ``size`` x ``size`` square, aspect kept, centred on a grey pad.

    Returns the square, the scale and the (x, y) padding, so a box maps back with
    ``(x - pad_x) / scale``. Stretching instead squeezed a 1080x1920 vertical frame to a third of
    its width and the model saw nothing in it.
    """
    h, w = frame.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    px, py = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), fill, np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[py : py + nh, px : px + nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
    return out, scale, (px, py)


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
        square, scale, (px, py) = letterbox(frame, self.imgsz)
        blob = cv2.dnn.blobFromImage(square, 1 / 255.0, (self.imgsz, self.imgsz), swapRB=True, crop=False)
        self.net.setInput(blob)
        outs = np.concatenate([o.reshape(-1, o.shape[-1]) for o in self.net.forward(self.out_names)])
        scores = outs[:, 5:]
        cls = scores.argmax(axis=1)
        conf = scores[np.arange(len(cls)), cls] * outs[:, 4]
        keep = conf >= self.conf
        outs, cls, conf = outs[keep], cls[keep], conf[keep]
        if not len(outs):
            return []
        # the model's square (letterboxed) coordinates back to the frame's pixels
        k = self.imgsz / scale
        cx, cy = (outs[:, 0] * self.imgsz - px) / scale, (outs[:, 1] * self.imgsz - py) / scale
        bw, bh = outs[:, 2] * k, outs[:, 3] * k
        rects = np.column_stack([cx - bw / 2, cy - bh / 2, bw, bh])
        idx = cv2.dnn.NMSBoxesBatched(rects.tolist(), conf.tolist(), cls.tolist(), self.conf, self.nms)
        out = []
        for i in np.asarray(idx).reshape(-1):
            x, y, bw_, bh_ = rects[i]
            name = self.names[cls[i]] if cls[i] < len(self.names) else str(cls[i])
            out.append(Box(max(0.0, x), max(0.0, y), min(w, x + bw_), min(h, y + bh_), name, float(conf[i])))
        return out
