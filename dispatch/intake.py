"""Intake: turn a detection (or citizen report) into an incident, or merge it into an open one.

One database transaction per detection writes the incident, its events (the outbox) and the
detection's idempotency key; a replayed detection finds its key and changes nothing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityops.config import CityOpsConfig
from dispatch.commands import SYSTEM_ACTOR, Commands, open_load, record_event, token_hash
from dispatch.lifecycle import NEW, OPEN_STATES
from dispatch.store import Incident, ProcessedDetection
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
        self.commands = Commands(cfg, sessions)

    def handle(self, det: Detection, *, token: str | None = None) -> IntakeResult:
        """Store ``det`` once; ``token`` (citizen reports) is kept hashed to authorise a later rating."""
        return self.handle_many([det], tokens={det.id: token} if token else None)[0]

    def handle_many(self, dets: list[Detection], tokens: dict[str, str] | None = None) -> list[IntakeResult]:
        """Several detections in one transaction: all stored, or none (the caller retries them).

        Replays are found with one query for the whole batch; the open-load per inspector is read
        once and kept up to date in memory; autoflush is off, each new incident is flushed once.
        """
        tokens = tokens or {}
        with self.sessions.begin() as s:
            ids = list({d.id for d in dets})
            seen = dict(
                s.execute(
                    select(ProcessedDetection.detection_id, ProcessedDetection.incident_id).where(
                        ProcessedDetection.detection_id.in_(ids)
                    )
                ).all()
            )
            load = open_load(s)
            out = []
            with s.no_autoflush:
                for det in dets:
                    if det.id in seen:
                        out.append(IntakeResult(seen[det.id], created=False, duplicate_message=True))
                        continue
                    target = self._mergeable(s, det)
                    created = target is None
                    if created:
                        target = self._create(s, det, load)
                    else:
                        self._merge(s, target, det)
                    token = tokens.get(det.id)
                    s.add(
                        ProcessedDetection(
                            detection_id=det.id,
                            incident_id=target.id,
                            at=det.observed_at,
                            token_hash=token_hash(token) if token else None,
                        )
                    )
                    seen[det.id] = target.id
                    out.append(IntakeResult(target.id, created=created, duplicate_message=False))
            return out

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

    def _create(self, s: Session, det: Detection, load: dict[str, int]) -> Incident:
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
            version=0,
            opened_at=det.observed_at,
            updated_at=det.observed_at,
            breaches=[],
        )
        s.add(inc)
        s.flush()  # assigns inc.id
        note = "outside the district grid" if not inc.cell else ""
        record_event(s, inc, "created", None, SYSTEM_ACTOR, det.observed_at, note=note, detection_id=det.id)
        self.commands.auto_assign(s, inc, det.observed_at, load)
        s.flush()  # later detections of the batch may merge into it
        return inc

    def _merge(self, s: Session, inc: Incident, det: Detection) -> None:
        inc.count += 1
        if det.evidence:
            inc.evidence = det.evidence
        record_event(s, inc, "merged", inc.state, SYSTEM_ACTOR, det.observed_at, detection_id=det.id)
