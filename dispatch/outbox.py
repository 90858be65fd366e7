"""The transactional outbox: every change to an incident writes one audit/outbox row in the same
transaction (:func:`record_event`), and those rows are published to the incidents stream.

Events are marked published only after XADD succeeded; a crash in between re-publishes them, and
readers fold by ``(incident_id, version)``, so a repeat changes nothing. Several flushers (dispatch
processes, API workers) on PostgreSQL lock the rows they publish and skip those another one holds,
so they never publish the same event twice; on SQLite the writer transaction serialises them.
While Redis cannot take them (away, restarting, disk or memory full) they wait in the outbox:
:func:`flush_or_wait`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import redis
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from dispatch.store import Incident, IncidentEventRow
from streams.bus import publish_many
from streams.errors import Outage, is_transient
from streams.schemas import INCIDENTS, IncidentEvent, MalformedMessage, decode

if TYPE_CHECKING:
    from dispatch.commands import Actor

log = logging.getLogger(__name__)


def record_event(
    s: Session,
    inc: Incident,
    action: str,
    from_state: str | None,
    actor: Actor,
    at: datetime,
    *,
    note: str = "",
    detection_id: str | None = None,
    extra: dict | None = None,
) -> None:
    """Bump the version and append the audit/outbox row for the change just made to ``inc``.

    In a session that defers events (:func:`defer_events`: intake's batches) the row is kept aside
    and written with the batch's others by :func:`write_deferred_events`."""
    inc.version = (inc.version or 0) + 1
    inc.updated_at = max(inc.updated_at, at) if inc.updated_at else at
    row = {
        "version": inc.version,
        "action": action,
        "from_state": from_state,
        "to_state": inc.state,
        "actor": actor.name,
        "note": note,
        "detection_id": detection_id,
        "extra": {
            "count": inc.count,
            "evidence": inc.evidence,
            "clip": inc.clip,
            "assignee": inc.assignee,
            "breaches": list(inc.breaches or []),
            "role": actor.role,
            **(extra or {}),
        },
        "at": at,
        "published": False,
    }
    deferred = s.info.get(_DEFERRED)
    if deferred is not None:
        deferred.append((inc, row))
    else:
        s.add(IncidentEventRow(incident_id=inc.id, **row))


_DEFERRED = "cityops.deferred_events"


def defer_events(s: Session) -> None:
    """From now on :func:`record_event` in ``s`` keeps the rows aside (their incidents may not have
    an id yet) until :func:`write_deferred_events`."""
    s.info[_DEFERRED] = []


def write_deferred_events(s: Session) -> int:
    """Insert the rows kept aside, in the order they were recorded, with one executemany (the
    incidents must be flushed: their ids are read now); ``s`` records events directly again."""
    deferred = s.info.pop(_DEFERRED, None) or []
    if deferred:
        # the table's (Core) insert: one executemany, not the ORM's groups by which values are None
        rows = [{"incident_id": inc.id, **row} for inc, row in deferred]
        s.execute(insert(IncidentEventRow.__table__), rows)
    return len(deferred)


def to_message(ev: IncidentEventRow, inc: Incident) -> IncidentEvent:
    """The message of event ``ev`` of ``inc`` (or of one :data:`_UNPUBLISHED` row given twice)."""
    return IncidentEvent(
        incident_id=inc.id,
        version=ev.version,
        action=ev.action,
        state=ev.to_state,
        type=inc.type,
        cell=inc.cell,
        lon=inc.lon,
        lat=inc.lat,
        assignee=ev.extra.get("assignee"),
        detection_id=ev.detection_id,
        count=int(ev.extra.get("count", inc.count)),
        evidence=ev.extra.get("evidence", inc.evidence),
        clip=ev.extra.get("clip", inc.clip),
        camera_id=inc.camera_id,
        zone_id=inc.zone_id,
        source=inc.source,
        breaches=ev.extra.get("breaches", []),
        escalated_to=inc.escalated_to,
        actor=ev.actor,
        note=ev.note,
        at=ev.at,
        opened_at=inc.opened_at,
    )


_EV, _INC = IncidentEventRow.__table__.c, Incident.__table__.c
# the oldest unpublished events with what their messages say of their incidents, as plain rows (no
# ORM objects: a flush after every intake batch is on the hot path); on PostgreSQL rows another
# flusher holds are skipped. Built once: a statement is cheaper to reuse than to build.
_UNPUBLISHED = (
    select(  # a row serves as both arguments of to_message: its id is the incident's
        _EV.id.label("event_id"),
        _EV.version,
        _EV.action,
        _EV.to_state,
        _EV.detection_id,
        _EV.extra,
        _EV.actor,
        _EV.note,
        _EV.at,
        _INC.id,
        _INC.type,
        _INC.cell,
        _INC.lon,
        _INC.lat,
        _INC.camera_id,
        _INC.zone_id,
        _INC.source,
        _INC.escalated_to,
        _INC.opened_at,
        _INC.count,
        _INC.evidence,
        _INC.clip,
    )
    .join_from(IncidentEventRow.__table__, Incident.__table__, _INC.id == _EV.incident_id)
    .where(_EV.published.is_(False))
    .order_by(_EV.id)
    .with_for_update(of=IncidentEventRow.__table__, skip_locked=True)
)


def flush_outbox(sessions: sessionmaker, r: redis.Redis, *, maxlen: int = 100_000, batch: int = 500) -> int:
    """Publish the unpublished events, ``batch`` at a time (one transaction each: read, XADD, mark),
    until a read finds fewer than ``batch``."""
    total = 0
    while True:
        with sessions() as s:
            rows = s.execute(_UNPUBLISHED.limit(batch)).all()
            if not rows:
                return total
            publish_many(r, INCIDENTS, [to_message(row, row) for row in rows], maxlen=maxlen)
            s.execute(
                update(IncidentEventRow.__table__)
                .where(_EV.id.in_([row.event_id for row in rows]))
                .values(published=True)
            )
            s.commit()
            total += len(rows)
            if len(rows) < batch:  # all there was (or all not held by another flusher)
                return total


def flush_or_wait(sessions: sessionmaker, r: redis.Redis, outage: Outage, *, maxlen: int = 100_000) -> int:
    """:func:`flush_outbox`; a transient Redis error (see :func:`streams.errors.is_transient`) leaves
    the events in the outbox for the next flush and is logged once per outage. Others raise."""
    try:
        n = flush_outbox(sessions, r, maxlen=maxlen)
    except redis.RedisError as exc:
        if not is_transient(exc):
            raise
        outage.failed(exc)
        return 0
    outage.ok()
    return n


def republish_lost(sessions: sessionmaker, r: redis.Redis, *, rows: int = 2000) -> int:
    """After Redis restarted: put back into the outbox the events it had accepted but never wrote to
    disk (a crash with the disk full, or between two fsyncs of its append-only file).

    The newest ``rows`` events marked published are looked for among the stream's newest entries
    (three times as many, for repeats and for what was published since); those missing are
    published again (readers fold by version, so a repeat changes nothing)."""
    have: set[tuple[int, int]] = set()
    for _eid, f in r.xrevrange(INCIDENTS, count=3 * rows):
        try:
            m = decode(f)
        except MalformedMessage:
            continue
        if isinstance(m, IncidentEvent):
            have.add((m.incident_id, m.version))
    with sessions() as s:
        recent = s.execute(
            select(IncidentEventRow.id, IncidentEventRow.incident_id, IncidentEventRow.version)
            .where(IncidentEventRow.published.is_(True))
            .order_by(IncidentEventRow.id.desc())
            .limit(rows)
        ).all()
        lost = [i for i, inc, ver in recent if (inc, ver) not in have]
        if lost:
            s.execute(update(IncidentEventRow).where(IncidentEventRow.id.in_(lost)).values(published=False))
            s.commit()
            log.warning("%d incident event(s) were lost by Redis; publishing them again", len(lost))
    return len(lost)
