"""dashboard.zone_frame: the zone editor's picture, found through the incident events' evidence
path (the contract), never by guessing evidence file names; nothing outside the evidence folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import cv2
import numpy as np

from cityops.config import CameraConfig
from dashboard.camera_wall import newest_evidence
from dashboard.zone_frame import BLANK_SIZE, current_frame, evidence_picture

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def write(path, w, h):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))


def test_the_cameras_newest_evidence_named_by_the_events(tmp_path):
    write(tmp_path / "evidence" / "20261126" / "x1.jpg", 640, 360)
    write(tmp_path / "evidence" / "20261126" / "x2.jpg", 800, 600)
    write(tmp_path / "secret.jpg", 320, 240)
    events = [
        SimpleNamespace(camera_id="gate", evidence="evidence/20261126/x1.jpg", at=T0),
        SimpleNamespace(camera_id="gate", evidence="evidence/20261126/x2.jpg", at=T0 + timedelta(seconds=5)),
        SimpleNamespace(camera_id=None, evidence="photos/20261126/p.jpg", at=T0),
    ]
    shown = newest_evidence(events)
    assert shown == {"gate": "evidence/20261126/x2.jpg"}
    cam = CameraConfig(id="gate", source="rtsp://example.invalid/stream", lon=118.2, lat=39.6)
    got = current_frame(None, tmp_path, cam, evidence=shown["gate"])
    assert (got.origin, got.size) == ("evidence", (800, 600)) and got.known
    blank = current_frame(None, tmp_path, cam, evidence=None)  # no event names one: nothing guessed
    assert (blank.origin, blank.size, blank.known) == ("none", BLANK_SIZE, False)
    for bad in ("evidence/../secret.jpg", "secret.jpg", "photos/20261126/p.jpg", "evidence/20261126/x1.png"):
        assert evidence_picture(tmp_path, bad) is None, bad
