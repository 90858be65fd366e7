"""Device alarm payloads: validation, signatures and the Detection each becomes (pure functions).

An alarm is a JSON object::

    {"device_id": "gas-0042", "kind": "gas", "value": 812.0, "time": "2026-11-26T00:43:00+08:00",
     "id": "0042-17", "state": "alarm"}

``id`` (optional) is the device's own message id; without it one is derived from the content, so a
message delivered twice (MQTT QoS 1, an HTTP retry) is the same detection and dispatch stores it
once. ``state`` is ``alarm`` (default) or ``clear``: a clear is recorded on the open incident.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iot.kinds import INCIDENT_TYPE, OFFLINE_TYPE, DeviceKind
from streams.schemas import Detection

DEVICE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SIGNATURE_HEADER = "X-CityOps-Signature"


class AlarmRefused(ValueError):
    """An alarm that cannot be taken; ``str()`` is the reason (logged and dead-lettered)."""


class AlarmPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    device_id: Annotated[str, Field(pattern=DEVICE_ID)]
    kind: DeviceKind
    value: float | None = Field(None, allow_inf_nan=False)
    time: datetime
    id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.:-]{1,48}$")] = None
    state: Literal["alarm", "clear"] = "alarm"

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2026-11-26T00:43:00+08:00")
        return v

    @property
    def message_id(self) -> str:
        if self.id:
            return self.id
        key = json.dumps([self.device_id, self.kind, self.state, self.time.isoformat(), self.value])
        return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class DeviceInfo:
    """What the bridge and the webhook need of a registered device (a snapshot of its row)."""

    id: str
    kind: str
    lon: float
    lat: float
    address: str = ""
    protects: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    heartbeat_s: int = 0
    secret: str = ""


def parse_alarm(raw: bytes, *, max_bytes: int, topic_device: str | None = None) -> AlarmPayload:
    """The validated payload, or :class:`AlarmRefused` naming what is wrong."""
    if len(raw) > max_bytes:
        raise AlarmRefused(f"payload of {len(raw)} bytes is larger than the {max_bytes} allowed")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AlarmRefused(f"payload is not JSON ({str(exc)[:120]})") from None
    if not isinstance(body, dict):
        raise AlarmRefused(f"payload must be a JSON object, got {type(body).__name__}")
    try:
        alarm = AlarmPayload.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise AlarmRefused(f"invalid alarm: {problems}") from None
    if topic_device is not None and alarm.device_id != topic_device:
        raise AlarmRefused(f"device_id {alarm.device_id!r} differs from the topic's device {topic_device!r}")
    return alarm


def check_device(alarm: AlarmPayload, device: DeviceInfo | None) -> DeviceInfo:
    if device is None:
        raise AlarmRefused(f"unknown device {alarm.device_id!r} (not in the registry)")
    if device.kind != alarm.kind:
        raise AlarmRefused(
            f"device {device.id!r} is registered as {device.kind}, the alarm says {alarm.kind}"
        )
    return device


def sign(secret: str, body: bytes) -> str:
    """The ``X-CityOps-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256 with the secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and bool(secret) and hmac.compare_digest(sign(secret, body), header.strip())


def _describe(device: DeviceInfo) -> str:
    parts = [device.address, f"protects {device.protects}" if device.protects else ""]
    if device.contact_name or device.contact_phone:
        parts.append(f"call {device.contact_name} {device.contact_phone}".strip())
    return "; ".join(p for p in parts if p)


def to_detection(alarm: AlarmPayload, device: DeviceInfo) -> Detection:
    """The detection dispatch turns into (or records on) an incident; its id is stable per message."""
    kind = DeviceKind(alarm.kind)
    reading = f"; value {alarm.value:g}" if alarm.value is not None else ""
    return Detection(
        id=f"iot:{device.id}:{alarm.message_id}",
        source="device",
        type=INCIDENT_TYPE[kind],
        lon=device.lon,
        lat=device.lat,
        observed_at=alarm.time,
        description=(f"{kind.value} {alarm.state}: {_describe(device)}{reading}")[:2000],
        device_id=device.id,
        device_state=alarm.state,
        value=alarm.value,
    )


def offline_detection(device: DeviceInfo, last_seen: datetime, now: datetime) -> Detection:
    """A low-severity 'device offline' finding, one per silence (its id carries the last contact)."""
    silent = int((now - last_seen).total_seconds())
    return Detection(
        id=f"iot:{device.id}:offline:{int(last_seen.timestamp())}",
        source="device",
        type=OFFLINE_TYPE,
        lon=device.lon,
        lat=device.lat,
        observed_at=now,
        description=(
            f"{device.kind} device {device.id} silent for {silent} s (heartbeat every "
            f"{device.heartbeat_s} s): {_describe(device)}"
        )[:2000],
        device_id=device.id,
    )
