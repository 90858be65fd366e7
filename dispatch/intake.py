"""Intake: turn a detection into an incident (or merge it into an open one), idempotently.

One database transaction per detection writes the incident, its events (the outbox) and the
detection's idempotency key; a replayed detection finds its key and changes nothing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityops.config import CityOpsConfig
from dispatch.assignment import pick_inspector
from dispatch.lifecycle import DISPATCHED, NEW, OPEN_STATES, check_transition
from dispatch.store import Incident, IncidentEventRow, ProcessedDetection
from gis.grid import OUTSIDE, Grid
from gis.projection import distance_m
from streams.schemas import Detection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    incident_id: int
    created: bool
    duplicate_message: bool


class Intake:
    def __init__(self, cfg: CityOpsConfig, grid: Grid, sessions: sessionmaker) -> None:
        self.cfg, self.grid, self.sessions = cfg, grid, sessions
        self.tz = ZoneInfo(cfg.timezone)

    def handle(self, det: Detection) -> IntakeResult:
        with self.sessions.begin() as s:
            seen = s.get(ProcessedDetection, det.id)
            if seen is not None:
                return IntakeResult(seen.incident_id, created=False, duplicate_message=True)
            target = self._mergeable(s, det)
            if target is not None:
                self._merge(s, target, det)
                created = False
            else:
                target = self._create(s, det)
                created = True
            s.add(ProcessedDetection(detection_id=det.id, incident_id=target.id, at=det.observed_at))
            return IntakeResult(target.id, created=created, duplicate_message=False)

    # -- steps ------------------------------------------------------------------------------------
    def _mergeable(self, s: Session, det: Detection) -> Incident | None:
        rules = self.cfg.dispatch
        since = det.observed_at - timedelta(seconds=rules.merge_window_s)
        dlat = rules.merge_radius_m / 111_000
        dlon = dlat / max(math.cos(math.radians(det.lat)), 0.01)
        rows = s.scalars(
            select(Incident)
            .where(
                Incident.type == det.type,
                Incident.state.in_(OPEN_STATES),
                Incident.updated_at >= since,
                Incident.lon.between(det.lon - dlon, det.lon + dlon),
                Incident.lat.between(det.lat - dlat, det.lat + dlat),
            )
            .order_by(Incident.updated_at.desc())
        ).all()
        for inc in rows:
            if distance_m(inc.lon, inc.lat, det.lon, det.lat) <= rules.merge_radius_m:
                return inc
        return None

    def _event(
        self, s: Session, inc: Incident, action: str, from_state: str | None, det: Detection, note: str = ""
    ) -> None:
        s.add(
            IncidentEventRow(
                incident_id=inc.id,
                version=inc.version,
                action=action,
                from_state=from_state,
                to_state=inc.state,
                actor="system",
                note=note,
                detection_id=det.id,
                extra={"count": inc.count, "evidence": inc.evidence, "assignee": inc.assignee},
                at=inc.updated_at,
            )
        )

    def _create(self, s: Session, det: Detection) -> Incident:
        cell = self.grid.locate(det.lon, det.lat)
        inc = Incident(
            type=det.type,
            state=NEW,
            source=det.source,
            cell=cell if cell != OUTSIDE else None,
            lon=det.lon,
            lat=det.lat,
            camera_id=det.camera_id,
            zone_id=det.zone_id,
            count=1,
            evidence=det.evidence,
            description=det.description,
            version=1,
            opened_at=det.observed_at,
            updated_at=det.observed_at,
        )
        s.add(inc)
        s.flush()  # assigns inc.id
        self._event(s, inc, "created", None, det, note="outside the district grid" if not inc.cell else "")
        assignee = pick_inspector(
            self.cfg.roster, inc.cell, det.observed_at.astimezone(self.tz).time(), self._load(s)
        )
        if assignee:
            check_transition(inc.state, DISPATCHED)
            inc.state, inc.assignee, inc.version = DISPATCHED, assignee, inc.version + 1
            self._event(s, inc, "assigned", NEW, det, note=f"on duty for {inc.cell}")
        return inc

    def _merge(self, s: Session, inc: Incident, det: Detection) -> None:
        inc.count += 1
        inc.version += 1
        inc.updated_at = max(inc.updated_at, det.observed_at)
        if det.evidence:
            inc.evidence = det.evidence
        self._event(s, inc, "merged", inc.state, det)

    def _load(self, s: Session) -> dict[str, int]:
        rows = s.execute(
            select(Incident.assignee, func.count())
            .where(Incident.state.in_(OPEN_STATES), Incident.assignee.is_not(None))
            .group_by(Incident.assignee)
        ).all()
        return {a: n for a, n in rows}
