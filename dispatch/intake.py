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
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, and_, bindparam, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cityops.config import CityOpsConfig
from dispatch.commands import SYSTEM_ACTOR, Commands, open_load, token_hash
from dispatch.lifecycle import NEW, OPEN_STATES
from dispatch.merge_lock import batch_lock_keys
from dispatch.outbox import defer_events, record_event, write_deferred_events
from dispatch.store import CitizenReport, Incident, ProcessedDetection, UTCDateTime
from gis.grid import OUTSIDE, Grid
from gis.projection import distance_m
from streams.schemas import Detection

log = logging.getLogger(__name__)

# PostgreSQL errors after which the whole batch is simply tried again: unique_violation (another
# consumer stored the same detection id first: on retry it is a replay), deadlock, serialization.
RETRY_SQLSTATES = {"23505", "40P01", "40001"}
ATTEMPTS = 3
# squares OR-ed in one merge query (SQLite's parser nests an OR chain: keep it shallow)
SQUARES_PER_QUERY = 100


def citizen_report(det: Detection, secret: str, *, token: str | None = None, **fields) -> dict:
    """The :class:`CitizenReport` columns of a citizen's ``det`` (for :meth:`Intake.handle`): its own
    description, photo and position, the spec's ``token`` and the hash of the rating ``secret``;
    ``fields``: address, media_link, photo_public, attributes and the private contact fields."""
    return {
        "token": token or secrets.token_urlsafe(12), "secret_hash": token_hash(secret),
        "service_code": det.type, "description": det.description or "", "lon": det.lon, "lat": det.lat,
        "photo": det.evidence, "at": det.observed_at, "supports": 0, **fields,
    }  # fmt: skip


def _id_of(target: Incident | int | None) -> int:
    """An incident's id (after the batch's flush), a replay's stored id, or 0 (a clear with nothing
    to record it on)."""
    if target is None:
        return 0
    return target if isinstance(target, int) else target.id


def _padded(n: int) -> int:
    """The size of the query for ``n`` squares: a power of two (at most SQUARES_PER_QUERY), so a few
    statements are built once and reused."""
    return min(1 << max(n - 1, 0).bit_length(), SQUARES_PER_QUERY)


@cache
def _near_query(n: int) -> Select:
    """Open incidents in any of ``n`` squares, each of one type and changed since its own time;
    built once per size with bound parameters (building a hundred-term statement costs more than
    running it)."""
    squares = [
        and_(
            Incident.type == bindparam(f"t{k}"),
            Incident.lat.between(bindparam(f"lat_lo{k}"), bindparam(f"lat_hi{k}")),
            Incident.lon.between(bindparam(f"lon_lo{k}"), bindparam(f"lon_hi{k}")),
            Incident.updated_at >= bindparam(f"s{k}", type_=UTCDateTime()),
        )
        for k in range(n)
    ]
    return select(Incident).where(Incident.state.in_(sorted(OPEN_STATES)), or_(*squares))


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
        """The batch in one transaction and a fixed number of statements, whatever its size: the
        replays and every open incident the batch may merge into are read once (after the locks), the
        merge decisions are taken in memory against them and the incidents the batch opens, then one
        flush writes the new incidents and the merged ones, one executemany their events (kept aside
        until the new incidents have ids) and one the idempotency keys. Same decisions, in the same
        order, as one detection at a time (tests/test_intake_batch.py)."""
        with self.sessions.begin() as s:
            self._lock_neighbourhoods(s, dets)  # before any read: what we read stays true until commit
            ids = list({d.id for d in dets})
            seen: dict[str, int | Incident] = dict(
                s.execute(
                    select(ProcessedDetection.detection_id, ProcessedDetection.incident_id).where(
                        ProcessedDetection.detection_id.in_(ids)
                    )
                ).all()
            )
            fresh = [d for d in dets if d.id not in seen]
            pool = self._open_near(s, fresh)
            load: dict[str, int] | None = None  # read when a first new incident is assigned
            defer_events(s)  # written below in one statement, once the new incidents have ids
            steps: list[tuple[Detection, Incident | int | None, bool, bool]] = []  # det, target, created, dup
            stored: list[tuple[Detection, Incident, bool]] = []
            with s.no_autoflush:
                for det in dets:
                    if det.id in seen:
                        steps.append((det, seen[det.id], False, True))
                        continue
                    target = self._pick(pool, det)
                    if det.device_state == "clear":  # recorded on the open alarm; never opens one
                        if target is None:
                            log.info(
                                "device %s reported clear; no open %s to record it on",
                                det.device_id,
                                det.type,
                            )
                            steps.append((det, None, False, False))
                            continue
                        self._record_clear(s, target, det)
                        created = False
                    else:
                        created = target is None
                        if created:
                            load = open_load(s) if load is None else load  # nothing new is pending yet
                            target = self._create(s, det, load, flush=False)
                            pool.setdefault(det.type, []).append(target)
                        else:
                            self._merge(s, target, det)
                    seen[det.id] = target
                    stored.append((det, target, created))
                    steps.append((det, target, created, False))
                s.flush()  # the new incidents (their ids) and the merged ones
                write_deferred_events(s)
                for det, inc, created in stored:
                    s.add(ProcessedDetection(detection_id=det.id, incident_id=inc.id, at=det.observed_at))
                    if det.id in reports:
                        s.add(
                            CitizenReport(
                                **reports[det.id], id=det.id, incident_id=inc.id, merged=not created
                            )
                        )
            return [
                IntakeResult(_id_of(target), created=created, duplicate_message=dup)
                for _det, target, created, dup in steps
            ]

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

    def _open_near(self, s: Session, dets: list[Detection]) -> dict[str, list[Incident]]:
        """Every open incident that one of ``dets`` may merge into, by type, most recently changed
        first: one query (a square per distinct place and type, OR-ed; in chunks for long batches)."""
        window = timedelta(seconds=self.cfg.dispatch.merge_window_s)
        squares: dict[tuple[str, float, float], datetime] = {}
        for det in dets:
            key, since = (det.type, det.lon, det.lat), det.observed_at - window
            squares[key] = min(squares.get(key, since), since)
        found: dict[int, Incident] = {}
        items = list(squares.items())
        for i in range(0, len(items), SQUARES_PER_QUERY):
            chunk = items[i : i + SQUARES_PER_QUERY]
            size = _padded(len(chunk))
            chunk += chunk[-1:] * (size - len(chunk))  # a repeated square changes nothing
            params = {}
            for k, ((type_, lon, lat), since) in enumerate(chunk):
                dlat, dlon = self._reach_at(lat)
                params.update({f"t{k}": type_, f"s{k}": since, f"lat_lo{k}": lat - dlat,
                               f"lat_hi{k}": lat + dlat, f"lon_lo{k}": lon - dlon, f"lon_hi{k}": lon + dlon})  # fmt: skip
            for inc in s.scalars(_near_query(size), params):
                found[inc.id] = inc
        pool: dict[str, list[Incident]] = {}
        for inc in sorted(found.values(), key=lambda i: (i.updated_at, i.id), reverse=True):
            pool.setdefault(inc.type, []).append(inc)
        return pool

    def _reach_at(self, lat: float) -> tuple[float, float]:
        """Half the sides (degrees of latitude, longitude) of the square a merge partner lies in."""
        dlat = self.cfg.dispatch.merge_radius_m / 111_000
        return dlat, dlat / max(math.cos(math.radians(lat)), 0.01)

    def _pick(self, pool: dict[str, list[Incident]], det: Detection) -> Incident | None:
        """The open incident ``det`` merges into: same type, changed within the merge window, within
        the merge radius; the most recently changed (the first in ``pool`` order among equals)."""
        rules = self.cfg.dispatch
        since = det.observed_at - timedelta(seconds=rules.merge_window_s)
        dlat, dlon = self._reach_at(det.lat)
        best = None
        for inc in pool.get(det.type, ()):
            if inc.state not in OPEN_STATES or inc.updated_at < since:
                continue
            if abs(inc.lat - det.lat) > dlat or abs(inc.lon - det.lon) > dlon:
                continue
            if distance_m(inc.lon, inc.lat, det.lon, det.lat) > rules.merge_radius_m:
                continue
            if best is None or inc.updated_at > best.updated_at:
                best = inc
        return best

    def _create(self, s: Session, det: Detection, load: dict[str, int], *, flush: bool = True) -> Incident:
        """A new incident for ``det``, assigned; ``flush=False`` (a batch, its events deferred) leaves
        it to the batch's one flush (its id is known only then)."""
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
            clip=det.clip,
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
        if flush:
            s.flush()  # assigns inc.id, which its events carry
        note = "outside the district grid" if not inc.cell else ""
        record_event(s, inc, "created", None, SYSTEM_ACTOR, det.observed_at, note=note, detection_id=det.id)
        self.commands.after_intake(s, inc, det.observed_at, load)
        if flush:
            s.flush()
        return inc

    def _record_clear(self, s: Session, inc: Incident, det: Detection) -> None:
        """A device said its alarm is over: an event on the incident (it stays open: staff close it)."""
        note = f"device {det.device_id} reported clear" + (
            f" (value {det.value:g})" if det.value is not None else ""
        )
        record_event(
            s, inc, "device_clear", inc.state, SYSTEM_ACTOR, det.observed_at, note=note, detection_id=det.id
        )

    def _merge(self, s: Session, inc: Incident, det: Detection) -> None:
        inc.count += 1
        if det.evidence:
            inc.evidence = det.evidence
        if det.clip:
            inc.clip = det.clip
        record_event(s, inc, "merged", inc.state, SYSTEM_ACTOR, det.observed_at, detection_id=det.id)
