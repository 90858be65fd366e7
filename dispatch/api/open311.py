"""Citizen reports shaped on Open311 GeoReport v2: services, requests, status, plus rating."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cityops.taxonomy import violation_types
from dispatch.api.deps import ApiContext, citizen_rate_limit, ctx
from dispatch.lifecycle import OPEN_STATES, State
from dispatch.sla import deadlines, targets_for
from dispatch.store import Incident, ProcessedDetection
from dispatch.uploads import UploadError, store_photo
from streams.schemas import Detection

router = APIRouter(prefix="/open311/v2", tags=["citizen (Open311 GeoReport v2)"])

STATUS_NOTES = {
    State.NEW: "received", State.DISPATCHED: "sent to the grid inspector",
    State.ESCALATED: "escalated to a supervisor", State.ACCEPTED: "accepted by the inspector",
    State.ON_SITE: "inspector on site", State.RESOLVED: "handled", State.VERIFIED: "handled and verified",
    State.CLOSED: "closed", State.REJECTED: "not accepted", State.DUPLICATE: "merged with another report",
    State.CHECKING: "being checked on site", State.FILED: "accepted as a case",
    State.RETURNED: "being sent to the right department",
}  # fmt: skip


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: str = "realtime"
    keywords: str
    group: str


class RequestCreated(BaseModel):
    service_request_id: str
    token: str = Field(description="Keep it: needed to rate the handling later.")
    service_notice: str
    merged_into: int | None = Field(
        None, description="CityOps: the open incident nearby this report was merged into (else a new one)."
    )
    photo_problem: str | None = Field(
        None, description="CityOps: why the photo could not be kept (the report was recorded without it)."
    )


class ServiceRequest(BaseModel):
    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str
    state: str = Field(description="CityOps: the incident's state code (new, dispatched, ... closed).")
    service_code: str
    service_name: str
    description: str
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime
    lat: float
    long: float
    media_url: str | None
    rating: int | None


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=8, max_length=128)
    rating: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


@router.get("/services.json", response_model=list[Service])
def services():
    return [
        Service(
            service_code=t.code,
            service_name=f"{t.zh} / {t.en}",
            description=t.en,
            keywords=t.zh,
            group="city management",
        )
        for t in violation_types().values()
    ]


def _to_request(c: ApiContext, report: ProcessedDetection, inc: Incident) -> ServiceRequest:
    vt = violation_types()[inc.type]
    return ServiceRequest(
        service_request_id=report.detection_id,
        status="open" if inc.state in OPEN_STATES else "closed",
        status_notes=STATUS_NOTES.get(inc.state, inc.state),
        state=inc.state,
        service_code=inc.type,
        service_name=f"{vt.zh} / {vt.en}",
        description=inc.description,
        requested_datetime=report.at,
        updated_datetime=inc.updated_at,
        expected_datetime=deadlines(inc, targets_for(inc.type, c.cfg.sla))["resolve"],
        lat=inc.lat,
        long=inc.lon,
        media_url=f"/{inc.evidence}" if inc.evidence and inc.evidence.startswith("photos/") else None,
        rating=report.rating,
    )


@router.post(
    "/requests.json",
    response_model=list[RequestCreated],
    status_code=201,
    dependencies=[Depends(citizen_rate_limit)],
)
def create_request(
    service_code: str = Form(..., max_length=64),
    lat: float = Form(..., ge=-90, le=90),
    long: float = Form(..., ge=-180, le=180),
    description: str = Form("", max_length=2000),
    media: UploadFile | None = File(None),
    c: ApiContext = Depends(ctx),
):
    if service_code not in violation_types():
        raise HTTPException(422, f"unknown service_code {service_code!r}; see GET /open311/v2/services.json")
    c.check_in_district(long, lat)
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
    token = secrets.token_urlsafe(18)
    det = Detection(
        id=request_id, source="citizen", type=service_code, lon=long, lat=lat, observed_at=c.commands.clock(),
        evidence=photo, description=description,
    )  # fmt: skip
    res = c.intake.handle(det, token=token)
    c.publish()
    notice = (
        "thank you: your report was received"
        if res.created
        else f"merged with an open report nearby (#{res.incident_id})"
    )
    return [
        RequestCreated(
            service_request_id=request_id,
            token=token,
            service_notice=notice + (f"; {photo_problem}" if photo_problem else ""),
            merged_into=None if res.created else res.incident_id,
            photo_problem=photo_problem,
        )
    ]


@router.get("/requests/{request_id}.json", response_model=list[ServiceRequest])
def get_request(request_id: str, c: ApiContext = Depends(ctx)):
    with c.readers() as s:
        report = s.get(ProcessedDetection, request_id)
        if report is None or report.token_hash is None:
            raise HTTPException(404, f"no request {request_id!r}")
        return [_to_request(c, report, s.get(Incident, report.incident_id))]


def _utc(value: datetime, name: str, tz: ZoneInfo) -> datetime:
    """A query time in UTC; one without a time zone is taken in the city's."""
    try:
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    except OverflowError:
        raise HTTPException(422, f"{name} {value.isoformat()} is out of range") from None


@router.get("/requests.json", response_model=list[ServiceRequest])
def list_requests(
    service_code: str | None = Query(None, max_length=64),
    status: str | None = Query(None, pattern="^(open|closed)$"),
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    c: ApiContext = Depends(ctx),
):
    q = (
        select(ProcessedDetection, Incident)
        .join(Incident, Incident.id == ProcessedDetection.incident_id)
        .where(ProcessedDetection.token_hash.is_not(None))
    )
    if service_code:
        q = q.where(Incident.type == service_code)
    if status:
        q = q.where(
            Incident.state.in_(OPEN_STATES) if status == "open" else Incident.state.not_in(OPEN_STATES)
        )
    if start_date:
        q = q.where(ProcessedDetection.at >= _utc(start_date, "start_date", c.commands.tz))
    if end_date:
        q = q.where(ProcessedDetection.at <= _utc(end_date, "end_date", c.commands.tz))
    with c.readers() as s:
        rows = s.execute(q.order_by(ProcessedDetection.at.desc()).limit(limit)).all()
        return [_to_request(c, rep, inc) for rep, inc in rows]


@router.post(
    "/requests/{request_id}/rating.json",
    response_model=list[ServiceRequest],
    dependencies=[Depends(citizen_rate_limit)],
)
def rate_request(request_id: str, body: Rating, c: ApiContext = Depends(ctx)):
    """Rate the handling 1-5 (an extension of GeoReport v2): needs the token given at submission."""
    c.commands.rate(request_id, body.token, body.rating, body.comment)
    c.publish()
    return get_request(request_id, c)
