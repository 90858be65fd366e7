"""Pure box geometry shared by the tracker, the rules and the drawing code."""

from __future__ import annotations

from vision.detectors.base import Box


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def box_gap(a: Box, b: Box) -> float:
    """Distance in pixels between two boxes' edges (0 when they touch or overlap)."""
    dx = max(0.0, max(a.x1, b.x1) - min(a.x2, b.x2))
    dy = max(0.0, max(a.y1, b.y1) - min(a.y2, b.y2))
    return (dx * dx + dy * dy) ** 0.5


def moved(ref: tuple[float, float], now: tuple[float, float], box: Box, frac: float = 0.15) -> bool:
    """Has an anchor moved further from ``ref`` than ``frac`` of the box's larger side (at least 6 px)?"""
    tol = max(6.0, frac * max(box.x2 - box.x1, box.y2 - box.y1))
    return abs(now[0] - ref[0]) > tol or abs(now[1] - ref[1]) > tol


def near_any(box: Box, others: list[Box], reach: float) -> bool:
    """Is any of ``others`` within ``reach`` x the box's height of it?"""
    limit = reach * max(1.0, box.y2 - box.y1)
    return any(box_gap(box, o) <= limit for o in others)
