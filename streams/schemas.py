"""Every message that crosses a CityOps stream, in one module.

A stream entry carries three fields: ``kind`` (the message type), ``v`` (its schema version) and
``data`` (the JSON body). :func:`encode` and :func:`decode` are the only ways in and out; a
malformed entry raises :class:`MalformedMessage` naming what is wrong.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cityops.clock import utcnow

#: Schema version per message kind. A reader accepts every version from 1 to the current one of a
#: kind (newer versions only add optional fields), so entries written before an upgrade still read.
SCHEMA_VERSIONS: dict[str, int] = {"detection": 2, "incident": 4, "camera_health": 1, "device_health": 1}

#: Stream names (one place, so producers and consumers cannot drift apart).
DETECTIONS = "cityops:detections"
INCIDENTS = "cityops:incidents"
CAMERA_HEALTH = "cityops:camera-health"
#: Hash: camera id -> its latest health report (JSON body); the stream above carries only changes.
CAMERA_STATE = "cityops:camera-state"
DEAD_LETTERS = "cityops:dead-letters"
DEVICE_HEALTH = "cityops:device-health"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str


BBox = Annotated[tuple[float, float, float, float], Field(description="x1, y1, x2, y2 in image pixels")]


class Detection(_Message):
    """A vision finding, a citizen report or a device alarm that may become an incident.

    Schema v2 adds ``source="device"`` with ``device_id``, ``device_state`` (an alarm raised, or the
    device saying it is clear again) and the reading ``value`` (see :mod:`iot`)."""

    kind: Literal["detection"] = "detection"
    id: Annotated[str, Field(min_length=1, max_length=128)]
    source: Literal["camera", "citizen", "device", "inspector"] = "camera"
    type: Annotated[str, Field(min_length=1, max_length=64)]
    camera_id: str | None = None
    zone_id: str | None = None
    track_id: int | None = None
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    confidence: float = Field(1.0, ge=0, le=1)
    bbox: BBox | None = None
    dwell_s: float = Field(0.0, ge=0)
    observed_at: datetime
    evidence: str | None = Field(None, description="Path of the evidence JPEG, relative to the data dir.")
    clip: str | None = Field(
        None, description="Path of an H.264 MP4 evidence clip, relative to the data dir."
    )
    description: str = Field("", max_length=2000)
    device_id: str | None = Field(None, max_length=64)
    device_state: Literal["alarm", "clear"] | None = None
    value: float | None = None
    component: str | None = Field(
        None, max_length=64, description="The registry's component (部件) it concerns."
    )


class IncidentEvent(_Message):
    """A change to an incident; ``version`` increases by one per change of the same incident.

    Schema v2 adds ``camera_id`` and ``zone_id`` (the camera and zone that raised it, if any); v3 adds
    ``source`` (camera, citizen or device) and the action ``device_clear`` (the device that raised
    it reported clear: recorded, the incident stays open); v4 adds ``clip`` (the H.264 MP4 evidence
    clip, relative to the data dir)."""

    kind: Literal["incident"] = "incident"
    incident_id: int = Field(ge=1)
    version: int = Field(ge=1)
    action: Literal["created", "merged", "transition", "assigned", "sla_breach", "rated", "device_clear"]
    state: str
    type: str
    cell: str | None = None
    lon: float
    lat: float
    assignee: str | None = None
    detection_id: str | None = None
    count: int = Field(1, ge=1)
    evidence: str | None = None
    clip: str | None = None
    camera_id: str | None = None
    zone_id: str | None = None
    source: str | None = None
    breaches: list[str] = Field(default_factory=list, description="SLA stages breached so far")
    escalated_to: str | None = None
    actor: str = "system"
    note: str = ""
    at: datetime
    opened_at: datetime


class CameraHealth(_Message):
    kind: Literal["camera_health"] = "camera_health"
    camera_id: str
    state: Literal["starting", "online", "offline", "error", "stopped"]
    fps: float = Field(0.0, ge=0)
    frames: int = Field(0, ge=0)
    skipped_frames: int = Field(0, ge=0)
    last_frame_at: datetime | None = None
    error: str | None = None
    at: datetime = Field(default_factory=utcnow)


class DeviceHealth(_Message):
    """An IoT device's state as the iot bridge sees it (the board's device layer): ``alarm`` from an
    alarm until the device reports clear, ``offline`` when silent past its heartbeat."""

    kind: Literal["device_health"] = "device_health"
    device_id: str = Field(min_length=1, max_length=64)
    device_kind: str = Field(max_length=32)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    state: Literal["ok", "alarm", "offline"]
    at: datetime = Field(default_factory=utcnow)


Message = Detection | IncidentEvent | CameraHealth | DeviceHealth
_BY_KIND: dict[str, type[_Message]] = {
    "detection": Detection,
    "incident": IncidentEvent,
    "camera_health": CameraHealth,
    "device_health": DeviceHealth,
}


class MalformedMessage(ValueError):
    """A stream entry that is not a valid CityOps message (kept in the dead-letter stream)."""


def encode(msg: Message) -> dict[str, str]:
    return {"kind": msg.kind, "v": str(SCHEMA_VERSIONS[msg.kind]), "data": msg.model_dump_json()}


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def decode(fields: dict) -> Message:
    fields = {_text(k): v for k, v in fields.items()}
    missing = [k for k in ("kind", "v", "data") if k not in fields]
    if missing:
        raise MalformedMessage(f"missing field(s) {missing}")
    kind, version = _text(fields["kind"]), _text(fields["v"])
    model = _BY_KIND.get(kind)
    if model is None:
        raise MalformedMessage(f"unknown kind {kind!r}")
    current = SCHEMA_VERSIONS[kind]
    if version not in {str(v) for v in range(1, current + 1)}:
        raise MalformedMessage(
            f"unsupported schema version {version!r} for {kind} (this build reads 1 to {current})"
        )
    try:
        body = json.loads(_text(fields["data"]))
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"data is not JSON: {exc}") from exc
    if not isinstance(body, dict) or body.get("kind", kind) != kind:
        raise MalformedMessage("data must be an object whose kind matches the entry's kind")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MalformedMessage(f"invalid {kind}: {problems}") from exc


# -- evidence labels (a file beside the evidence JPEG, not a stream message) ---------------------------
class LabelBox(BaseModel):
    """One object in an evidence frame: its class (canonical name, :mod:`vision.classes`) and box."""

    model_config = ConfigDict(extra="forbid")
    cls: Annotated[str, Field(min_length=1, max_length=64)]
    x1: float = Field(ge=0)
    y1: float = Field(ge=0)
    x2: float = Field(ge=0)
    y2: float = Field(ge=0)
    conf: float = Field(1.0, ge=0, le=1)
    track_id: int | None = None


class EvidenceLabels(BaseModel):
    """``<evidence stem>.labels.json``, written by vision beside the evidence JPEG: the clean frame
    (``frame``, no drawing on it, relative to the data dir), its size and every box the detector saw.
    The verdict loop (:mod:`dispatch.verdicts`) keeps these as the labelled example."""

    model_config = ConfigDict(extra="forbid")
    frame: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    boxes: list[LabelBox] = Field(default_factory=list)
    hit_track: int | None = None

    @staticmethod
    def path_for(evidence: str) -> str:
        """Where the labels of the evidence JPEG ``evidence`` are (relative to the data dir)."""
        stem = evidence[: -len(".jpg")] if evidence.endswith(".jpg") else evidence
        return f"{stem}.labels.json"
