"""Routes for inspectors (their dispatches) and the desk (operators, supervisors, admins)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, or_, select

from cityops.taxonomy import case_type
from dispatch.accounts import AuthError, authenticate, end_logins, update_user
from dispatch.api.deps import ApiContext, admin_actor, ctx, current_actor, desk_actor
from dispatch.api.paging import after, link_next, prefix_end
from dispatch.commands import Actor, Extras, NotFound
from dispatch.lifecycle import (
    ACTIONS,
    CHECKING,
    DEPARTMENT,
    ESCALATED,
    INSPECTOR,
    ON_SITE,
    OPEN_STATES,
    RESOLVED,
    STAFF_ROLES,
)
from dispatch.sla import deadlines, targets_for
from dispatch.store import Incident, IncidentEventRow, User
from dispatch.uploads import UploadError, store_photo
from dispatch.verdicts import Verdict, VerdictConflict, record_verdict, verdicts_of
from gis.projection import distance_m
from streams.schemas import Detection
from vision.classes import KNOWN, canonical

router = APIRouter(prefix="/api/v1")
MAX_ID = 2**31 - 1
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="incident number")]


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    token: str
    role: str
    inspector_id: str | None
    name: str = Field(description="The roster name of an inspector, else the username.")
    expires_in: int


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class AccountChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal[STAFF_ROLES] | None = None
    inspector_id: str | None = Field(
        None,
        max_length=64,
        description="The roster id an inspector (or a department's staff member) acts as.",
    )
    active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=256)


class AccountOut(BaseModel):
    username: str
    role: str
    inspector_id: str | None
    active: bool


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)
    photos: list[str] = Field(
        default_factory=list, max_length=10, description="Paths returned by the photo upload."
    )


class Arrival(Note):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str = Field(
        min_length=1, max_length=64, description="A department id or an inspector's roster id."
    )
    note: str = Field("", max_length=2000)


class ExtensionRequest(Note):
    hours: float = Field(
        gt=0, le=24 * 90, description="More hours asked for (the type's working or natural hours)."
    )


class StageOut(BaseModel):
    """The step clock a case runs on now: its stage (zh/en), the standard step, and its deadline."""

    stage: str
    zh: str
    en: str
    step: str
    step_zh: str
    started_at: datetime
    hours: float
    time: str
    due: datetime


class MergeInto(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: int = Field(ge=1, le=MAX_ID)
    note: str = Field("", max_length=2000)


class Area(BaseModel):
    """A street (街道) or community (社区) of the grid, by code with its names."""

    code: str
    name_zh: str
    name_en: str


class IncidentOut(BaseModel):
    id: int
    type: str
    state: str
    source: str = Field(description="Where the report came from: camera, citizen (or another source).")
    cell: str | None
    street: Area | None = Field(description="The street of the incident's cell (None outside the grid).")
    community: Area | None = Field(description="The community of the incident's cell.")
    lon: float
    lat: float
    camera_id: str | None
    assignee: str | None
    assignee_name: str | None = Field(description="The assignee's name (the roster's, or the department's).")
    count: int
    evidence: str | None
    clip: str | None = Field(None, description="H.264 MP4 of the seconds before the detection (data dir).")
    description: str
    version: int
    opened_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    breaches: list[str]
    escalated: bool = Field(description="Escalated now or earlier (by hand or by a breached SLA stage).")
    escalated_to: str | None
    escalated_to_name: str | None = Field(description="The supervisor's name in the roster.")
    merged_into: int | None
    department: str | None
    inspector: str | None
    checked_at: datetime | None
    filed_at: datetime | None
    verified_at: datetime | None
    extension_h: float
    extension_request: dict | None
    late: list[str]
    component: str | None
    stage: StageOut | None
    due: dict[str, datetime]
    actions: list[str]


class EventOut(BaseModel):
    version: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    note: str
    at: datetime
    extra: dict


class ArrivalOut(BaseModel):
    lon: float
    lat: float
    at: datetime
    actor: str
    distance_m: float = Field(description="From the incident's position, in metres.")


class VerdictBox(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cls: str = Field(min_length=1, max_length=64, description="Object class (COCO name, e.g. car).")
    x1: float = Field(ge=0, le=100_000)
    y1: float = Field(ge=0, le=100_000)
    x2: float = Field(ge=0, le=100_000)
    y2: float = Field(ge=0, le=100_000)

    @model_validator(mode="after")
    def _box(self):
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError("a box needs x2 > x1 and y2 > y1 (pixels of the evidence frame)")
        return self


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Verdict = Field(description="confirmed, or false_alarm (needs a reason)")
    reason: str = Field("", max_length=2000)
    boxes: list[VerdictBox] | None = Field(
        None, max_length=200, description="The objects as they should be labelled (default: as detected)."
    )


class VerdictOut(BaseModel):
    incident_id: int
    verdict: str
    reason: str
    actor: str
    at: datetime
    frame: str | None = Field(description="The labelled frame (relative to the data dir); null: none kept.")
    width: int | None
    height: int | None
    boxes: list[dict]


class PersonOut(BaseModel):
    """Who an account is, for people: the roster's (or a department's staff) name and the role."""

    name: str | None = Field(
        description="The person's name in the roster or a department's staff; null: none known."
    )
    role: str = Field(
        description="The account's role (inspector, department, operator, supervisor, admin, viewer); a roster "
        "supervisor's is supervisor; 'system' and 'citizen' for those actors; 'unknown' for a removed account."
    )
    department: str | None = Field(None, description="A department staff member's department name.")


class IncidentDetail(IncidentOut):
    events: list[EventOut]
    people: dict[str, PersonOut] = Field(
        {},
        description="Every actor of the events, verdicts and arrival (username) as a person: name and role.",
    )
    after_photos: list[str] = Field(description="Photos the inspector sent on arrival and resolution.")
    arrival: ArrivalOut | None = Field(
        description="Where the inspector checked in on site (the last arrival)."
    )
    verdicts: list[VerdictOut] = Field([], description="Operators' verdicts (confirmed / false alarm).")


COMPUTED = frozenset(
    {"due", "actions", "stage", "street", "community", "assignee_name", "escalated", "escalated_to_name"}
)


def roster_names(c: ApiContext) -> dict[str, str]:
    """Roster, department and department staff id -> name (built once per API process): a case
    dispatched to a department names the department, not its id."""
    names = c.__dict__.get("_roster_names")
    if names is None:
        names = {s.id: s.name for d in c.cfg.departments for s in d.staff}
        names.update({d.id: d.name for d in c.cfg.departments})
        names.update({i.id: i.name for i in c.cfg.roster})
        c.__dict__["_roster_names"] = names
    return names


def people(c: ApiContext, usernames: set[str]) -> dict[str, dict]:
    """Usernames (the actors of an audit trail) -> name and role: the account's roster entry (an
    inspector's or supervisor's) or department staff entry gives the name; no name for accounts that
    act as nobody in the config (operators), so the page falls back to the username."""
    out: dict[str, dict] = {}
    for special in ("system", "citizen"):
        if special in usernames:
            out[special] = {"name": None, "role": special}
    wanted = sorted(usernames - out.keys())
    if not wanted:
        return out
    roster = {i.id: i for i in c.cfg.roster}
    staff = {m.id: (m, d) for d in c.cfg.departments for m in d.staff}
    with c.readers() as s:
        accounts = {u.username: u for u in s.scalars(select(User).where(User.username.in_(wanted)))}
    for username in wanted:
        user = accounts.get(username)
        if user is None:
            out[username] = {"name": None, "role": "unknown"}
            continue
        person = {"name": None, "role": user.role}
        ident = user.inspector_id or ""
        if ident in roster:
            entry = roster[ident]
            person["name"] = entry.name
            if entry.role == "supervisor":
                person["role"] = "supervisor"
        elif ident in staff:
            member, dept = staff[ident]
            person.update(name=member.name, department=dept.name)
        out[username] = person
    return out


def areas(c: ApiContext, cell_code: str | None) -> dict:
    cell = c.grid.by_code.get(cell_code or "")
    if cell is None:
        return {"street": None, "community": None}
    return {
        "street": {"code": cell.street, "name_zh": cell.street_zh, "name_en": cell.street_en},
        "community": {"code": cell.community, "name_zh": cell.community_zh, "name_en": cell.community_en},
    }


def to_out(inc: Incident, c: ApiContext, actor: Actor) -> dict:
    data = {k: getattr(inc, k) for k in IncidentOut.model_fields if k not in COMPUTED}
    names = roster_names(c)
    data["breaches"] = list(inc.breaches or [])
    data["late"] = list(inc.late or [])
    data["extension_h"] = inc.extension_h or 0.0
    # the inspector's accept/arrive/resolve clocks run while an inspector handles it
    data["due"] = {} if inc.department else deadlines(inc, targets_for(inc.type, c.cfg.sla))
    clock = c.commands.step_clock(inc)
    data["stage"] = clock.as_dict() if clock else None
    data["actions"] = c.commands.actions_for(inc, actor)
    data["assignee_name"] = names.get(inc.assignee) if inc.assignee else None
    data["escalated_to_name"] = names.get(inc.escalated_to) if inc.escalated_to else None
    data["escalated"] = inc.state == ESCALATED or bool(inc.escalated_to) or bool(inc.breaches)
    data.update(areas(c, inc.cell))
    return data


def evidence_after(inc: Incident, events: list[dict]) -> dict:
    """The inspector's photos and last arrival position, from the audit trail."""
    photos, arrival = [], None
    for e in events:
        extra = e.get("extra") or {}
        if e["action"] != "transition" or e["actor"] == "system":
            continue
        photos += [p for p in extra.get("photos") or [] if p not in photos]
        if e["to_state"] == ON_SITE and extra.get("lon") is not None and extra.get("lat") is not None:
            arrival = {
                "lon": extra["lon"], "lat": extra["lat"], "at": e["at"], "actor": e["actor"],
                "distance_m": round(distance_m(inc.lon, inc.lat, extra["lon"], extra["lat"]), 1),
            }  # fmt: skip
    return {"after_photos": photos, "arrival": arrival}


def _visible(inc: Incident | None, actor: Actor, incident_id: int, c: ApiContext) -> Incident:
    # a field account cannot tell another's case from a missing one
    if inc is None or not c.commands.can_see(inc, actor):
        raise HTTPException(404, f"incident {incident_id} not found")
    return inc


def _next_due(d: dict) -> datetime:
    dues = list(d["due"].values()) + ([d["stage"]["due"]] if d.get("stage") else [])
    return min(dues) if dues else d["opened_at"]


THROTTLED = {429: {"description": "Too many failed logins for the account or the address; see Retry-After."}}


def _check_password(c: ApiContext, request: Request, username: str, password: str):
    """authenticate() behind the login throttle (per account and per client address)."""
    address = c.client_address(request)
    verdict = c.login_throttle.attempt(username, address)
    if not verdict.allowed:
        raise HTTPException(429, verdict.reason, headers={"Retry-After": str(verdict.retry_after)})
    try:
        user = authenticate(c.readers, username, password)
    except AuthError:
        c.login_throttle.failed(username, address)
        raise
    c.login_throttle.succeeded(username, address)
    return user


def _token_out(c: ApiContext, user) -> TokenOut:
    name = roster_names(c).get(user.inspector_id or "") or user.username
    return TokenOut(
        token=c.tokens.issue(user),
        role=user.role,
        inspector_id=user.inspector_id,
        name=name,
        expires_in=c.tokens.ttl_s,
    )


@router.post("/login", response_model=TokenOut, tags=["accounts"], responses=THROTTLED)
def login(body: Login, request: Request, c: ApiContext = Depends(ctx)):
    try:
        user = _check_password(c, request, body.username, body.password)
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from exc
    return _token_out(c, user)


@router.post("/logout", tags=["accounts"])
def logout(actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)):
    """End every login of the caller's account (this device and any other)."""
    end_logins(c.sessions, actor.name)
    c.accounts.forget(actor.name)
    return {"detail": "logged out: every login of this account has ended"}


@router.post("/me/password", response_model=TokenOut, tags=["accounts"], responses=THROTTLED)
def change_password(
    body: PasswordChange,
    request: Request,
    actor: Actor = Depends(current_actor),
    c: ApiContext = Depends(ctx),
):
    """Change the caller's password: every earlier login ends; the answer is a fresh token."""
    try:
        _check_password(c, request, actor.name, body.current_password)
    except AuthError as exc:
        raise HTTPException(403, "the current password is wrong") from exc
    try:
        user = update_user(c.sessions, actor.name, password=body.new_password)
    except (LookupError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    c.accounts.forget(actor.name)
    return _token_out(c, user)


@router.patch("/users/{username}", response_model=AccountOut, tags=["accounts"])
def change_account(
    username: Annotated[str, Path(min_length=1, max_length=64)],
    body: AccountChange,
    _admin: Actor = Depends(admin_actor),
    c: ApiContext = Depends(ctx),
):
    """Admins: change a role, roster id, password or deactivate (``active: false``); any change ends
    the account's logins at once in this process and within ``dispatch.account_check_s`` elsewhere."""
    changes = body.model_dump(include=body.model_fields_set)
    try:
        user = update_user(c.sessions, username, **changes)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    c.accounts.forget(username)
    return AccountOut(
        username=user.username, role=user.role, inspector_id=user.inspector_id, active=user.active
    )


@router.get("/me/dispatches", response_model=list[IncidentOut], tags=["inspector", "department"])
def my_dispatches(
    request: Request,
    response: Response,
    limit: int = Query(100, ge=1, le=500),
    cursor: str | None = Query(None, max_length=200, description="X-Next-Cursor of the previous page"),
    actor: Actor = Depends(current_actor),
    c: ApiContext = Depends(ctx),
):
    """The caller's open work, most urgent (earliest next deadline) first: an inspector's dispatches
    and the cell's reports to check (核实) and fixes to verify (核查); a department's cases. ``limit``
    per page, pages in clock order (the clocks start at dispatch); further pages: ``Link``."""
    if actor.role == INSPECTOR:
        mine = (Incident.assignee == actor.inspector_id) & Incident.state.in_(OPEN_STATES)
        to_check = (Incident.inspector == actor.inspector_id) & (
            (Incident.state == CHECKING) | ((Incident.state == RESOLVED) & Incident.department.is_not(None))
        )
        q = select(Incident).where(mine | to_check)
    elif actor.role == DEPARTMENT:
        dept = c.commands.department_of(actor)
        if dept is None:
            raise HTTPException(403, f"{actor.inspector_id!r} is no department's staff in the config")
        q = select(Incident).where(Incident.department == dept, Incident.state.in_(OPEN_STATES))
    else:
        raise HTTPException(403, "only inspectors and departments have dispatches")
    start = func.coalesce(Incident.dispatched_at, Incident.opened_at)
    if (cond := after(cursor, start, Incident.id, descending=False)) is not None:
        q = q.where(cond)
    with c.readers() as s:
        rows = s.scalars(q.order_by(start, Incident.id).limit(limit)).all()
    link_next(request, response, rows, limit, lambda i: i.dispatched_at or i.opened_at)
    out = [to_out(i, c, actor) for i in rows]
    return sorted(out, key=_next_due)


@router.get("/me/finished", response_model=list[IncidentOut], tags=["inspector"])
def my_finished(actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)):
    """The caller's dispatches finished today (resolved, or taken off their list by a final state) in
    the city's time zone, latest first."""
    if actor.role != INSPECTOR:
        raise HTTPException(403, "only inspectors have dispatches")
    tz = c.commands.tz
    start = datetime.combine(c.commands.clock().astimezone(tz).date(), time.min, tz).astimezone(UTC)
    with c.readers() as s:
        rows = s.scalars(
            select(Incident).where(
                Incident.assignee == actor.inspector_id,
                Incident.state.not_in(OPEN_STATES),
                or_(Incident.resolved_at >= start, Incident.closed_at >= start),
            )
        ).all()
    out = [to_out(i, c, actor) for i in rows]
    return sorted(out, key=lambda d: d["resolved_at"] or d["closed_at"], reverse=True)


@router.get("/incidents", response_model=list[IncidentOut], tags=["desk"])
def list_incidents(
    request: Request,
    response: Response,
    state: str | None = Query(None, max_length=32),
    type: str | None = Query(None, max_length=64),
    cell: str | None = Query(None, max_length=32, description="cell, community or street code (prefix)"),
    assignee: str | None = Query(None, max_length=64),
    source: str | None = Query(
        None, pattern="^(camera|citizen|device|inspector)$", description="who raised it"
    ),
    department: str | None = Query(None, max_length=64),
    open_only: bool = False,
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=200, description="X-Next-Cursor of the previous page"),
    offset: int = Query(
        0, ge=0, le=10_000, description="deprecated: follow the Link header (cursor) instead"
    ),
    actor: Actor = Depends(desk_actor),
    c: ApiContext = Depends(ctx),
):
    """Incidents, most recently changed first, ``limit`` per page; the next page is in the ``Link``
    header (a keyset cursor: deep pages cost what the first does)."""
    q = select(Incident)
    if state:
        q = q.where(Incident.state == state)
    if type:
        q = q.where(Incident.type == type)
    if cell:
        # a prefix as a range: it uses the cell index on SQLite too (LIKE … ESCAPE does not)
        q = q.where(Incident.cell >= cell, Incident.cell < prefix_end(cell))
    if assignee:
        q = q.where(Incident.assignee == assignee)
    if source:
        q = q.where(Incident.source == source)
    if department:
        q = q.where(Incident.department == department)
    if open_only:
        q = q.where(Incident.state.in_(OPEN_STATES))
    if (cond := after(cursor, Incident.updated_at, Incident.id, descending=True)) is not None:
        q = q.where(cond)
    with c.readers() as s:
        order = q.order_by(Incident.updated_at.desc(), Incident.id.desc())
        rows = s.scalars(order.limit(limit).offset(0 if cursor else offset)).all()
    link_next(request, response, rows, limit, lambda i: i.updated_at)
    return [to_out(i, c, actor) for i in rows]


@router.get("/incidents/{incident_id}", response_model=IncidentDetail, tags=["desk", "inspector"])
def get_incident(
    incident_id: IncidentId, actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)
):
    with c.readers() as s:
        inc = _visible(s.get(Incident, incident_id), actor, incident_id, c)
        events = s.scalars(
            select(IncidentEventRow)
            .where(IncidentEventRow.incident_id == incident_id)
            .order_by(IncidentEventRow.version)
        ).all()
        out = to_out(inc, c, actor)
        out["events"] = [{k: getattr(e, k) for k in EventOut.model_fields} for e in events]
        out.update(evidence_after(inc, out["events"]))
    out["verdicts"] = verdicts_of(c.readers, incident_id)
    actors = {e["actor"] for e in out["events"]} | {v["actor"] for v in out["verdicts"]}
    out["people"] = people(c, actors)
    return out


@router.post(
    "/incidents/{incident_id}/verdict",
    response_model=VerdictOut,
    tags=["desk"],
    responses={409: {"description": "Merged into another incident, or not from a camera."}},
)
def give_verdict(
    incident_id: IncidentId, body: VerdictIn, actor: Actor = Depends(desk_actor), c: ApiContext = Depends(ctx)
):
    """Mark a camera incident confirmed or a false alarm: the evidence frame and its boxes become a
    labelled example (``cityops vision dataset export``). Giving it again updates your verdict."""
    boxes = None
    if body.boxes is not None:
        boxes = [b.model_dump() | {"cls": canonical(b.cls)} for b in body.boxes]
        unknown = sorted({b["cls"] for b in boxes} - KNOWN)
        if unknown:
            raise HTTPException(
                422, f"unknown object class(es) {unknown}: use COCO names such as car, person"
            )
    try:
        return record_verdict(c.sessions, c.data_dir, incident_id, body.verdict, body.reason, actor, boxes)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except VerdictConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def _act(c: ApiContext, incident_id: int, action: str, actor: Actor, extras: Extras) -> dict:
    inc = c.commands.act(incident_id, action, actor, extras)
    c.publish()
    return to_out(inc, c, actor)


def _check_photos(c: ApiContext, photos: list[str]) -> None:
    for p in photos:
        if not p.startswith("photos/") or ".." in p or not (c.data_dir / p).is_file():
            raise HTTPException(422, f"unknown photo {p!r}: upload it first")


@router.post("/incidents/{incident_id}/accept", response_model=IncidentOut, tags=["inspector"])
def accept(
    incident_id: IncidentId,
    body: Note | None = None,
    actor: Actor = Depends(current_actor),
    c: ApiContext = Depends(ctx),
):
    body = body or Note()
    return _act(c, incident_id, "accept", actor, Extras(note=body.note))


@router.post("/incidents/{incident_id}/arrive", response_model=IncidentOut, tags=["inspector"])
def arrive(
    incident_id: IncidentId,
    body: Arrival,
    actor: Actor = Depends(current_actor),
    c: ApiContext = Depends(ctx),
):
    _check_photos(c, body.photos)
    return _act(
        c,
        incident_id,
        "arrive",
        actor,
        Extras(note=body.note, lon=body.lon, lat=body.lat, photos=body.photos),
    )


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut, tags=["inspector"])
def resolve(
    incident_id: IncidentId, body: Note, actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)
):
    _check_photos(c, body.photos)
    return _act(c, incident_id, "resolve", actor, Extras(note=body.note, photos=body.photos))


@router.post("/incidents/{incident_id}/escalate", response_model=IncidentOut, tags=["inspector", "desk"])
def escalate(
    incident_id: IncidentId, body: Note, actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)
):
    return _act(c, incident_id, "escalate", actor, Extras(note=body.note))


@router.post("/incidents/{incident_id}/photos", tags=["inspector"])
def upload_photo(
    incident_id: IncidentId,
    file: UploadFile = File(...),
    actor: Actor = Depends(current_actor),
    c: ApiContext = Depends(ctx),
):
    with c.readers() as s:
        _visible(s.get(Incident, incident_id), actor, incident_id, c)
    limit = int(c.cfg.dispatch.max_upload_mb * 1e6)
    data = file.file.read(limit + 1)
    try:
        rel = store_photo(data, c.data_dir, limit)
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return {"photo": rel}


for _name in ("close",):

    def _desk_route(
        incident_id: IncidentId,
        body: Note,
        actor: Actor = Depends(desk_actor),
        c: ApiContext = Depends(ctx),
        _a=_name,
    ):
        return _act(c, incident_id, _a, actor, Extras(note=body.note))

    router.add_api_route(
        f"/incidents/{{incident_id}}/{_name}", _desk_route, methods=["POST"], response_model=IncidentOut,
        tags=["desk"], name=_name, summary=f"{_name.capitalize()} an incident",
    )  # fmt: skip


def _note_route(name: str, dep, tags: list[str]) -> None:
    action = ACTIONS[name]

    def route(incident_id: IncidentId, body: Note, actor: Actor = Depends(dep), c: ApiContext = Depends(ctx)):
        _check_photos(c, body.photos)
        return _act(c, incident_id, name, actor, Extras(note=body.note, photos=body.photos))

    router.add_api_route(
        f"/incidents/{{incident_id}}/{name}", route, methods=["POST"], response_model=IncidentOut, tags=tags,
        name=name, summary=f"{action.zh} ({action.en})",
        description=f"Step {action.step.zh} ({action.step.en}). Allowed: {', '.join(sorted(action.roles - {'system'}))}."
        + (" The note must say why." if action.reason else "") + (" At least one photo." if action.photos else ""),
    )  # fmt: skip


for _name, _tags in (
    ("request_check", ["desk"]),
    ("confirm", ["inspector"]),
    ("refute", ["inspector"]),
    ("file", ["desk"]),
    ("return", ["department"]),
    ("approve_extension", ["desk"]),
    ("refuse_extension", ["desk"]),
    ("rework", ["inspector"]),
    ("verify", ["inspector", "desk"]),
    ("reject", ["desk", "inspector"]),  # 不予立案 at the centre; an inspector turns down their own dispatch
):
    _note_route(_name, current_actor, _tags)


@router.post("/incidents/{incident_id}/request_extension", response_model=IncidentOut, tags=["department"])
def request_extension(
    incident_id: IncidentId,
    body: ExtensionRequest,
    actor: Actor = Depends(current_actor),
    c: ApiContext = Depends(ctx),
):
    """延期申请: the department asks the centre for more time (hours, and why in the note)."""
    return _act(c, incident_id, "request_extension", actor, Extras(note=body.note, hours=body.hours))


@router.post("/incidents/{incident_id}/assign", response_model=IncidentOut, tags=["desk"])
def assign(
    incident_id: IncidentId,
    body: Assignment,
    actor: Actor = Depends(desk_actor),
    c: ApiContext = Depends(ctx),
):
    """Assign or reassign to an inspector in the roster (also re-dispatches after failed verification)."""
    inc = c.commands.assign(incident_id, body.assignee, actor, body.note)
    c.publish()
    return to_out(inc, c, actor)


@router.post("/incidents/{incident_id}/merge", response_model=IncidentOut, tags=["desk"])
def merge(
    incident_id: IncidentId, body: MergeInto, actor: Actor = Depends(desk_actor), c: ApiContext = Depends(ctx)
):
    inc = c.commands.merge(incident_id, body.into, actor, body.note)
    c.publish()
    return to_out(inc, c, actor)


class FieldReport(BaseModel):
    """信息收集: a grid inspector reports a problem found on patrol."""

    model_config = ConfigDict(extra="forbid")
    type: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A product or standard type code (default: the component's type).",
    )
    lon: float | None = Field(None, ge=-180, le=180, description="Default: the component's position.")
    lat: float | None = Field(None, ge=-90, le=90)
    component: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The registry's component (部件) it concerns: its problem goes to the component's owner.",
    )
    description: str = Field("", max_length=2000)
    photos: list[str] = Field(
        default_factory=list, max_length=10, description="Paths returned by the photo upload."
    )


class Reported(BaseModel):
    incident_id: int
    created: bool


@router.post("/reports", response_model=Reported, status_code=201, tags=["inspector"])
def field_report(body: FieldReport, actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)):
    """信息收集 by a grid inspector: a new case (or merged into an open one of the type nearby)."""
    if actor.role != INSPECTOR:
        raise HTTPException(403, "only grid inspectors report problems found on patrol")
    comp = c.commands.components.get(body.component) if body.component else None
    if body.component and comp is None:
        raise HTTPException(422, f"no component {body.component!r} in the registry")
    kind = body.type or (comp.type if comp else None)
    lon, lat = (body.lon, body.lat) if body.lon is not None and body.lat is not None else (
        (comp.lon, comp.lat) if comp else (None, None))  # fmt: skip
    if kind is None or lon is None:
        raise HTTPException(422, "give the type and the position (lon, lat), or a component")
    if case_type(kind) is None:
        raise HTTPException(422, f"unknown type {kind!r}")
    c.check_in_district(lon, lat)
    for p in body.photos:  # uploaded first (to the photo upload without an incident)
        if not p.startswith("photos/") or ".." in p or not (c.data_dir / p).is_file():
            raise HTTPException(422, f"unknown photo {p!r}: upload it first")
    det = Detection(
        id=f"I{uuid.uuid4().hex[:16]}", source="inspector", type=kind, lon=lon, lat=lat, component=body.component,
        observed_at=c.commands.clock(), evidence=body.photos[0] if body.photos else None,
        description=(f"[{actor.inspector_id}] " + body.description).strip(),
    )  # fmt: skip
    res = c.intake.handle(det)
    c.publish()
    return Reported(incident_id=res.incident_id, created=res.created)


@router.post("/photos", tags=["inspector"])
def upload_report_photo(
    file: UploadFile = File(...), actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)
):
    """A photo for a field report not yet sent (its path goes into the report's ``photos``)."""
    if actor.role != INSPECTOR:
        raise HTTPException(403, "only grid inspectors report problems found on patrol")
    limit = int(c.cfg.dispatch.max_upload_mb * 1e6)
    try:
        rel = store_photo(file.file.read(limit + 1), c.data_dir, limit)
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return {"photo": rel}


class Me(BaseModel):
    username: str
    role: str
    inspector_id: str | None
    name: str = Field(description="The roster name of an inspector, else the username.")


@router.get("/me", response_model=Me, tags=["accounts"])
def me(actor: Actor = Depends(current_actor), c: ApiContext = Depends(ctx)):
    """Who the token belongs to: the board asks before it shows staff data to a wall screen."""
    name = roster_names(c).get(actor.inspector_id or "") or actor.name
    return Me(username=actor.name, role=actor.role, inspector_id=actor.inspector_id, name=name)
