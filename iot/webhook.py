"""``POST /api/v1/iot/alarms``: a device (or its vendor's cloud) sends an alarm over HTTPS.

The body is the alarm JSON (see :mod:`iot.alarms`); the header ``X-CityOps-Signature:
sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes with the device's secret. A valid alarm is
published on "cityops:detections" like an MQTT one (same detection id for the same message, so a
retried request is stored once) and answered 202. Refused requests are dead-lettered with the
reason: 413 too large, 422 not an alarm, 401 unknown device or wrong signature (one answer for
both: the caller learns nothing about which ids exist).
"""

from __future__ import annotations

import json
import logging
import re

import redis
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from dispatch.api.deps import ApiContext, ctx
from iot import devices as registry
from iot.alarms import (
    DEVICE_ID,
    SIGNATURE_HEADER,
    AlarmRefused,
    check_device,
    parse_alarm,
    signature_ok,
    to_detection,
)
from iot.kinds import DeviceKind
from streams.schemas import DEAD_LETTERS, DETECTIONS, encode

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/iot", tags=["iot devices"])


class AlarmAccepted(BaseModel):
    detection_id: str
    incident_type: str
    state: str


def _refuse(c: ApiContext, status: int, reason: str, device: str, body: bytes) -> HTTPException:
    log.warning("webhook alarm refused (%d, device %r): %s", status, device[:64], reason)
    try:
        c.r.xadd(
            DEAD_LETTERS,
            {"stream": "webhook", "entry": device[:64], "error": f"refused: {reason}",
             "f_payload": body.decode("utf-8", "replace") if len(body) <= 2048 else f"<{len(body)} bytes>"},
            maxlen=c.cfg.redis.dead_letter_maxlen, approximate=True,
        )  # fmt: skip
    except redis.RedisError as exc:
        log.error("could not dead-letter the refused alarm: %s", exc)
    return HTTPException(status, reason)


def _take(c: ApiContext, body: bytes, signature: str | None) -> AlarmAccepted:
    limit = c.cfg.iot.max_payload_bytes
    if len(body) > limit:
        raise _refuse(c, 413, f"payload of {len(body)} bytes is larger than the {limit} allowed", "", b"")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _refuse(c, 422, "payload is not JSON", "", body) from None
    device_id = doc.get("device_id") if isinstance(doc, dict) else None
    known_shape = isinstance(device_id, str) and re.fullmatch(DEVICE_ID, device_id) is not None
    device = registry.get(c.readers, device_id) if known_shape else None  # (a NUL never reaches SQL)
    if device is None or not signature_ok(device.secret, body, signature):
        reason = "unknown device" if device is None else "wrong signature"
        _refuse(c, 401, reason, str(device_id or ""), body)
        raise HTTPException(401, f"unknown device or wrong {SIGNATURE_HEADER}")
    try:
        alarm = parse_alarm(body, max_bytes=limit)
        det = to_detection(alarm, check_device(alarm, device))
    except AlarmRefused as exc:
        raise _refuse(c, 422, str(exc), device.id, body) from None
    try:
        c.r.xadd(DETECTIONS, encode(det), maxlen=c.cfg.redis.stream_maxlen, approximate=True)
    except redis.RedisError as exc:
        log.error("webhook alarm %s not published: %s", det.id, exc)
        raise HTTPException(503, "alarms cannot be taken right now; send it again shortly") from exc
    return AlarmAccepted(detection_id=det.id, incident_type=det.type, state=alarm.state)


_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["device_id", "kind", "time"],
                "properties": {
                    "device_id": {"type": "string", "pattern": DEVICE_ID},
                    "kind": {"type": "string", "enum": [k.value for k in DeviceKind]},
                    "value": {"type": "number"},
                    "time": {"type": "string", "format": "date-time", "description": "with its UTC offset"},
                    "id": {"type": "string", "description": "the device's message id (idempotency key)"},
                    "state": {"type": "string", "enum": ["alarm", "clear"], "default": "alarm"},
                },
            }
        }
    },
}


@router.post(
    "/alarms",
    openapi_extra={
        "requestBody": _BODY,
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "sha256=<hex HMAC-SHA256 of the body with the device's secret>",
            }
        ],
    },  # fmt: skip
    status_code=202,
    response_model=AlarmAccepted,
    responses={401: {"description": "unknown device or wrong signature"}, 413: {}, 422: {}, 503: {}},
)
async def post_alarm(request: Request, c: ApiContext = Depends(ctx)) -> AlarmAccepted:
    """An alarm from a registered device, signed ``X-CityOps-Signature: sha256=<HMAC-SHA256 of the
    body with the device's secret>``; published for dispatch (idempotent by the alarm's id)."""
    body = await request.body()
    return await run_in_threadpool(_take, c, body, request.headers.get(SIGNATURE_HEADER))
