"""Everything that changes an incident after intake: transitions by role, assignment, merge, SLA
escalation and citizen rating. Each change bumps the version and writes one audit/outbox event in
the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityops.clock import Clock, utcnow
from cityops.config import CityOpsConfig
from dispatch.assignment import pick_inspector, supervisor_for
from dispatch.lifecycle import (
    ACTIONS,
    DESK,
    DISPATCHED,
    DUPLICATE,
    FINAL_STATES,
    HANDLED_STATES,
    INSPECTOR,
    OPEN_STATES,
    SYSTEM,
    IllegalTransition,
    check_transition,
)
from dispatch.outbox import record_event
from dispatch.sla import new_breaches, targets_for
from dispatch.store import CitizenReport, Incident


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    inspector_id: str | None = None


SYSTEM_ACTOR = Actor("system", SYSTEM)


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class Conflict(ValueError):
    """An action that is not legal in the incident's current state."""


@dataclass
class Extras:
    note: str = ""
    lon: float | None = None
    lat: float | None = None
    photos: Sequence[str] = field(default_factory=tuple)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_load(s: Session) -> dict[str, int]:
    rows = s.execute(
        select(Incident.assignee, func.count())
        .where(Incident.state.in_(OPEN_STATES), Incident.assignee.is_not(None))
        .group_by(Incident.assignee)
    ).all()
    return {a: n for a, n in rows}


class Commands:
    def __init__(self, cfg: CityOpsConfig, sessions: sessionmaker, clock: Clock = utcnow) -> None:
        self.cfg, self.sessions, self.clock = cfg, sessions, clock
        self.tz = ZoneInfo(cfg.timezone)
        self.roster_ids = {i.id for i in cfg.roster}

    # -- helpers ----------------------------------------------------------------------------------
    def _load(self, s: Session, incident_id: int) -> Incident:
        inc = s.get(Incident, incident_id, with_for_update=True)
        if inc is None:
            raise NotFound(f"incident {incident_id} does not exist")
        return inc

    @staticmethod
    def _check_actor(inc: Incident, actor: Actor, action_name: str) -> None:
        """May ``actor`` take this action on ``inc`` now: role, ownership, then the state machine."""
        action = ACTIONS[action_name]
        if actor.role not in action.roles:
            raise Forbidden(f"a {actor.role} may not {action_name} an incident")
        if action.own_only and actor.role == INSPECTOR and inc.assignee != actor.inspector_id:
            raise Forbidden(f"incident {inc.id} is not dispatched to you")
        try:
            check_transition(inc.state, action.to_state)
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from exc

    def auto_assign(
        self, s: Session, inc: Incident, at: datetime, load: dict[str, int] | None = None
    ) -> bool:
        """Dispatch ``inc`` to whoever is on duty for its cell; False when nobody covers it.
        ``load`` (open incidents per inspector) is read from the store when not given, and updated."""
        load = open_load(s) if load is None else load
        who = pick_inspector(self.cfg.roster, inc.cell, at.astimezone(self.tz).time(), load)
        if not who:
            return False
        load[who] = load.get(who, 0) + 1
        prev = inc.state
        check_transition(prev, DISPATCHED)
        inc.state, inc.assignee, inc.dispatched_at = DISPATCHED, who, at
        record_event(s, inc, "assigned", prev, SYSTEM_ACTOR, at, note=f"on duty for {inc.cell}")
        return True

    # -- commands ---------------------------------------------------------------------------------
    def act(self, incident_id: int, action_name: str, actor: Actor, extras: Extras | None = None) -> Incident:
        """accept / arrive / resolve / escalate / verify / close / reject by an allowed role."""
        if action_name not in ACTIONS or action_name in ("assign", "merge"):
            raise Conflict(f"unknown action {action_name!r}")
        extras = extras or Extras()
        action = ACTIONS[action_name]
        with self.sessions.begin() as s:
            inc = self._load(s, incident_id)
            self._check_actor(inc, actor, action_name)
            now = self.clock()
            prev, inc.state = inc.state, action.to_state
            if action.stamp:
                setattr(inc, action.stamp, now)
            if action_name == "escalate":
                inc.escalated_to = supervisor_for(self.cfg.roster, inc.cell, now.astimezone(self.tz).time())
            extra = {"lon": extras.lon, "lat": extras.lat, "photos": list(extras.photos)}
            record_event(s, inc, "transition", prev, actor, now, note=extras.note, extra=extra)
            return inc

    def assign(self, incident_id: int, assignee: str, actor: Actor, note: str = "") -> Incident:
        """Manual assign or reassign by the desk (also re-dispatches a resolved incident that failed verification)."""
        if assignee not in self.roster_ids:
            raise NotFound(f"no inspector {assignee!r} in the roster")
        with self.sessions.begin() as s:
            inc = self._load(s, incident_id)
            self._check_actor(inc, actor, "assign")
            now = self.clock()
            prev = inc.state
            inc.state, inc.assignee, inc.dispatched_at = DISPATCHED, assignee, now
            inc.accepted_at = inc.arrived_at = inc.resolved_at = None  # a new dispatch restarts the clocks
            inc.breaches = []
            record_event(s, inc, "assigned", prev, actor, now, note=note or f"assigned to {assignee}")
            return inc

    def merge(self, incident_id: int, into_id: int, actor: Actor, note: str = "") -> Incident:
        if incident_id == into_id:
            raise Conflict("an incident cannot be merged into itself")
        with self.sessions.begin() as s:
            inc = self._load(s, incident_id)
            target = self._load(s, into_id)
            self._check_actor(inc, actor, "merge")
            if target.state in FINAL_STATES:
                raise Conflict(f"incident {into_id} is {target.state}; merge into an open one")
            now = self.clock()
            prev = inc.state
            inc.state, inc.merged_into, inc.closed_at = DUPLICATE, into_id, now
            target.count += inc.count
            record_event(
                s,
                inc,
                "transition",
                prev,
                actor,
                now,
                note=note or f"duplicate of {into_id}",
                extra={"merged_into": into_id},
            )
            record_event(s, target, "merged", target.state, actor, now, note=f"absorbed {incident_id}")
            return inc

    def rate(self, request_id: str, secret: str, rating: int, comment: str = "") -> CitizenReport:
        """A citizen rates the handling of their own report (once, after it was handled), with the
        rating secret given at submission."""
        if not 1 <= rating <= 5:
            raise Conflict("rating must be 1 to 5")
        with self.sessions.begin() as s:
            report = s.get(CitizenReport, request_id, with_for_update=True)
            if report is None:
                raise NotFound(f"no citizen request {request_id!r}")
            if not hmac.compare_digest(report.secret_hash, token_hash(secret)):
                raise Forbidden("the rating secret does not match this request")
            inc = self._load(s, report.incident_id)
            if inc.state not in HANDLED_STATES:
                raise Conflict(f"only a handled request can be rated (this one is {inc.state})")
            if report.rating is not None:
                raise Conflict("this request has already been rated")
            now = self.clock()
            report.rating, report.rating_comment, report.rated_at = rating, comment, now
            citizen = Actor("citizen", "citizen")
            record_event(
                s,
                inc,
                "rated",
                inc.state,
                citizen,
                now,
                note=comment,
                extra={"rating": rating, "request": request_id},
            )
            return report

    def support(self, request_id: str) -> Incident:
        """A citizen adds their support to an open report instead of filing a duplicate: the incident
        counts one more reporter, and its audit trail says so."""
        with self.sessions.begin() as s:
            report = s.get(CitizenReport, request_id, with_for_update=True)
            if report is None:
                raise NotFound(f"no citizen request {request_id!r}")
            inc = self._load(s, report.incident_id)
            if inc.state not in OPEN_STATES:
                raise Conflict(f"this report is no longer open ({inc.state})")
            report.supports += 1
            inc.count += 1
            now = self.clock()
            # the stream's vocabulary has no "supported": one more citizen joined it, as a merge does
            record_event(s, inc, "merged", inc.state, Actor("citizen", "citizen"), now,
                         note="a citizen added their support", extra={"request": request_id, "support": True})  # fmt: skip
            return inc

    def sweep_sla(self) -> list[tuple[int, str]]:
        """Record newly breached SLA stages and escalate them to the supervisor (idempotent)."""
        now = self.clock()
        out: list[tuple[int, str]] = []
        with self.sessions.begin() as s:
            for inc in s.scalars(select(Incident).where(Incident.state.in_(OPEN_STATES))).all():
                stages = new_breaches(inc, now, targets_for(inc.type, self.cfg.sla))
                if not stages:
                    continue
                inc.breaches = [*(inc.breaches or []), *stages]
                inc.escalated_to = supervisor_for(self.cfg.roster, inc.cell, now.astimezone(self.tz).time())
                note = f"SLA breached: {', '.join(stages)}; escalated to {inc.escalated_to or 'the desk'}"
                record_event(
                    s, inc, "sla_breach", inc.state, SYSTEM_ACTOR, now, note=note, extra={"stages": stages}
                )
                out += [(inc.id, st) for st in stages]
        return out


__all__ = [
    "DESK",
    "Actor",
    "Commands",
    "Conflict",
    "Extras",
    "Forbidden",
    "NotFound",
    "SYSTEM_ACTOR",
]
