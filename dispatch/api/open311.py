"""Citizen reports on Open311 GeoReport v2 (wiki.open311.org/GeoReport_v2): services, service
definitions, requests, tokens, in JSON and XML; plus CityOps extensions (rating, support, nearby).

Every path ends in ``.json`` or ``.xml``; errors come in the spec's shape (``[{"code", "description"}]``
or ``<errors><error>``, see :mod:`dispatch.api.open311_format` and the handlers in ``app.py``)."""

from __future__ import annotations

import hmac
import math
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.taxonomy import violation_types
from dispatch.api.addresses import PROXY_HEADER
from dispatch.api.deps import ApiContext, citizen_rate_limit, ctx
from dispatch.api.open311_format import render
from dispatch.intake import citizen_report
from dispatch.lifecycle import OPEN_STATES, SlaStage, State
from dispatch.service_defs import InvalidAttribute, check_attributes, definition
from dispatch.sla import deadlines, targets_for
from dispatch.store import CitizenReport, Incident, IncidentEventRow
from dispatch.uploads import UploadError, store_photo
from gis.gazetteer import Unresolved, gazetteer
from gis.grid import OUTSIDE
from gis.projection import distance_m
from streams.schemas import Detection

router = APIRouter(prefix="/open311/v2", tags=["citizen (Open311 GeoReport v2)"])
Fmt = Literal["json", "xml"]
CAMERA_PREFIX = "C"  # service_request_id of a camera-raised incident listed as a request

#: what a citizen reads for each state (a state another module adds reads as its own name)
STATUS_NOTES = {
    State.NEW: "received", State.DISPATCHED: "sent to the grid inspector",
    State.ESCALATED: "passed to a supervisor", State.ACCEPTED: "accepted by the {role}",
    State.ON_SITE: "the {role} is on site", State.RESOLVED: "resolved by the {role}",
    State.VERIFIED: "resolved and verified", State.CLOSED: "closed",
    State.REJECTED: "not accepted", State.DUPLICATE: "merged with another report",
    State.CHECKING: "being checked on site", State.FILED: "accepted as a case",
    State.RETURNED: "being sent to the right department",
}  # fmt: skip
ROLE_NAMES = {"inspector": "grid inspector", "operator": "dispatch desk", "supervisor": "supervisor",
              "admin": "dispatch desk", "system": "dispatch system"}  # fmt: skip


# -- models (the JSON shapes; XML carries the same fields) -------------------------------------------
class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = True
    type: str = "realtime"
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class ServiceAttribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[ServiceAttribute]


class RequestCreated(BaseModel):
    service_request_id: str
    token: str = Field(description="The spec's token: GET tokens/{token} answers the request id.")
    service_notice: str
    account_id: str | None = None
    rating_secret: str = Field(description="CityOps: keep it (or its link) to rate the handling later.")
    merged_into: int | None = Field(
        None, description="CityOps: the open incident nearby this report joined (else a new one)."
    )
    address: str | None = Field(None, description="CityOps: the place an address_string was resolved to.")
    photo_problem: str | None = Field(
        None, description="CityOps: why the photo could not be kept (the report was recorded without it)."
    )


class TokenAnswer(BaseModel):
    service_request_id: str | None
    token: str


class Step(BaseModel):
    name: str = Field(description="received, accepted, on_site or resolved")
    at: datetime
    by: str | None = Field(None, description="the role that took the step (never a person's name)")
    note: str | None = None


class ServiceRequest(BaseModel):
    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str | None = None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str
    address_id: str | None = None
    zipcode: str | None = None
    lat: float
    long: float
    media_url: str | None
    state: str = Field(description="CityOps: the incident's state (new, dispatched, ... closed).")
    rating: int | None = None
    merged: bool = Field(False, description="CityOps: this report joined an earlier report's incident.")
    supports: int = Field(0, description="CityOps: citizens who added their support to it.")
    photos: list[str] = Field(
        default_factory=list, description="CityOps: photos of the other reports of the same incident "
        "whose reporters agreed to show them.",
    )  # fmt: skip
    timeline: list[Step] = Field(default_factory=list, description="CityOps (one request only).")
    public_note: str | None = Field(None, description="CityOps: the inspector's note on resolving.")
    after_photos: list[str] = Field(default_factory=list, description="CityOps: photos taken on resolving.")


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str = Field(
        min_length=8, max_length=128, validation_alias=AliasChoices("secret", "token"),
        description="The rating secret given at submission (also accepted as 'token').",
    )  # fmt: skip
    rating: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


# -- helpers --------------------------------------------------------------------------------------
def jurisdiction(jurisdiction_id: str | None = Query(None, max_length=128), c: ApiContext = Depends(ctx)):
    """``jurisdiction_id`` is accepted everywhere; one other than the configured one is refused."""
    mine = c.cfg.open311.jurisdiction_id
    if jurisdiction_id and mine and jurisdiction_id != mine:
        raise HTTPException(404, f"this endpoint serves jurisdiction {mine!r}, not {jurisdiction_id!r}")


def _absolute(c: ApiContext, rel: str | None) -> str | None:
    if not rel or not rel.startswith("photos/"):
        return None
    return f"{c.cfg.public_api_url}/{rel}"


def _service_name(code: str) -> str:
    vt = violation_types().get(code)
    return f"{vt.zh} / {vt.en}" if vt else code


def _events(s: Session, incident_id: int) -> list[IncidentEventRow]:
    return list(
        s.scalars(
            select(IncidentEventRow)
            .where(IncidentEventRow.incident_id == incident_id, IncidentEventRow.action == "transition")
            .order_by(IncidentEventRow.version)
        )
    )


def _role(ev: IncidentEventRow | None) -> str:
    role = (ev.extra or {}).get("role") if ev else None
    return ROLE_NAMES.get(role or "", role or "grid inspector")


def _reached(events: list[IncidentEventRow], state: str) -> IncidentEventRow | None:
    return next((e for e in reversed(events) if e.to_state == state), None)


def status_notes(inc: Incident, events: list[IncidentEventRow]) -> str:
    """What happened, in words: who (a role, never a name) accepted it, on site, the public note."""
    template = STATUS_NOTES.get(inc.state, str(inc.state).replace("_", " "))
    note = template.format(role=_role(_reached(events, inc.state)))
    resolved = _reached(events, SlaStage.RESOLVE.state)
    if inc.resolved_at and resolved and resolved.note:
        note += f": {resolved.note}"
    return note


def timeline(at: datetime, inc: Incident, events: list[IncidentEventRow]) -> list[Step]:
    steps = [Step(name="received", at=at)]
    for stage in SlaStage:  # accepted, on site, resolved: the stamps that stop the SLA clocks
        when = getattr(inc, stage.stamp)
        if when is None:
            continue
        ev = _reached(events, stage.state)
        note = ev.note if ev and stage is SlaStage.RESOLVE and ev.note else None
        steps.append(Step(name=str(stage.state), at=when, by=_role(ev), note=note))
    return steps


def _followed(s: Session, inc: Incident) -> Incident:
    """The incident the desk merged ``inc`` into (and so on): its progress is this report's."""
    seen = {inc.id}
    while inc.merged_into and inc.merged_into not in seen:
        nxt = s.get(Incident, inc.merged_into)
        if nxt is None:
            break
        seen.add(nxt.id)
        inc = nxt
    return inc


def _to_request(
    c: ApiContext, s: Session, rep: CitizenReport | None, inc: Incident, *, detail: bool = False
) -> ServiceRequest:
    own_incident = inc.id
    inc = _followed(s, inc)
    events = _events(s, inc.id)
    due = deadlines(inc, targets_for(inc.type, c.cfg.sla))["resolve"]
    resolved = _reached(events, SlaStage.RESOLVE.state)
    out = ServiceRequest(
        service_request_id=rep.id if rep else f"{CAMERA_PREFIX}{inc.id}",
        status="open" if inc.state in OPEN_STATES else "closed",
        status_notes=status_notes(inc, events),
        service_name=_service_name(inc.type),
        service_code=rep.service_code if rep else inc.type,
        description=rep.description if rep else "",
        agency_responsible=f"{c.cfg.district} city management",
        requested_datetime=rep.at if rep else inc.opened_at,
        updated_datetime=max(inc.updated_at, rep.at) if rep else inc.updated_at,
        expected_datetime=None if inc.resolved_at or inc.state not in OPEN_STATES else due,
        address=(rep.address if rep else "") or "",
        lat=rep.lat if rep else round(inc.lat, 4),  # a camera's incident: a public, rounded position
        long=rep.lon if rep else round(inc.lon, 4),
        media_url=(_absolute(c, rep.photo) if rep.photo_public else None) or rep.media_link if rep else None,
        state=str(inc.state),
        rating=rep.rating if rep else None,
        merged=bool(rep and (rep.merged or inc.id != own_incident)),
        supports=rep.supports if rep else 0,
        public_note=resolved.note or None if resolved and inc.resolved_at else None,
        after_photos=[u for u in (_absolute(c, p) for p in ((resolved.extra or {}).get("photos") or [])) if u]
        if resolved and inc.resolved_at
        else [],
    )
    if detail:
        out.timeline = timeline(out.requested_datetime, inc, events)
        if rep:
            others = s.scalars(
                select(CitizenReport)
                .where(CitizenReport.incident_id.in_({inc.id, own_incident}), CitizenReport.id != rep.id)
                .order_by(CitizenReport.at)
            ).all()
            out.photos = [u for o in others if o.photo_public and (u := _absolute(c, o.photo))]
    return out


def _dump(rows: list[BaseModel], detail: bool = False) -> list[dict]:
    skip = set() if detail else {"timeline"}
    return [r.model_dump(mode="json", exclude=skip) for r in rows]


def _utc(value: datetime, name: str, tz: ZoneInfo) -> datetime:
    """A query time in UTC; one without a time zone is taken in the city's."""
    try:
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    except OverflowError:
        raise HTTPException(400, f"{name} {value.isoformat()} is out of range") from None


def _csv(value: str | None, name: str, allowed: set[str] | None = None) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(items) > 200:
        raise HTTPException(400, f"{name}: at most 200 values")
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise HTTPException(400, f"{name}: {bad[0]!r} is not one of {sorted(allowed)}")
    return items


async def form_attributes(request: Request) -> dict[str, list[str]]:
    """The ``attribute[code]`` fields of a POST form (``attribute[code][]`` for several values)."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key.startswith("attribute[") and isinstance(value, str):
            code = key[len("attribute[") :].split("]", 1)[0]
            out.setdefault(code, []).append(value)
    return out


def check_api_key(request: Request, c: ApiContext, given: str | None) -> None:
    """POST needs one of ``open311.api_keys`` when ``open311.require_api_key`` is on; the board's
    citizen page (it sends the key derived from the shared secret) never does."""
    o = c.cfg.open311
    if not o.require_api_key:
        return
    if hmac.compare_digest(request.headers.get(PROXY_HEADER, "").encode(), c.proxy_key.encode()):
        return
    if not given or not any(hmac.compare_digest(given.encode(), k.encode()) for k in o.api_keys):
        raise HTTPException(403, "a valid api_key is required to post requests to this endpoint")


# -- routes ---------------------------------------------------------------------------------------
@router.get("/services.{fmt}", response_model=list[Service], dependencies=[Depends(jurisdiction)])
def services(fmt: Fmt):
    rows = [
        Service(service_code=t.code, service_name=f"{t.zh} / {t.en}", description=t.en, keywords=t.zh,
                group="city management")
        for t in violation_types().values()
    ]  # fmt: skip
    return render(_dump(rows), fmt, "services", "service")


@router.get(
    "/services/{service_code}.{fmt}", response_model=ServiceDefinition, dependencies=[Depends(jurisdiction)]
)
def service_definition(service_code: str, fmt: Fmt):
    """The attributes a request for this service may (or must) carry as ``attribute[code]``."""
    try:
        return render(definition(service_code), fmt, "service_definition", None)
    except KeyError:
        raise HTTPException(404, f"no service {service_code!r}; see GET services.{fmt}") from None


@router.get("/service/{service_code}.{fmt}", include_in_schema=False, dependencies=[Depends(jurisdiction)])
def service_definition_singular(service_code: str, fmt: Fmt):
    """``service/{code}``: the path the ``open311`` client library (1.1, PyPI) asks for its service
    definitions instead of the spec's ``services/{code}``; the same answer."""
    return service_definition(service_code, fmt)


@router.post(
    "/requests.{fmt}",
    response_model=list[RequestCreated],
    status_code=201,
    dependencies=[Depends(citizen_rate_limit), Depends(jurisdiction)],
)
def create_request(
    request: Request,
    fmt: Fmt,
    service_code: str = Form(..., max_length=64),
    lat: float | None = Form(None, ge=-90, le=90),
    long: float | None = Form(None, ge=-180, le=180),
    address_string: str = Form("", max_length=256),
    address_id: str = Form("", max_length=64),
    description: str = Form("", max_length=2000),
    media_url: str = Form("", max_length=1024),
    email: str = Form("", max_length=256),
    first_name: str = Form("", max_length=128),
    last_name: str = Form("", max_length=128),
    phone: str = Form("", max_length=64),
    device_id: str = Form("", max_length=128),
    account_id: str = Form("", max_length=128),
    api_key: str | None = Form(None, max_length=128),
    public_photo: bool = Form(False, description="CityOps: the reporter agrees to show the photo publicly."),
    media: UploadFile | None = File(None),
    attributes: dict[str, list[str]] = Depends(form_attributes),
    c: ApiContext = Depends(ctx),
):
    """A new request: a position (``lat``/``long``) or a place (``address_string`` or ``address_id``:
    a street, community or cell of the district, in Chinese, pinyin or English), an optional photo
    (``media``) or link to one (``media_url``: stored, never fetched). ``email``, names and ``phone``
    stay private."""
    check_api_key(request, c, api_key or request.query_params.get("api_key"))
    if service_code not in violation_types():
        raise HTTPException(400, f"unknown service_code {service_code!r}; see GET services.{fmt}")
    try:
        attrs = check_attributes(service_code, attributes)
    except InvalidAttribute as exc:
        raise HTTPException(400, str(exc)) from None
    if media_url and not media_url.lower().startswith(("http://", "https://")):
        raise HTTPException(400, "media_url must be an http:// or https:// link")
    address = address_string.strip()
    if lat is None or long is None:
        if lat is not None or long is not None:
            raise HTTPException(400, "give both lat and long, or neither (with address_string or address_id)")
        if not (address or address_id):
            raise HTTPException(400, "give a position: lat and long, or address_string, or address_id")
        places = gazetteer(c.grid)
        place = places.by_code(address_id.strip()) if address_id else None
        if place is None:
            try:
                place = places.resolve(address or address_id, c.cfg.open311.address_candidates)
            except Unresolved as exc:
                cands = [{"name": p.label, "level": p.level, "address_id": p.code, "lat": round(p.lat, 6),
                          "long": round(p.lon, 6)} for p in exc.candidates]  # fmt: skip
                raise HTTPException(400, {"description": str(exc), "candidates": cands}) from None
        long, lat = place.lon, place.lat
        address = f"{place.label}" + (f" ({address})" if address and address != place.label else "")
    if c.grid.locate(long, lat) == OUTSIDE:
        raise HTTPException(400, f"the location ({long:.6f}, {lat:.6f}) is outside the district")
    photo, photo_problem = None, None
    if media is not None and media.filename:
        limit = int(c.cfg.dispatch.max_upload_mb * 1e6)
        try:
            photo = store_photo(media.file.read(limit + 1), c.data_dir, limit)
        except UploadError as exc:
            if exc.status != 507:
                raise HTTPException(exc.status, str(exc)) from exc
            photo_problem = f"{exc}, so the report was recorded without it"  # the report matters more
    request_id = f"R{uuid.uuid4().hex[:16]}"
    token, secret = secrets.token_urlsafe(12), secrets.token_urlsafe(18)
    det = Detection(
        id=request_id, source="citizen", type=service_code, lon=long, lat=lat, observed_at=c.commands.clock(),
        evidence=photo, description=description,
    )  # fmt: skip
    report = citizen_report(
        det, secret, token=token, address=address[:256], media_link=media_url or None,
        photo_public=bool(public_photo and photo), attributes=attrs, email=email, first_name=first_name,
        last_name=last_name, phone=phone,
    )  # fmt: skip
    res = c.intake.handle(det, report=report)
    c.publish()
    notice = "thank you: your report was received" if res.created else "merged with an earlier report nearby"
    created = RequestCreated(
        service_request_id=request_id, token=token, rating_secret=secret,
        service_notice=notice + (f"; {photo_problem}" if photo_problem else ""),
        account_id=account_id or None, merged_into=None if res.created else res.incident_id,
        address=address or None, photo_problem=photo_problem,
    )  # fmt: skip
    return render(_dump([created]), fmt, "service_requests", "request", 201)


@router.get("/tokens/{token}.{fmt}", response_model=list[TokenAnswer], dependencies=[Depends(jurisdiction)])
def token_lookup(token: str, fmt: Fmt, c: ApiContext = Depends(ctx)):
    """The request id given to a token (always at once here; the spec allows it to come later)."""
    with c.readers() as s:
        rid = s.scalar(select(CitizenReport.id).where(CitizenReport.token == token))
    if rid is None:
        raise HTTPException(404, f"no request for token {token!r}")
    return render([{"service_request_id": rid, "token": token}], fmt, "service_requests", "request")


def _one(c: ApiContext, s: Session, request_id: str) -> ServiceRequest:
    if request_id.startswith(CAMERA_PREFIX) and c.cfg.open311.list_camera_incidents:
        num = request_id[len(CAMERA_PREFIX) :]
        inc = s.get(Incident, int(num)) if num.isdigit() and len(num) < 12 else None
        if inc is not None and inc.source != "citizen":
            return _to_request(c, s, None, inc, detail=True)
    rep = s.get(CitizenReport, request_id)
    if rep is None:
        raise HTTPException(404, f"no request {request_id!r}")
    return _to_request(c, s, rep, s.get(Incident, rep.incident_id), detail=True)


@router.get(
    "/requests/{request_id}.{fmt}", response_model=list[ServiceRequest], dependencies=[Depends(jurisdiction)]
)
def get_request(request_id: str, fmt: Fmt, c: ApiContext = Depends(ctx)):
    with c.readers() as s:
        row = _one(c, s, request_id)
    return render(_dump([row], detail=True), fmt, "service_requests", "request")


@router.get("/requests.{fmt}", response_model=list[ServiceRequest], dependencies=[Depends(jurisdiction)])
def list_requests(
    fmt: Fmt,
    service_request_id: str | None = Query(
        None, max_length=4000, description="comma list; overrides the rest"
    ),
    service_code: str | None = Query(None, max_length=2000, description="comma list"),
    status: str | None = Query(None, max_length=20, description="open, closed or open,closed"),
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    page_size: int | None = Query(None, ge=1, description="CityOps: at most this many (capped)"),
    c: ApiContext = Depends(ctx),
):
    """Requests by id, or by service, status and requested time (neither date: the last 90 days;
    both: at most 90 days apart; a date without a time zone is in the city's), newest first, at most
    ``open311.max_requests``."""
    o = c.cfg.open311
    limit = min(page_size or o.max_requests, o.max_requests)
    ids = _csv(service_request_id, "service_request_id")
    with c.readers() as s:
        if ids:
            out = []
            for rid in ids[:limit]:
                try:
                    out.append(_one(c, s, rid))
                except HTTPException:
                    continue  # ids that do not exist are left out, as the spec's examples do
            return render(_dump(out), fmt, "service_requests", "request")
        codes = _csv(service_code, "service_code")
        states = set(_csv(status, "status", {"open", "closed"}))
        span = timedelta(days=o.default_days)
        now = c.commands.clock()
        tz = c.commands.tz
        start = _utc(start_date, "start_date", tz) if start_date else None
        end = _utc(end_date, "end_date", tz) if end_date else None
        if start and end and end - start > span:
            raise HTTPException(400, f"start_date to end_date may span at most {o.default_days} days")
        if start is None and end is None:  # the spec's default: the most recent 90 days
            start, end = now - span, now
        if start and end and start > end:
            raise HTTPException(400, "start_date is after end_date")
        open_ = Incident.state.in_(OPEN_STATES)
        q = select(CitizenReport, Incident).join(Incident, Incident.id == CitizenReport.incident_id)
        if start:
            q = q.where(CitizenReport.at >= start)
        if end:
            q = q.where(CitizenReport.at <= end)
        if codes:
            q = q.where(CitizenReport.service_code.in_(codes))
        if len(states) == 1:
            q = q.where(open_ if "open" in states else ~open_)
        rows = [
            (rep.at, rep, inc) for rep, inc in s.execute(q.order_by(CitizenReport.at.desc()).limit(limit))
        ]
        if o.list_camera_incidents:
            cq = select(Incident).where(Incident.source != "citizen")
            if start:
                cq = cq.where(Incident.opened_at >= start)
            if end:
                cq = cq.where(Incident.opened_at <= end)
            if codes:
                cq = cq.where(Incident.type.in_(codes))
            if len(states) == 1:
                cq = cq.where(open_ if "open" in states else ~open_)
            rows += [
                (inc.opened_at, None, inc)
                for inc in s.scalars(cq.order_by(Incident.opened_at.desc()).limit(limit))
            ]
            rows.sort(key=lambda r: r[0], reverse=True)
        out = [_to_request(c, s, rep, inc) for _, rep, inc in rows[:limit]]
    return render(_dump(out), fmt, "service_requests", "request")


@router.get("/nearby.{fmt}", response_model=list[ServiceRequest], dependencies=[Depends(jurisdiction)])
def nearby(
    fmt: Fmt,
    service_code: str = Query(..., max_length=64),
    lat: float = Query(..., ge=-90, le=90),
    long: float = Query(..., ge=-180, le=180),
    c: ApiContext = Depends(ctx),
):
    """CityOps: open reports of this service within the merge radius of a position (one per incident,
    its first report), so that a citizen can add their support instead of reporting it again."""
    radius = c.cfg.dispatch.merge_radius_m
    dlat = radius / 111_000
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    with c.readers() as s:
        incs = s.scalars(
            select(Incident).where(
                Incident.type == service_code, Incident.state.in_(OPEN_STATES),
                Incident.lat.between(lat - dlat, lat + dlat), Incident.lon.between(long - dlon, long + dlon),
            )
        ).all()  # fmt: skip
        out = []
        for inc in sorted(incs, key=lambda i: distance_m(i.lon, i.lat, long, lat)):
            if distance_m(inc.lon, inc.lat, long, lat) > radius:
                continue
            first = s.scalars(
                select(CitizenReport).where(CitizenReport.incident_id == inc.id).order_by(CitizenReport.at)
            ).first()
            if first is not None:
                out.append(_to_request(c, s, first, inc))
    return render(_dump(out), fmt, "service_requests", "request")


@router.post(
    "/requests/{request_id}/support.{fmt}",
    response_model=list[ServiceRequest],
    dependencies=[Depends(citizen_rate_limit), Depends(jurisdiction)],
)
def support_request(request_id: str, fmt: Fmt, c: ApiContext = Depends(ctx)):
    """CityOps: "add my support" to an open report (instead of filing a duplicate)."""
    c.commands.support(request_id)
    c.publish()
    return get_request(request_id, fmt, c)


@router.post(
    "/requests/{request_id}/rating.{fmt}",
    response_model=list[ServiceRequest],
    dependencies=[Depends(citizen_rate_limit), Depends(jurisdiction)],
)
def rate_request(request_id: str, fmt: Fmt, body: Rating, c: ApiContext = Depends(ctx)):
    """CityOps: rate the handling 1-5 with the rating secret given at submission."""
    c.commands.rate(request_id, body.secret, body.rating, body.comment)
    c.publish()
    return get_request(request_id, fmt, c)
