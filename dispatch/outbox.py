"""Publish stored incident events to the incidents stream (transactional outbox).

Events are marked published only after XADD succeeded; a crash in between re-publishes them, and
readers fold by ``(incident_id, version)``, so a repeat changes nothing. Several flushers (dispatch
processes, API workers) on PostgreSQL lock the rows they publish and skip those another one holds,
so they never publish the same event twice; on SQLite the writer transaction serialises them.
"""

from __future__ import annotations

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from dispatch.store import Incident, IncidentEventRow
from streams.bus import publish_many
from streams.schemas import INCIDENTS, IncidentEvent


def to_message(ev: IncidentEventRow, inc: Incident) -> IncidentEvent:
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
        camera_id=inc.camera_id,
        zone_id=inc.zone_id,
        breaches=ev.extra.get("breaches", []),
        escalated_to=inc.escalated_to,
        actor=ev.actor,
        note=ev.note,
        at=ev.at,
        opened_at=inc.opened_at,
    )


def flush_outbox(sessions: sessionmaker, r: redis.Redis, *, maxlen: int = 100_000, batch: int = 500) -> int:
    total = 0
    while True:
        with sessions() as s:
            rows = s.execute(
                select(IncidentEventRow, Incident)
                .join(Incident, Incident.id == IncidentEventRow.incident_id)
                .where(IncidentEventRow.published.is_(False))
                .order_by(IncidentEventRow.id)
                .limit(batch)
                .with_for_update(of=IncidentEventRow, skip_locked=True)
            ).all()
            if not rows:
                return total
            publish_many(r, INCIDENTS, [to_message(ev, inc) for ev, inc in rows], maxlen=maxlen)
            s.execute(
                update(IncidentEventRow)
                .where(IncidentEventRow.id.in_([ev.id for ev, _ in rows]))
                .values(published=True)
            )
            s.commit()
            total += len(rows)
