"""Intake: turn a detection (or citizen report) into an incident, or merge it into an open one.

One database transaction per batch writes the incidents, their events (the outbox) and the
detections' idempotency keys; a replayed detection finds its key and changes nothing.

Several dispatch consumers may share one PostgreSQL database: each transaction first takes advisory
locks on the map cells around its detections (:mod:`dispatch.merge_lock`), so the look for an
incident to merge into and the insert of a new one are never interleaved with another consumer's for
the same neighbourhood. SQLite needs none: BEGIN IMMEDIATE already serialises every writer.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cityops.config import CityOpsConfig
from dispatch.commands import SYSTEM_ACTOR, Commands, open_load, token_hash
from dispatch.lifecycle import NEW, OPEN_STATES
from dispatch.merge_lock import batch_lock_keys
from dispatch.outbox import record_event
from dispatch.store import CitizenReport, Incident, ProcessedDetection
from gis.grid import OUTSIDE, Grid
from gis.projection import distance_m
from streams.schemas import Detection

log = logging.getLogger(__name__)

# PostgreSQL errors after which the whole batch is simply tried again: unique_violation (another
# consumer stored the same detection id first: on retry it is a replay), deadlock, serialization.
RETRY_SQLSTATES = {"23505", "40P01", "40001"}
ATTEMPTS = 3


def citizen_report(det: Detection, secret: str, *, token: str | None = None, **fields) -> dict:
    """The :class:`CitizenReport` columns of a citizen's ``det`` (for :meth:`Intake.handle`): its own
    description, photo and position, the spec's ``token`` and the hash of the rating ``secret``;
    ``fields``: address, media_link, photo_public, attributes and the private contact fields."""
    return {
        "token": token or secrets.token_urlsafe(12), "secret_hash": token_hash(secret),
        "service_code": det.type, "description": det.description or "", "lon": det.lon, "lat": det.lat,
        "photo": det.evidence, "at": det.observed_at, "supports": 0, **fields,
    }  # fmt: skip


@dataclass(frozen=True)
class IntakeResult:
    incident_id: int
    created: bool
    duplicate_message: bool


class Intake:
    def __init__(self, cfg: CityOpsConfig, grid: Grid, sessions: sessionmaker, commands: Commands) -> None:
        """``commands`` assigns new incidents (built with the same sessions: dispatch.wiring)."""
        self.cfg, self.grid, self.sessions, self.commands = cfg, grid, sessions, commands

    def handle(self, det: Detection, *, report: dict | None = None) -> IntakeResult:
        """Store ``det`` once; ``report`` (a citizen's: the columns of :class:`CitizenReport` but the
        incident) is stored beside it, linked to the incident it opened or joined."""
        return self.handle_many([det], reports={det.id: report} if report else None)[0]

    def handle_many(
        self, dets: list[Detection], reports: dict[str, dict] | None = None
    ) -> list[IntakeResult]:
        """Several detections in one transaction: all stored, or none (the caller retries them).

        Replays are found with one query for the whole batch; the open-load per inspector is read
        once and kept up to date in memory; autoflush is off, each new or merged incident is flushed
        once. A batch that lost a race with another consumer is rolled back and run again.
        """
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._handle_many(dets, reports or {})
            except DBAPIError as exc:
                state = getattr(exc.orig, "sqlstate", None)
                if state not in RETRY_SQLSTATES or attempt == ATTEMPTS:
                    raise
                log.warning("intake batch of %d rolled back (%s); retrying", len(dets), exc.orig)
        raise AssertionError("unreachable")

    def _handle_many(self, dets: list[Detection], reports: dict[str, dict]) -> list[IntakeResult]:
        with self.sessions.begin() as s:
            self._lock_neighbourhoods(s, dets)  # before any read: what we read stays true until commit
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
                    if det.device_state == "clear":  # recorded on the open alarm; never opens one
                        if target is None:
                            log.info(
                                "device %s reported clear; no open %s to record it on",
                                det.device_id,
                                det.type,
                            )
                            out.append(IntakeResult(0, created=False, duplicate_message=False))
                            continue
                        self._record_clear(s, target, det)
                        s.add(
                            ProcessedDetection(detection_id=det.id, incident_id=target.id, at=det.observed_at)
                        )
                        seen[det.id] = target.id
                        out.append(IntakeResult(target.id, created=False, duplicate_message=False))
                        continue
                    created = target is None
                    if created:
                        target = self._create(s, det, load)
                    else:
                        self._merge(s, target, det)
                        s.flush()  # its new updated_at keeps the merge window open for the batch
                    s.add(ProcessedDetection(detection_id=det.id, incident_id=target.id, at=det.observed_at))
                    if det.id in reports:
                        s.add(
                            CitizenReport(
                                **reports[det.id], id=det.id, incident_id=target.id, merged=not created
                            )
                        )
                    seen[det.id] = target.id
                    out.append(IntakeResult(target.id, created=created, duplicate_message=False))
            return out

    # -- steps ------------------------------------------------------------------------------------
    def _lock_neighbourhoods(self, s: Session, dets: list[Detection]) -> None:
        """PostgreSQL: hold, until commit, the advisory locks of every cell the batch may merge in,
        taken in one sorted order (no deadlock between batches). SQLite: nothing to do."""
        if s.get_bind().dialect.name != "postgresql" or not dets:
            return
        rules = self.cfg.dispatch
        keys = batch_lock_keys(dets, rules.merge_radius_m, rules.merge_lock_cell_m)
        # unnest yields the array in order, and the aggregate calls the lock once per row in that order
        s.execute(
            text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k"),
            {"keys": keys},
        )

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
            late=[],
            extension_h=0.0,
            component=det.component,
        )
        s.add(inc)
        s.flush()  # assigns inc.id
        note = "outside the district grid" if not inc.cell else ""
        record_event(s, inc, "created", None, SYSTEM_ACTOR, det.observed_at, note=note, detection_id=det.id)
        self.commands.after_intake(s, inc, det.observed_at, load)
        s.flush()  # later detections of the batch may merge into it
        return inc

    def _record_clear(self, s: Session, inc: Incident, det: Detection) -> None:
        """A device said its alarm is over: an event on the incident (it stays open: staff close it)."""
        note = f"device {det.device_id} reported clear" + (
            f" (value {det.value:g})" if det.value is not None else ""
        )
        record_event(
            s, inc, "device_clear", inc.state, SYSTEM_ACTOR, det.observed_at, note=note, detection_id=det.id
        )
        s.flush()

    def _merge(self, s: Session, inc: Incident, det: Detection) -> None:
        inc.count += 1
        if det.evidence:
            inc.evidence = det.evidence
        record_event(s, inc, "merged", inc.state, SYSTEM_ACTOR, det.observed_at, detection_id=det.id)
