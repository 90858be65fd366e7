import json
from datetime import UTC, datetime

import pytest

from streams.schemas import (
    SCHEMA_VERSIONS,
    CameraHealth,
    Detection,
    IncidentEvent,
    MalformedMessage,
    decode,
    encode,
)

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def det(**kw):
    base = dict(
        id="cam-1:z:illegal_parking:run:3:12.0",
        type="illegal_parking",
        camera_id="cam-1",
        zone_id="z",
        track_id=3,
        lon=118.19,
        lat=39.66,
        confidence=0.8,
        bbox=(1, 2, 30, 40),
        dwell_s=61.5,
        observed_at=NOW,
        evidence="evidence/x.jpg",
    )
    return Detection(**{**base, **kw})


MESSAGES = [
    det(),
    IncidentEvent(
        incident_id=7,
        version=2,
        action="assigned",
        state="dispatched",
        type="illegal_parking",
        cell="130203001001001",
        lon=118.19,
        lat=39.66,
        assignee="insp-a",
        detection_id="d1",
        count=1,
        camera_id="gate_3",
        zone_id="pavement",
        at=NOW,
        opened_at=NOW,
    ),
    CameraHealth(
        camera_id="cam-1", state="online", fps=4.9, frames=120, skipped_frames=80, last_frame_at=NOW, at=NOW
    ),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: m.kind)
def test_round_trip(msg):
    fields = encode(msg)
    assert fields["v"] == str(SCHEMA_VERSIONS[msg.kind]) and fields["kind"] == msg.kind
    assert decode(fields) == msg
    # as redis-py returns them without decode_responses
    assert decode({k.encode(): v.encode() for k, v in fields.items()}) == msg


def fields_with(**data_changes):
    f = encode(det())
    body = json.loads(f["data"])
    body.update(data_changes)
    f["data"] = json.dumps(body)
    return f


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"kind": "detection", "v": "1"}, "missing field"),
        ({**encode(det()), "kind": "weather"}, "unknown kind"),
        ({**encode(det()), "v": "99"}, "unsupported schema version"),
        ({**encode(det()), "data": "{not json"}, "not JSON"),
        ({**encode(det()), "data": "[1, 2]"}, "must be an object"),
        (fields_with(lat=123.0), "lat"),
        (fields_with(observed_at="yesterday"), "observed_at"),
        (fields_with(surprise=1), "surprise"),
        (fields_with(id=""), "id"),
        ({**encode(MESSAGES[2]), "kind": "detection"}, "kind matches"),
    ],
)
def test_malformed_rejected(fields, reason):
    with pytest.raises(MalformedMessage, match=reason):
        decode(fields)


def test_messages_are_immutable():
    with pytest.raises(Exception):  # noqa: B017 (pydantic raises ValidationError for frozen models)
        det().type = "other"


def test_incident_events_written_before_v2_still_read():
    """v2 added camera_id and zone_id; a v1 entry (an older writer, no such fields) decodes with None."""
    body = json.loads(encode(MESSAGES[1])["data"])
    del body["camera_id"], body["zone_id"], body["source"]
    old = decode({"kind": "incident", "v": "1", "data": json.dumps(body)})
    assert old.camera_id is None and old.source is None and old.incident_id == 7
    with pytest.raises(MalformedMessage, match="reads 1 to 4"):
        decode({"kind": "incident", "v": "5", "data": json.dumps(body)})


def test_incident_events_written_before_v4_still_read():
    """v4 added the evidence ``clip``; a v3 entry (no such field) decodes with None."""
    body = json.loads(encode(MESSAGES[1])["data"])
    del body["clip"]
    old = decode({"kind": "incident", "v": "3", "data": json.dumps(body)})
    assert old.clip is None and old.incident_id == 7
