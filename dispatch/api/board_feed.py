"""The board's starting point: the open incidents and those changed lately, each as its latest
incident event (the stream's own message, ``streams.schemas.IncidentEvent``) with the first time it
reached each state, so a board that starts (or restarts) after older events fell off the capped
incidents stream still shows all open work. The board then follows the stream from the position it
read *before* asking (replayed events change nothing: an event's version is not newer).

Only the board may ask: it sends :data:`BOARD_HEADER` with a key derived from the secret the API and
the board share (:func:`dispatch.api.addresses.board_key`, as the proxy key is). Pages of ``limit`` rows, most recently
changed first, keyset-paged like the incident lists (``X-Next-Cursor`` / ``Link``)."""

from __future__ import annotations

import hmac
from datetime import timedelta

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from sqlalchemy import or_, select

from dispatch.api.addresses import BOARD_HEADER
from dispatch.api.deps import ApiContext, ctx
from dispatch.api.paging import after, link_next
from dispatch.lifecycle import OPEN_STATES
from dispatch.outbox import to_message
from dispatch.store import Incident, IncidentEventRow

router = APIRouter(prefix="/api/v1")


def board_only(
    c: ApiContext = Depends(ctx), key: str | None = Header(None, alias=BOARD_HEADER, max_length=128)
) -> None:
    if not key or not hmac.compare_digest(key.encode(), c.board_key.encode()):
        raise HTTPException(403, f"the board snapshot is for the board: send its key in {BOARD_HEADER}")


@router.get("/board/snapshot", tags=["board"], response_model=list[dict])
def board_snapshot(
    request: Request,
    response: Response,
    recent_s: float = Query(86_400, ge=0, le=90 * 86_400, description="also incidents changed this long ago"),
    limit: int = Query(500, ge=1, le=2000),
    cursor: str | None = Query(None, max_length=200, description="X-Next-Cursor of the previous page"),
    _board: None = Depends(board_only),
    c: ApiContext = Depends(ctx),
):
    """Open incidents and those changed in the last ``recent_s`` seconds: ``{"event": <the latest
    incident event>, "stamps": {state: first time in it}}``, most recently changed first."""
    since = c.commands.clock() - timedelta(seconds=recent_s)
    q = select(Incident).where(or_(Incident.state.in_(OPEN_STATES), Incident.updated_at >= since))
    if (cond := after(cursor, Incident.updated_at, Incident.id, descending=True)) is not None:
        q = q.where(cond)
    with c.readers() as s:
        rows = s.scalars(q.order_by(Incident.updated_at.desc(), Incident.id.desc()).limit(limit)).all()
        events = (
            s.scalars(
                select(IncidentEventRow)
                .where(IncidentEventRow.incident_id.in_([i.id for i in rows]))
                .order_by(IncidentEventRow.incident_id, IncidentEventRow.version)
            ).all()
            if rows
            else []
        )
    latest: dict[int, IncidentEventRow] = {}
    stamps: dict[int, dict[str, str]] = {}
    for ev in events:
        latest[ev.incident_id] = ev
        stamps.setdefault(ev.incident_id, {}).setdefault(ev.to_state, ev.at.isoformat())
    link_next(request, response, rows, limit, lambda i: i.updated_at)
    return [
        {"event": to_message(latest[i.id], i).model_dump(mode="json"), "stamps": stamps[i.id]}
        for i in rows
        if i.id in latest
    ]
