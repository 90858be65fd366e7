"""Everything that changes an incident after intake: the seven steps' actions by role (核实, 立案 /
不予立案, 派遣 to a department or an inspector, 回退, 延期, 处置反馈, 核查 / 返工, 结案), merge, SLA and
step-clock escalation and citizen rating. Each change bumps the version and writes one audit/outbox
event in the same transaction; the event names the action and its stage in zh-CN and English.
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
    CHECKING,
    DEPARTMENT,
    DESK,
    DISPATCHED,
    DUPLICATE,
    FILED,
    FINAL_STATES,
    HANDLED_STATES,
    INSPECTOR,
    NEW,
    OPEN_STATES,
    RESOLVED,
    RETURNED,
    STAGE_OF_STATE,
    SYSTEM,
    Action,
    IllegalTransition,
    Own,
    Stage,
    check_action,
    check_transition,
)
from dispatch.outbox import record_event
from dispatch.sla import new_breaches, targets_for
from dispatch.steps import calendar_for, route, stage_clock
from dispatch.store import CitizenReport, Incident
from gis.components import Registry


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


class Invalid(ValueError):
    """An action without what it needs (a reason, photos, the hours of an extension)."""


@dataclass
class Extras:
    note: str = ""
    lon: float | None = None
    lat: float | None = None
    photos: Sequence[str] = field(default_factory=tuple)
    hours: float | None = None  # an extension request: how many more hours


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
        self.department_ids = {d.id for d in cfg.departments}
        self.staff_department = {m.id: d.id for d in cfg.departments for m in d.staff}
        self.calendar = calendar_for(cfg)
        self.components = Registry(cfg.data)

    # -- helpers ----------------------------------------------------------------------------------
    def _load(self, s: Session, incident_id: int) -> Incident:
        inc = s.get(Incident, incident_id, with_for_update=True)
        if inc is None:
            raise NotFound(f"incident {incident_id} does not exist")
        return inc

    def _check_actor(self, inc: Incident, actor: Actor, action_name: str) -> None:
        """May ``actor`` take this action on ``inc`` now: role, ownership, then the state machine."""
        action = ACTIONS[action_name]
        if actor.role not in action.roles:
            raise Forbidden(f"a {actor.role} may not {action_name} an incident")
        if action.own_only and not self._owns(inc, actor, action):
            raise Forbidden(f"incident {inc.id} is not dispatched to you")
        try:
            check_action(inc.state, action)
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from exc

    def department_of(self, actor: Actor) -> str | None:
        return self.staff_department.get(actor.inspector_id or "") if actor.role == DEPARTMENT else None

    def _owns(self, inc: Incident, actor: Actor, action: Action) -> bool:
        if actor.role == INSPECTOR:
            if action.own is Own.CELL and inc.state == RESOLVED and not inc.department:
                return False  # an inspector does not check their own handling: the desk does
            mine = inc.inspector if action.own is Own.CELL else inc.assignee
            return mine is not None and mine == actor.inspector_id
        if actor.role == DEPARTMENT:
            dept = self.department_of(actor)
            return dept is not None and inc.department == dept
        return True  # the desk and the system act on every case

    def can_see(self, inc: Incident, actor: Actor) -> bool:
        """Field accounts see their own cases only: dispatched to them, or their cell's to check."""
        if actor.role == INSPECTOR:
            return actor.inspector_id is not None and actor.inspector_id in (inc.assignee, inc.inspector)
        if actor.role == DEPARTMENT:
            dept = self.department_of(actor)
            return dept is not None and inc.department == dept
        return True

    def actions_for(self, inc: Incident, actor: Actor) -> list[str]:
        """What ``actor`` may do to ``inc`` now (role, ownership and state): the pages' buttons."""
        out = []
        for a in ACTIONS.values():
            if actor.role not in a.roles or not a.allowed_from(inc.state):
                continue
            if a.own_only and not self._owns(inc, actor, a):
                continue
            if a.name in ("approve_extension", "refuse_extension") and not inc.extension_request:
                continue
            out.append(a.name)
        return out

    def step_clock(self, inc: Incident):
        """The step clock ``inc`` runs on now (:func:`dispatch.steps.stage_clock`), or None."""
        return stage_clock(inc, self.cfg.workflow.limits, self.calendar)

    def _leave_stage(self, inc: Incident, now: datetime) -> dict:
        """What the audit trail says of the stage ``inc`` leaves: its name and whether it was late."""
        clock = self.step_clock(inc)
        if clock is None:
            return {}
        return {"stage": clock.stage.value, "stage_zh": clock.stage.zh, "stage_en": clock.stage.en,
                "due": clock.due.isoformat(), "late": now > clock.due}  # fmt: skip

    def _enter_state(self, inc: Incident, state: str, now: datetime, *, restart: bool = False) -> None:
        """Move ``inc`` to ``state``; the step clock restarts when the stage changes (or ``restart``)."""
        before = STAGE_OF_STATE.get(inc.state)
        inc.state = state
        if restart or STAGE_OF_STATE.get(state) != before:
            inc.stage_at = now if state in STAGE_OF_STATE else None

    def _cell_inspector(self, inc: Incident, at: datetime) -> str | None:
        return pick_inspector(self.cfg.roster, inc.cell, at.astimezone(self.tz).time(), {}, role="inspector")

    def auto_assign(
        self, s: Session, inc: Incident, at: datetime, load: dict[str, int] | None = None
    ) -> bool:
        """Dispatch ``inc`` (派遣): to the department that owns its type in its place, else to whoever
        is on duty for its cell; False when nobody covers it. ``load`` (open incidents per inspector)
        is read from the store when not given, and updated."""
        dept = self._component_owner(inc) or (
            route(self.cfg.departments, inc.type, inc.cell) if self.cfg.departments else None
        )
        if dept:
            self._dispatch(s, inc, dept, SYSTEM_ACTOR, at, note=f"owner of {inc.type} here")
            return True
        load = open_load(s) if load is None else load
        who = pick_inspector(self.cfg.roster, inc.cell, at.astimezone(self.tz).time(), load)
        if not who:
            return False
        load[who] = load.get(who, 0) + 1
        self._dispatch(s, inc, who, SYSTEM_ACTOR, at, note=f"on duty for {inc.cell}")
        return True

    def _component_owner(self, inc: Incident) -> str | None:
        """A component's problem goes to the department that owns the component (when configured)."""
        comp = self.components.get(inc.component) if inc.component else None
        return comp.owner if comp is not None and comp.owner in self.department_ids else None

    def _dispatch(self, s: Session, inc: Incident, to: str, actor: Actor, at: datetime, note: str) -> None:
        """派遣 ``inc`` to a department or an inspector (by id), restarting the handling clocks."""
        prev = inc.state
        check_transition(prev, DISPATCHED)
        left = self._leave_stage(inc, at)
        if prev == NEW and inc.filed_at is None:
            inc.filed_at = at  # dispatching a new case files it (立案) at the same time
        inc.department = to if to in self.department_ids else None
        inc.assignee, inc.dispatched_at = to, at
        inc.inspector = inc.inspector or (to if to in self.roster_ids else self._cell_inspector(inc, at))
        inc.extension_h, inc.extension_request = 0.0, None
        self._enter_state(inc, DISPATCHED, at, restart=True)
        record_event(s, inc, "assigned", prev, actor, at, note=note,
                     extra={**left, **self._terms("assign"), "department": inc.department})  # fmt: skip

    @staticmethod
    def _terms(action_name: str) -> dict:
        a = ACTIONS[action_name]
        return {"act": a.name, "term_zh": a.zh, "term_en": a.en, "step": a.step.value, "step_zh": a.step.zh}

    def after_intake(self, s: Session, inc: Incident, at: datetime, load: dict[str, int]) -> None:
        """What happens to a new report (信息收集): a citizen's is checked on site first (核实) when the
        workflow says so; sources the centre files by hand wait for it (立案); the rest are filed and
        dispatched at once."""
        wf = self.cfg.workflow
        inc.stage_at = at
        if inc.source == "citizen" and wf.check_citizen_reports:
            who = self._cell_inspector(inc, at)
            if who:
                inc.inspector = who
                self._enter_state(inc, CHECKING, at)
                record_event(s, inc, "transition", NEW, SYSTEM_ACTOR, at, note=f"check on site: {who}",
                             extra=self._terms("request_check"))  # fmt: skip
                return
        if inc.source in wf.file_by_centre:
            inc.inspector = self._cell_inspector(inc, at)
            return
        self.auto_assign(s, inc, at, load)

    # -- commands ---------------------------------------------------------------------------------
    def act(self, incident_id: int, action_name: str, actor: Actor, extras: Extras | None = None) -> Incident:
        """Any action of :data:`dispatch.lifecycle.ACTIONS` but assign and merge, by an allowed role."""
        if action_name not in ACTIONS or action_name in ("assign", "merge"):
            raise Conflict(f"unknown action {action_name!r}")
        extras = extras or Extras()
        action = ACTIONS[action_name]
        with self.sessions.begin() as s:
            inc = self._load(s, incident_id)
            self._check_actor(inc, actor, action_name)
            self._check_extras(action, extras)
            now = self.clock()
            prev = inc.state
            extra = {"lon": extras.lon, "lat": extras.lat, "photos": list(extras.photos),
                     **self._terms(action_name)}  # fmt: skip
            if action.to_state is not None and (
                STAGE_OF_STATE.get(action.to_state) != STAGE_OF_STATE.get(inc.state)
                or action_name == "rework"
            ):
                extra.update(self._leave_stage(inc, now))
            self._apply(s, inc, action, actor, extras, now, extra)
            if action.stamp:
                setattr(inc, action.stamp, now)
            record_event(s, inc, "transition", prev, actor, now, note=extras.note, extra=extra)
            if action_name == "file" and self.cfg.workflow.auto_dispatch:
                self.auto_assign(s, inc, now)
            return inc

    @staticmethod
    def _check_extras(action: Action, extras: Extras) -> None:
        if action.reason and not extras.note.strip():
            raise Invalid(f"{action.name} ({action.zh}) needs a reason: say why in the note")
        if action.photos and not extras.photos:
            raise Invalid(f"{action.name} ({action.zh}) needs at least one photo")
        if action.name == "request_extension" and not (extras.hours and extras.hours > 0):
            raise Invalid("an extension request needs the hours asked for (hours > 0)")

    def _apply(self, s: Session, inc: Incident, action: Action, actor: Actor, extras: Extras,
               now: datetime, extra: dict) -> None:  # fmt: skip
        """The state change of ``action`` and what it does besides."""
        name = action.name
        if name == "request_extension":
            if inc.extension_request:
                raise Conflict("an extension request is waiting for the centre already")
            inc.extension_request = {"hours": float(extras.hours), "reason": extras.note, "by": actor.name,
                                     "at": now.isoformat()}  # fmt: skip
            extra["hours"] = float(extras.hours)
            return
        if name in ("approve_extension", "refuse_extension"):
            req = inc.extension_request
            if not req:
                raise Conflict("there is no extension request to answer")
            if name == "approve_extension":
                inc.extension_h = (inc.extension_h or 0.0) + float(req["hours"])
            inc.extension_request = None
            extra.update(hours=float(req["hours"]), requested_by=req.get("by"))
            return
        if name == "return":
            extra["department"] = inc.department
            inc.assignee = inc.department = None
            inc.extension_h, inc.extension_request = 0.0, None
        if name == "rework":  # back to the same handler, its handling clocks restarted
            inc.dispatched_at = now
            inc.accepted_at = inc.arrived_at = inc.resolved_at = None
            inc.extension_h, inc.extension_request = 0.0, None
            self._enter_state(inc, DISPATCHED, now, restart=True)
            return
        if name == "escalate":
            inc.escalated_to = supervisor_for(self.cfg.roster, inc.cell, now.astimezone(self.tz).time())
        self._enter_state(inc, action.to_state, now)

    def assign(self, incident_id: int, assignee: str, actor: Actor, note: str = "") -> Incident:
        """派遣 by hand: to a department or an inspector in the roster (also re-dispatches a returned
        case, or a resolved one that failed verification)."""
        if assignee not in self.roster_ids and assignee not in self.department_ids:
            raise NotFound(f"no inspector or department {assignee!r} in the config")
        with self.sessions.begin() as s:
            inc = self._load(s, incident_id)
            self._check_actor(inc, actor, "assign")
            now = self.clock()
            inc.accepted_at = inc.arrived_at = inc.resolved_at = None  # a new dispatch restarts the clocks
            inc.breaches = []
            self._dispatch(s, inc, assignee, actor, now, note=note or f"assigned to {assignee}")
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

    def _inspector_clocks(self, inc: Incident) -> bool:
        """Whether the inspector's accept/arrive/resolve clocks run for ``inc``: not while a department
        handles it, nor while it waits for the centre's or the inspector's step (their own clocks)."""
        if inc.department or inc.state in (CHECKING, FILED, RETURNED):
            return False
        return not (inc.state == NEW and (inc.source in self.cfg.workflow.file_by_centre or inc.checked_at))

    def sweep_sla(self) -> list[tuple[int, str]]:
        """Record newly breached SLA stages and step clocks and escalate them to the supervisor
        (idempotent). The inspector's accept/arrive/resolve clocks run while an inspector handles a
        case; the step clocks (:class:`~dispatch.lifecycle.Stage`) for every other stage."""
        now = self.clock()
        out: list[tuple[int, str]] = []
        with self.sessions.begin() as s:
            for inc in s.scalars(select(Incident).where(Incident.state.not_in(FINAL_STATES))).all():
                stages = (
                    new_breaches(inc, now, targets_for(inc.type, self.cfg.sla))
                    if self._inspector_clocks(inc)
                    else []
                )
                clock = self.step_clock(inc)
                steps = []
                if (
                    clock is not None
                    and now > clock.due
                    and clock.stage.value not in (inc.late or [])
                    and not (clock.stage is Stage.HANDLE and not inc.department)  # the SLA above covers it
                ):
                    steps = [clock.stage.value]
                    inc.late = [*(inc.late or []), *steps]
                if not stages and not steps:
                    continue
                if stages:
                    inc.breaches = [*(inc.breaches or []), *stages]
                inc.escalated_to = supervisor_for(self.cfg.roster, inc.cell, now.astimezone(self.tz).time())
                named = [*stages, *(f"{Stage(x).zh} ({x})" for x in steps)]
                note = f"SLA breached: {', '.join(named)}; escalated to {inc.escalated_to or 'the desk'}"
                record_event(s, inc, "sla_breach", inc.state, SYSTEM_ACTOR, now, note=note,
                             extra={"stages": stages, "late": steps})  # fmt: skip
                out += [(inc.id, st) for st in [*stages, *steps]]
        return out


__all__ = [
    "DESK",
    "Actor",
    "Commands",
    "Conflict",
    "Extras",
    "Forbidden",
    "Invalid",
    "NotFound",
    "SYSTEM_ACTOR",
]
