"""The clean evidence frame and its boxes, written beside the annotated evidence JPEG.

The annotated JPEG is for people; a detector must learn from the frame without drawings on it. So
each detection also writes ``<stem>.frame.jpg`` (the frame as decoded) and ``<stem>.labels.json``
(:class:`streams.schemas.EvidenceLabels`: every tracked box with its canonical class). An operator's
verdict (:mod:`dispatch.verdicts`) turns them into a labelled example for ``cityops vision dataset``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from streams.schemas import EvidenceLabels, LabelBox
from vision.evidence import EvidenceError, write_jpeg


def write_labels(frame: np.ndarray, tracks: list, data_dir: Path, evidence: str, hit: int | None) -> str:
    """Write the clean frame and its labels for the evidence JPEG ``evidence``; returns the labels'
    path (relative to ``data_dir``). Raises EvidenceError with the reason."""
    stem = evidence[: -len(".jpg")] if evidence.endswith(".jpg") else evidence
    h, w = frame.shape[:2]
    frame_rel = write_jpeg(frame, data_dir, f"{stem}.frame.jpg", quality=92)
    boxes = []
    for tr in tracks:
        b = tr.box
        x1, y1 = min(max(0.0, b.x1), w), min(max(0.0, b.y1), h)
        x2, y2 = min(max(0.0, b.x2), w), min(max(0.0, b.y2), h)
        if x2 > x1 and y2 > y1:
            boxes.append(
                LabelBox(cls=b.cls, x1=x1, y1=y1, x2=x2, y2=y2, conf=min(1.0, b.conf), track_id=tr.id)
            )
    doc = EvidenceLabels(frame=frame_rel, width=w, height=h, boxes=boxes, hit_track=hit)
    rel = EvidenceLabels.path_for(evidence)
    path = data_dir / rel
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(doc.model_dump_json(), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise EvidenceError(f"cannot write evidence labels {path}: {exc.strerror or exc}") from exc
    return rel
