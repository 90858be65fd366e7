"""Evidence images: the frame with zones, boxes, track ids and dwell clocks drawn on it."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vision.tracking import Track
from vision.zones import Zone

ZONE_COLOUR = (0, 200, 255)
EXCLUDE_COLOUR = (80, 200, 80)  # exclude zones (parking allowed): green
BOX_COLOUR = (60, 220, 60)
HIT_COLOUR = (40, 40, 255)


class EvidenceError(OSError):
    pass


def annotate(
    frame: np.ndarray, zones: list[Zone], tracks: list[Track], dwell: dict[int, float], hit: int | None = None
) -> np.ndarray:
    img = frame.copy()
    for z in zones:
        pts = np.array(z.points, dtype=np.int32)
        colour = EXCLUDE_COLOUR if z.excludes else ZONE_COLOUR
        overlay = img.copy()
        cv2.fillPoly(overlay, [pts], colour)
        img = cv2.addWeighted(overlay, 0.18, img, 0.82, 0)
        cv2.polylines(img, [pts], True, colour, 2)
        cv2.putText(img, z.id, tuple(pts[0]), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    for tr in tracks:
        b = tr.box
        colour = HIT_COLOUR if tr.id == hit else BOX_COLOUR
        cv2.rectangle(img, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), colour, 2)
        label = f"#{tr.id} {b.cls} {b.conf:.2f}"
        if tr.id in dwell:
            label += f" {dwell[tr.id]:.0f}s"
        cv2.putText(img, label, (int(b.x1), max(12, int(b.y1) - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 2)
    return img


def write_jpeg(img: np.ndarray, data_dir: Path, rel: str, quality: int = 85) -> str:
    """Write atomically under ``data_dir``; returns ``rel``. Raises EvidenceError with the reason."""
    path = data_dir / rel
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise EvidenceError(f"JPEG encoding failed for {rel}")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buf.tobytes())
        tmp.replace(path)
    except OSError as exc:
        raise EvidenceError(f"cannot write evidence {path}: {exc.strerror or exc}") from exc
    return rel
