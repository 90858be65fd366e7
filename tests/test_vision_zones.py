"""Exclude zones (parking allowed) and motion masks, as Frigate has them.

Pure parts (config errors, geometry) need nothing; the footage tests build clips from
../shared/media/car-detection.mp4 (an overhead parking lot, 768x432, 12.5 fps) and run the
weight-free backend, which needs no weights: a marked parking row beside a no-parking area.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from cityops.config import CameraConfig, ConfigError, MotionMask, ZoneConfig
from tests.conftest import SHARED
from vision.clips import write_clip
from vision.detectors.base import Box
from vision.detectors.motion import MotionDetector
from vision.motion_gate import MotionGate
from vision.pipeline import CameraPipeline
from vision.rules import CameraRules
from vision.sources import VideoSource
from vision.tracking import Track
from vision.zones import Zone, ZoneError, check_zones, exempt, mask_image

LOT = SHARED / "media" / "car-detection.mp4"
needs_lot = pytest.mark.skipif(not LOT.exists(), reason="../shared/media/car-detection.mp4 absent")
NO_PARKING = {
    "id": "no-parking",
    "polygon": [[0, 0], [768, 0], [768, 432], [0, 432]],
    "rules": ["illegal_parking"],
}
ROW = {"id": "row", "kind": "exclude", "polygon": [[0, 0], [500, 0], [500, 432], [0, 432]]}


# -- config --------------------------------------------------------------------------------------------
def test_a_zone_without_rules_is_refused_with_a_hint_to_exclude():
    with pytest.raises(ValueError, match="kind: exclude"):
        ZoneConfig(id="z", polygon=[[0, 0], [10, 0], [10, 10]], rules=[])
    with pytest.raises(ValueError, match="kind: exclude"):
        ZoneConfig(id="z", polygon=[[0, 0], [10, 0], [10, 10]])


def test_an_exclude_zone_takes_no_dwell_settings_and_only_known_rules():
    with pytest.raises(ValueError, match="dwell_s: only for zones that enforce rules"):
        ZoneConfig(**ROW, dwell_s=30)
    with pytest.raises(ValueError, match="unknown rule"):
        ZoneConfig(**ROW, rules=["parking_allowed"])
    with pytest.raises(ValueError, match="kind"):
        ZoneConfig(**{**ROW, "kind": "allow"})
    z = ZoneConfig(**ROW)
    assert z.exempts("illegal_parking") and z.exempts("exposed_rubbish")  # no rules named: all
    only = ZoneConfig(**ROW, rules=["illegal_parking"])
    assert only.exempts("illegal_parking") and not only.exempts("exposed_rubbish")
    assert not ZoneConfig(**NO_PARKING).exempts("illegal_parking")


def test_motion_masks_are_outlines_checked_like_zones():
    cam = CameraConfig(
        id="c", source="x.mp4", lon=0, lat=0, motion_masks=[{"polygon_norm": [[0, 0], [0.5, 0], [0.5, 0.5]]}]
    )
    assert cam.motion_masks[0].pixels(200, 100) == [(0, 0), (100, 0), (100, 50)]
    with pytest.raises(ValueError, match="polygon_norm"):
        MotionMask(polygon=[[0, 0], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match="outline once"):
        MotionMask()
    with pytest.raises(ZoneError, match="motion mask 'clock' has point"):
        check_zones([], 768, 432, [MotionMask(name="clock", polygon=[[700, 0], [900, 0], [900, 50]])])


def test_a_config_file_with_a_zone_and_no_rules_names_the_field(tmp_path):
    from cityops.config import load_config

    f = tmp_path / "c.yaml"
    f.write_text(
        "cameras:\n  - {id: c, source: x.mp4, lon: 0, lat: 0, zones: "
        "[{id: row, polygon: [[0, 0], [10, 0], [10, 10]], rules: []}]}\n"
    )
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.zones\[0\].*kind: exclude"):
        load_config(f)


# -- geometry --------------------------------------------------------------------------------------------
def zone(cfg: dict) -> Zone:
    return Zone.from_config(ZoneConfig(**cfg), (768, 432))


def test_exempt_at_the_anchor_for_the_named_rules_and_classes():
    row = zone({**ROW, "rules": ["illegal_parking"], "classes": ["car"]})
    in_row = Box(300, 100, 480, 400, "car", 0.9)  # anchor (390, 400)
    straddling = Box(420, 100, 600, 400, "car", 0.9)  # most of it in the row, anchor (510, 400) outside
    assert exempt(in_row, "illegal_parking", [row])
    assert not exempt(straddling, "illegal_parking", [row])
    assert not exempt(in_row, "exposed_rubbish", [row])  # the row exempts parking only
    assert not exempt(Box(300, 100, 480, 400, "truck", 0.9), "illegal_parking", [row])  # cars only
    assert not exempt(in_row, "illegal_parking", [])


def test_mask_image_scales_normalised_outlines():
    m = mask_image([MotionMask(polygon_norm=[[0.5, 0], [1, 0], [1, 1], [0.5, 1]])], 100, 40)
    assert m.shape == (40, 100) and m[:, :49].max() == 0 and m[:, 51:].min() == 255
    assert mask_image([], 100, 40) is None


def test_rules_ignore_objects_standing_in_an_exclude_zone():
    zones = [zone({**NO_PARKING, "dwell_s": 2}), zone(ROW)]
    rules = CameraRules(zones)
    assert [r.zone.id for r in rules.rules] == ["no-parking"]  # the exclude zone enforces nothing
    parked, stopped = Box(100, 100, 260, 400, "car", 0.9), Box(560, 60, 740, 345, "car", 0.9)
    fired = []
    for i in range(20):
        t = i * 0.2
        fired += rules.update([Track(1, parked, t), Track(2, stopped, t)], t, datetime(2026, 1, 1, 10).time())
    assert [v.track_id for v in fired] == [2]


# -- real footage ----------------------------------------------------------------------------------------
def lot_frames() -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(str(LOT)), []
    while (got := cap.read())[0]:
        out.append(got[1])
    return out


def quiet(frames: list[np.ndarray], seconds: float) -> list[np.ndarray]:
    """The real empty lot (frames 114-177 forward and back: sensor noise, nothing moving)."""
    seq, out = frames[114:178] + frames[177:113:-1], []
    while len(out) < seconds * 12.5:
        out += seq
    return [f.copy() for f in out[: int(seconds * 12.5)]]


@pytest.fixture(scope="module")
def parking_row(tmp_path_factory):
    """55 s: the grey and the red car really drive in (frames 178-207) and park on the left; their
    pixels from frame 208 are kept on the empty lot from then on. From 10 s the white car (its
    pixels from frame 80, moved 300 px right) stands on the right, outside the row, to the end."""
    f = lot_frames()
    grey, red, white = f[208][80:415, 78:255], f[208][110:400, 308:482], f[80][60:345, 262:442]
    head = quiet(f, 3) + f[178:208]
    out = list(head)
    for i, fr in enumerate(quiet(f, 52)):
        fr[80:415, 78:255], fr[110:400, 308:482] = grey, red
        if (len(head) + i) / 12.5 >= 10:
            fr[60:345, 560:740] = white
        out.append(fr)
    return write_clip(tmp_path_factory.mktemp("row") / "parking-row.mp4", out, 12.5)


def run_weight_free(clip, zones, tmp_path, masks=()):
    cam = CameraConfig(
        id="lot", source=str(clip), lon=0, lat=0, fps=5, tracker="iou", motion_masks=list(masks),
        zones=[{**z, **({} if z.get("kind") else {"dwell_s": 20, "min_area": 3000, "classes": ["object"]})} for z in zones],
    )  # fmt: skip
    pipe = CameraPipeline(
        cam, MotionDetector(fps=5), tmp_path, ZoneInfo("Asia/Shanghai"), "t",
        clock_origin=datetime(2026, 1, 1, 2, tzinfo=UTC),
    )  # fmt: skip
    return [(t, d) for fr, t in VideoSource(str(clip), fps=5) for d in pipe.process(fr, t)]


@needs_lot
def test_cars_in_the_parking_row_raise_nothing_a_car_beside_it_raises_one(tmp_path, parking_row):
    found = run_weight_free(parking_row, [NO_PARKING, ROW], tmp_path)
    assert len(found) == 1, [(t, d.bbox) for t, d in found]
    t, d = found[0]
    x1, y1, x2, y2 = d.bbox
    assert d.zone_id == "no-parking" and 30 <= t <= 40  # stood from 10 s; 20 s dwell
    assert 560 <= (x1 + x2) / 2 <= 740


@needs_lot
def test_without_the_row_every_parked_car_is_an_incident(tmp_path, parking_row):
    """The same clip with no exclude zone: the two cars in the row count too (the row does the work)."""
    found = run_weight_free(parking_row, [NO_PARKING], tmp_path)
    assert len(found) == 3, [(t, d.bbox) for t, d in found]


@needs_lot
def test_a_motion_mask_hides_a_car_from_the_weight_free_backend(tmp_path, parking_row):
    mask = MotionMask(name="right", polygon=[[520, 0], [768, 0], [768, 432], [520, 432]])
    found = run_weight_free(parking_row, [NO_PARKING], tmp_path, [mask])
    assert len(found) == 2 and all((d.bbox[0] + d.bbox[2]) / 2 < 500 for _, d in found)


@needs_lot
def test_the_gate_ignores_motion_inside_a_mask():
    """Real frames: the white car drives through the middle of the lot (frames 78-84, where the
    camera's exposure is steady; while the car enters it shifts the whole picture)."""
    f = lot_frames()
    everywhere = np.full(f[0].shape[:2], 255, np.uint8)
    middle = np.zeros_like(everywhere)
    middle[:, 200:520] = 255  # where the car drives
    plain, masked = MotionGate([everywhere]), MotionGate([everywhere], ignore=middle)
    for g in (plain, masked):
        assert g.should_detect(f[78], 0.0)  # the first frame always runs
    assert plain.should_detect(f[80], 0.16)
    assert not masked.should_detect(f[80], 0.16)
    # a tracked object's box inside the mask does not make it run either: its motion is ignored
    assert not masked.should_detect(f[82], 0.32, [Box(250, 0, 480, 432, "car", 0.9)])
