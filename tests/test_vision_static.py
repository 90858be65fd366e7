"""Rubbish and stalls a detector can see: the static-object analysis beside a COCO detector.

Frames are built from ../shared/media/vtest.avi (vision.clips): a real garment cut from frame 0 is
left on the pavement; for a stall, the real man cut from frame 0 stands beside it. A new static
object the detector does not explain, with nobody beside it, is exposed rubbish; with a person
staying beside it, street vending; people walking by raise nothing.
"""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cityops.config import CameraConfig, DetectorConfig, ZoneConfig
from tests.conftest import SHARED
from tests.helpers import CLOTH_AT, MAN_AT, VTEST, media_frames, vtest_props
from vision.clips import left_object, paste_object
from vision.detectors import make_detector
from vision.detectors.base import Box
from vision.pipeline import CameraPipeline
from vision.rules.vending import StreetVending
from vision.static_objects import StaticObjects
from vision.tracking import Track
from vision.zones import Zone, ZoneError

FPS = 2.5
YOLO11N = SHARED / "models" / "yolo11n_int8_openvino_model"
YF = SHARED / "models" / "yolo-fastest-1.1"
needs_vtest = pytest.mark.skipif(not VTEST.exists(), reason="../shared/media/vtest.avi absent")
PAVEMENT = {
    "id": "pavement",
    "polygon": [[330, 215], [768, 215], [768, 430], [330, 430]],
    "rules": ["exposed_rubbish", "street_vending"],
    "dwell_s": 12,
    "min_area": 300,
}
CLOTH_BOX = (CLOTH_AT[0], CLOTH_AT[1], CLOTH_AT[0] + 96, CLOTH_AT[1] + 38)
MAN_BOX = (MAN_AT[0], MAN_AT[1], MAN_AT[0] + 44, MAN_AT[1] + 98)


def left(seconds: float, *, man: bool):
    """vtest.avi at FPS with the garment left on the pavement at 2 s (and the man beside it)."""
    p = vtest_props()
    frames = left_object(
        media_frames(VTEST, FPS, seconds), *p["cloth"], CLOTH_AT, int(2 * FPS), background=p["bg"]
    )
    for i, f in enumerate(frames):
        if man and i >= 2 * FPS:
            sway = (0, 1, 2, 1)[int(i / FPS) % 4]  # he shifts his weight a little
            f = paste_object(f, *p["man"], (MAN_AT[0] + sway, MAN_AT[1]), p["bg"])
        yield f


def overlaps(box, ref) -> bool:
    return box[0] < ref[2] and ref[0] < box[2] and box[1] < ref[3] and ref[1] < box[3]


@needs_vtest
@pytest.mark.media
def test_new_static_objects_leave_people_and_named_things_to_the_detector():
    """The boxes a detector would give are written out here (its person box on the man) so that
    the fusion itself is what is tested; the detectors run in the tests below."""
    st = StaticObjects(fps=FPS, named=frozenset({"suitcase"}))
    person = Box(*MAN_BOX, "person", 0.9)
    for i, f in enumerate(left(14, man=True)):
        st.update(f)
        fused = st.fuse([person] if i >= 2 * FPS else [])
    objs = [b for b in fused if b.cls == "object"]
    assert [b for b in objs if overlaps(b.as_tuple(), CLOTH_BOX)] and all(b.conf == 1.0 for b in objs)
    # nothing of him is an object: what reaches into his box is the garment he stands beside
    assert all(b.x2 <= MAN_BOX[0] + 20 for b in objs if overlaps(b.as_tuple(), CLOTH_BOX))
    assert not [b for b in objs if overlaps(b.as_tuple(), MAN_BOX) and not overlaps(b.as_tuple(), CLOTH_BOX)]
    # without his box, his still pixels would be an object too (shown on a fresh analysis)
    bare = StaticObjects(fps=FPS)
    for f in left(14, man=True):
        bare.update(f)
    assert any(overlaps(b.as_tuple(), MAN_BOX) and b.x2 > MAN_BOX[0] + 30 for b in bare.fuse([]))
    # a box of a class a zone counts (here 'suitcase') speaks for the garment; one of a class no
    # zone counts ('surfboard', as YOLO11n calls it lying flat) gives way to the 'object'
    suitcase, surfboard = Box(*CLOTH_BOX, "suitcase", 0.6), Box(*CLOTH_BOX, "surfboard", 0.5)

    def at_cloth(boxes: list[Box]) -> list[str]:
        return [b.cls for b in boxes if b.cls != "person" and overlaps(b.as_tuple(), CLOTH_BOX)]

    assert at_cloth(st.fuse([person, suitcase])) == ["suitcase"]
    assert at_cloth(st.fuse([person, surfboard])) == ["object"]


DETECTORS = {
    "yolo11n": (
        {"backend": "ultralytics", "model": str(YOLO11N), "imgsz": 640},
        YOLO11N.exists(),
        ("ultralytics", "openvino"),
    ),
    "yolo-fastest": (
        {
            "backend": "darknet",
            "cfg": str(YF / "yolo-fastest-1.1-xl.cfg"),
            "model": str(YF / "yolo-fastest-1.1-xl.weights"),
            "imgsz": 320,
        },
        YF.exists(),
        (),
    ),
}


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def detector_cfg(request):
    cfg, present, modules = DETECTORS[request.param]
    if not present or not VTEST.exists():
        pytest.skip(f"../shared ({request.param} model, vtest.avi) absent")
    for m in modules:
        pytest.importorskip(m, reason="needs cityops[ultralytics]")
    return cfg


def run(frames, detector_cfg, tmp_path: Path, **camera) -> list:
    cam = CameraConfig.model_validate(
        {"id": "campus", "source": "-", "lon": 0, "lat": 0, "fps": FPS, "zones": [PAVEMENT], "tracker": "iou"}
        | camera
    )
    pipe = CameraPipeline(
        cam,
        make_detector(DetectorConfig(**detector_cfg), tmp_path, FPS),
        tmp_path,
        ZoneInfo("Asia/Shanghai"),
        "t",
        clock_origin=datetime(2026, 1, 1, 2, tzinfo=UTC),
        persist_background=False,
    )
    assert (pipe.static is not None) == camera.get("static_objects", True)  # on by default: the zone
    # enforces rubbish and vending
    return [(round(i / FPS, 1), d) for i, f in enumerate(frames) for d in pipe.process(f, i / FPS)]


@pytest.mark.media
def test_a_left_object_with_nobody_beside_it_is_exposed_rubbish(tmp_path, detector_cfg):
    found = run(left(30, man=False), detector_cfg, tmp_path)
    assert [d.type for _, d in found] == ["exposed_rubbish"], [(t, d.type, d.bbox) for t, d in found]
    t, d = found[0]
    assert overlaps(d.bbox, CLOTH_BOX) and d.dwell_s >= 12 and t >= 14  # later while people pass by


@pytest.mark.media
def test_a_left_object_with_a_person_staying_beside_it_is_a_stall(tmp_path, detector_cfg):
    found = run(left(30, man=True), detector_cfg, tmp_path)
    assert [d.type for _, d in found] == ["street_vending"], [(t, d.type, d.bbox) for t, d in found]
    assert overlaps(found[0][1].bbox, MAN_BOX)  # the event is the vendor's stay


@pytest.mark.media
def test_a_vendor_keeps_his_dwell_when_passers_by_take_his_track_id(tmp_path, detector_cfg):
    """At a 30 s dwell people walking past the man merge with his box and walk off with his track id
    (IoU tracker); his clock used to restart each time (missed). It now stays at his place and his
    new id takes it over: one stall, raised for his stay."""
    found = run(left(45, man=True), detector_cfg, tmp_path, zones=[{**PAVEMENT, "dwell_s": 30}])
    assert [d.type for _, d in found] == ["street_vending"], [(t, d.type, d.bbox) for t, d in found]
    t, d = found[0]
    assert overlaps(d.bbox, MAN_BOX) and d.dwell_s >= 30 and t <= 40


@pytest.mark.media
def test_people_walking_by_raise_nothing(tmp_path, detector_cfg):
    assert run(media_frames(VTEST, FPS, 30), detector_cfg, tmp_path) == []


@pytest.mark.media
def test_switched_off_the_left_object_is_not_seen(tmp_path, detector_cfg):
    assert run(left(30, man=False), detector_cfg, tmp_path, static_objects=False) == []


# -- configuration ---------------------------------------------------------------------------------
def test_static_objects_default_on_where_rubbish_or_vending_is_enforced():
    zone = {"id": "z", "polygon": [[0, 0], [10, 0], [10, 10]], "dwell_s": 5}
    parking = CameraConfig(id="c", source="x", lon=0, lat=0, zones=[{**zone, "rules": ["illegal_parking"]}])
    dumping = CameraConfig(id="c", source="x", lon=0, lat=0, zones=[{**zone, "rules": ["exposed_rubbish"]}])
    assert not parking.uses_static_objects("ultralytics") and dumping.uses_static_objects("darknet")
    assert not dumping.uses_static_objects("motion")  # the weight-free backend is that analysis itself
    assert parking.model_copy(update={"static_objects": True}).uses_static_objects("ultralytics")
    assert not dumping.model_copy(update={"static_objects": False}).uses_static_objects("ultralytics")


@pytest.mark.skipif(not YF.exists(), reason="../shared Yolo-Fastest absent")
def test_a_zone_counting_objects_needs_the_static_analysis_beside_a_coco_detector(tmp_path):
    det = make_detector(DetectorConfig(**DETECTORS["yolo-fastest"][0]), tmp_path)
    zone = {**PAVEMENT, "rules": ["exposed_rubbish"], "classes": ["object"]}
    cam = CameraConfig(id="c", source="x", lon=0, lat=0, zones=[zone])
    CameraPipeline(cam, det, tmp_path, ZoneInfo("UTC"), "t", persist_background=False)  # fine: 'object' comes
    with pytest.raises(ZoneError, match=r"\['object'\] are never produced.*person"):
        off = cam.model_copy(update={"static_objects": False})
        CameraPipeline(off, det, tmp_path, ZoneInfo("UTC"), "t", persist_background=False)


def test_a_real_stall_model_needs_only_its_classes_in_the_zone():
    """A model trained on the user's cameras gives 'cart'; the zone names it; nothing else changes."""
    market = {
        "id": "market",
        "polygon": [[0, 0], [400, 0], [400, 400], [0, 400]],
        "rules": ["street_vending"],
    }
    market |= {"dwell_s": 10, "min_area": 10}
    rule = StreetVending(Zone.from_config(ZoneConfig(**market, classes=["person", "cart"])))
    default = StreetVending(Zone.from_config(ZoneConfig(**market)))
    vendor, cart = Box(100, 100, 140, 200, "person", 0.9), Box(150, 150, 230, 200, "cart", 0.8)
    fired, ignored = [], []
    for i in range(13):
        tracks = [Track(1, vendor, i), Track(2, cart, i)]
        fired += rule.update(tracks, float(i))
        ignored += default.update(tracks, float(i))
    assert [(v.type, v.track_id) for v in fired] == [("street_vending", 1)] and ignored == []
