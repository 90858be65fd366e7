"""Operators' verdicts on camera incidents: the labelled examples the detectors learn from.

A desk user marks a camera incident ``confirmed`` or ``false_alarm`` (a false alarm needs a reason).
Each verdict keeps the clean evidence frame and its boxes, read from the labels vision wrote beside
the evidence JPEG (:class:`streams.schemas.EvidenceLabels`), or the boxes the operator drew instead.
One verdict per incident and operator: giving it again updates it. ``cityops vision dataset export``
reads them back (:func:`labelled_examples`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from cityops.clock import utcnow
from dispatch.commands import Actor, NotFound
from dispatch.store import Incident, VerdictRow
from streams.schemas import EvidenceLabels


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"


class VerdictConflict(RuntimeError):
    """The incident cannot take a verdict in its present form (merged, not from a camera)."""


def _labels(data_dir: Path, evidence: str | None) -> EvidenceLabels | None:
    if not evidence:
        return None
    path = data_dir / EvidenceLabels.path_for(evidence)
    try:
        return EvidenceLabels.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None


def _frame(data_dir: Path, inc: Incident) -> tuple[str | None, int | None, int | None, list[dict]]:
    """The frame to label (clean frame, else the evidence JPEG), its size and the detector's boxes."""
    labels = _labels(data_dir, inc.evidence)
    if labels is not None and (data_dir / labels.frame).is_file():
        boxes = [b.model_dump(include={"cls", "x1", "y1", "x2", "y2"}) for b in labels.boxes]
        return labels.frame, labels.width, labels.height, boxes
    if inc.evidence and (data_dir / inc.evidence).is_file():
        return inc.evidence, None, None, []
    return None, None, None, []


def to_dict(row: VerdictRow) -> dict:
    return {
        "incident_id": row.incident_id,
        "verdict": row.verdict,
        "reason": row.reason,
        "actor": row.actor,
        "at": row.at,
        "frame": row.frame,
        "width": row.width,
        "height": row.height,
        "boxes": list(row.boxes or []),
    }


def record_verdict(
    sessions: sessionmaker,
    data_dir: Path,
    incident_id: int,
    verdict: Verdict,
    reason: str,
    actor: Actor,
    boxes: list[dict] | None = None,
    at: datetime | None = None,
) -> dict:
    """Store (or update) ``actor``'s verdict on the incident. Raises NotFound, VerdictConflict, or
    ValueError (a false alarm without a reason)."""
    reason = reason.strip()
    if verdict == Verdict.FALSE_ALARM and not reason:
        raise ValueError("a false alarm needs a reason (what the camera got wrong)")
    try:
        return _upsert(sessions, data_dir, incident_id, verdict, reason, actor, boxes, at or utcnow())
    except IntegrityError:  # the same operator's two requests raced to insert: the second updates
        return _upsert(sessions, data_dir, incident_id, verdict, reason, actor, boxes, at or utcnow())


def _upsert(sessions, data_dir, incident_id, verdict, reason, actor, boxes, at) -> dict:
    with sessions.begin() as s:
        inc = s.get(Incident, incident_id)
        if inc is None:
            raise NotFound(f"incident {incident_id} not found")
        if inc.merged_into is not None:
            raise VerdictConflict(
                f"incident {incident_id} was merged into {inc.merged_into}: give the verdict there"
            )
        if inc.source != "camera":
            raise VerdictConflict(
                f"incident {incident_id} came from a {inc.source}, not a camera: verdicts label camera "
                "detections only"
            )
        frame, width, height, seen = _frame(data_dir, inc)
        row = s.scalars(
            select(VerdictRow).where(VerdictRow.incident_id == incident_id, VerdictRow.actor == actor.name)
        ).one_or_none()
        if row is None:
            row = VerdictRow(incident_id=incident_id, actor=actor.name)
            s.add(row)
        row.verdict, row.reason, row.at = str(verdict), reason, at
        row.frame, row.width, row.height = frame, width, height
        row.boxes = boxes if boxes is not None else seen
        s.flush()
        return to_dict(row)


def verdicts_of(sessions: sessionmaker, incident_id: int) -> list[dict]:
    with sessions() as s:
        rows = s.scalars(
            select(VerdictRow).where(VerdictRow.incident_id == incident_id).order_by(VerdictRow.at)
        ).all()
        return [to_dict(r) for r in rows]


def labelled_examples(sessions: sessionmaker) -> list[dict]:
    """One example per incident with a verdict: the latest verdict wins when operators disagree."""
    with sessions() as s:
        rows = s.scalars(select(VerdictRow).order_by(VerdictRow.incident_id, VerdictRow.at)).all()
        latest = {r.incident_id: to_dict(r) for r in rows}
    return [latest[k] for k in sorted(latest)]
