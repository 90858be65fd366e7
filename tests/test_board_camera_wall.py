"""The camera wall takes each tile's picture from the incident event's ``camera_id`` (the contract),
not from how the vision worker names its evidence files: a camera id may contain ``_``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.camera_wall import latest_pictures
from dispatch.outbox import to_message
from dispatch.store import Incident, IncidentEventRow
from streams.schemas import IncidentEvent

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def event(iid: int, camera: str | None, evidence: str, at: datetime) -> IncidentEvent:
    return IncidentEvent(
        incident_id=iid, version=1, action="created", state="new", type="illegal_parking", lon=118.2,
        lat=39.65, camera_id=camera, evidence=evidence, at=at, opened_at=at,
    )  # fmt: skip


def test_camera_ids_with_underscores_get_their_picture():
    incidents = [
        event(1, "gate_3", "evidence/gate_3_pavement_7_a.jpg", T0),
        event(2, "gate_3", "evidence/gate_3_pavement_9_b.jpg", T0 + timedelta(seconds=5)),
        event(4, "gate", "evidence/gate_3_pavement_1_c.jpg", T0 - timedelta(seconds=5)),
        event(3, None, "photos/20261125/c.jpg", T0),  # a citizen report: no camera
    ]
    got = latest_pictures(incidents[::-1], b"key")  # the newest wins, whatever the order
    assert {cam: url.split("?")[0] for cam, url in got.items()} == {
        "gate_3": "/evidence/evidence/gate_3_pavement_9_b.jpg",
        "gate": "/evidence/evidence/gate_3_pavement_1_c.jpg",
    }
    assert all("&sig=" in url for url in got.values())  # signed: camera pictures are for staff


def test_outbox_events_carry_the_camera_and_zone():
    inc = Incident(
        id=4, type="illegal_parking", state="new", cell=None, lon=118.2, lat=39.65, camera_id="gate_3",
        zone_id="pavement", count=1, evidence="evidence/gate_3_x.jpg", opened_at=T0, updated_at=T0,
    )  # fmt: skip
    row = IncidentEventRow(incident_id=4, version=1, action="created", to_state="new", actor="system",
                           note="", extra={}, at=T0)  # fmt: skip
    msg = to_message(row, inc)
    assert (msg.camera_id, msg.zone_id) == ("gate_3", "pavement")
