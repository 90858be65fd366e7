"""What was there first: the background models start from a reference image or from the background
kept by the last run, and a whole-frame brightness change is not an object.

Frames are built from ../shared/media (vision.clips): a real grey car cut from car-detection.mp4
parked in the real empty lot, a real garment cut from vtest.avi left on its pavement, vtest.avi
brightened or darkened as auto-exposure does. The weight-free backend runs through the pipeline.
"""

import subprocess
import sys
from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from cityops.config import CameraConfig, ConfigError, DetectorConfig, load_config
from tests.conftest import ROOT
from tests.helpers import CLOTH_AT, LOT, VTEST, media_frames, vtest_props
from vision import pipeline as pipeline_module
from vision.background import BackgroundStore, read_image
from vision.clips import left_object, scale_brightness
from vision.detectors import make_detector
from vision.pipeline import CameraPipeline

FPS = 5
needs_media = pytest.mark.skipif(
    not (VTEST.exists() and LOT.exists()), reason="../shared/media (vtest.avi, car-detection.mp4) absent"
)
pytestmark = [pytest.mark.media, needs_media]

PAVEMENT = {
    "id": "pavement",
    "polygon": [[330, 215], [768, 215], [768, 430], [330, 430]],
    "rules": ["exposed_rubbish"],
    "dwell_s": 8,
    "min_area": 300,
}
LOT_ZONE = {
    "id": "no-parking",
    "polygon": [[100, 60], [740, 60], [740, 432], [100, 432]],
    "rules": ["illegal_parking"],
    "classes": ["object"],
    "dwell_s": 8,
    "min_area": 3000,
}


def pipeline(tmp_path, zone, *, persist=True, **camera) -> CameraPipeline:
    cam = CameraConfig.model_validate(
        {
            "id": "cam",
            "source": "-",
            "lon": 0,
            "lat": 0,
            "fps": FPS,
            "zones": [zone],
            "tracker": "iou",
            **camera,
        }
    )
    return CameraPipeline(
        cam,
        make_detector(DetectorConfig(), tmp_path, FPS),
        tmp_path,
        ZoneInfo("Asia/Shanghai"),
        "t",
        clock_origin=datetime(2026, 1, 1, 2, tzinfo=UTC),
        persist_background=persist,
    )


def run(pipe: CameraPipeline, frames, t0: float = 0.0) -> list:
    return [d for i, f in enumerate(frames) for d in pipe.process(f, t0 + i / FPS)]


def lot_quiet(seconds: float) -> list[np.ndarray]:
    """``seconds`` of the real empty lot at FPS (its empty stretch played forward and back)."""
    empty = list(islice(media_frames(LOT, FPS), 53, 76))  # 10.6 s - 15.2 s: nobody drives
    seq, out = empty + empty[::-1], []
    while len(out) < seconds * FPS:
        out += seq
    return out[: int(seconds * FPS)]


def grey_car() -> np.ndarray:
    """The grey car of car-detection.mp4 at 16 s, cut out (as tests/test_vision_gate.py does)."""
    frame = next(media_frames(LOT, 12.5, start_s=16.0))
    return frame[0:241, 118:262].copy()


def with_car(frames: list[np.ndarray], car: np.ndarray) -> list[np.ndarray]:
    out = []
    for f in frames:
        f = f.copy()
        f[150:391, 560:704] = car
        out.append(f)
    return out


def at_cloth(box) -> bool:
    x1, y1, x2, y2 = box
    cx, cy = CLOTH_AT[0] + 48, CLOTH_AT[1] + 19
    return x1 - 10 <= cx <= x2 + 10 and y1 - 10 <= cy <= y2 + 10


def test_a_car_parked_while_the_worker_was_down_is_found_after_the_restart(tmp_path):
    data = tmp_path / "data"
    first = pipeline(data, LOT_ZONE)
    assert run(first, lot_quiet(12)) == []
    first.close()  # the worker stops (SIGTERM): the background is kept
    kept = BackgroundStore(data, "cam").path
    assert kept == data / "vision" / "background" / "cam.png" and read_image(kept).shape[:2] == (270, 480)

    # the car parks while no worker watches; the restarted worker's first frame already shows it
    parked = with_car(lot_quiet(20), grey_car())
    found = run(pipeline(data, LOT_ZONE), parked, t0=12.0)
    assert len(found) == 1, [(d.observed_at, d.bbox) for d in found]
    x1, y1, x2, y2 = found[0].bbox
    assert abs((x1 + x2) / 2 - 632) < 40 and abs(y2 - 391) < 40 and found[0].dwell_s >= 8

    # without what the last run kept, the car is learnt as part of the scene: never found
    assert run(pipeline(tmp_path / "fresh", LOT_ZONE), parked, t0=12.0) == []


def test_the_background_is_kept_periodically_not_only_on_stop(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline_module, "KEEP_BACKGROUND_S", 4.0)
    pipe = pipeline(tmp_path, LOT_ZONE)
    run(pipe, lot_quiet(6))  # never closed: as if the worker were killed
    assert read_image(BackgroundStore(tmp_path, "cam").path).shape == (270, 480, 3)
    assert list((tmp_path / "vision" / "background").iterdir()) == [BackgroundStore(tmp_path, "cam").path]


def test_the_workbench_pipeline_neither_reads_nor_keeps_a_background(tmp_path):
    pipe = pipeline(tmp_path, LOT_ZONE, persist=False)
    run(pipe, lot_quiet(2))
    pipe.close()
    assert not (tmp_path / "vision").exists()


def test_a_reference_image_finds_an_object_there_from_the_first_frame(tmp_path):
    p = vtest_props()
    ref = tmp_path / "empty-scene.png"
    cv2.imwrite(str(ref), p["bg"])
    frames = list(left_object(media_frames(VTEST, FPS, 16), *p["cloth"], CLOTH_AT, 0, background=p["bg"]))

    found = run(pipeline(tmp_path / "a", PAVEMENT, persist=False, background=str(ref)), frames)
    assert len(found) == 1 and at_cloth(found[0].bbox), [(d.dwell_s, d.bbox) for d in found]
    # learnt from the opening frames instead, the garment is part of the scene
    assert run(pipeline(tmp_path / "b", PAVEMENT, persist=False), frames) == []


def test_a_reference_image_of_another_shape_is_ignored_with_a_warning(tmp_path, caplog):
    ref = tmp_path / "square.png"
    cv2.imwrite(str(ref), np.zeros((300, 300, 3), np.uint8))
    pipe = pipeline(tmp_path, PAVEMENT, persist=False, background=str(ref))
    run(pipe, media_frames(VTEST, FPS, 1))
    assert "another aspect ratio" in caplog.text and pipe.scene.seeded_from == "the first frames"


@pytest.mark.parametrize("gain", [1.5, 1.3, 0.7])
def test_a_whole_frame_brightness_change_is_no_object(tmp_path, gain):
    """vtest.avi as is, then x gain from 8 s to 18 s (auto-exposure), then as is again. (Dwell 15 s:
    two people stand talking on the pavement from 4 s to 16 s, which the weight-free backend cannot
    tell from a left object; that is the detector fusion's job, tests/test_vision_static.py.)"""
    frames = [
        scale_brightness(f, gain) if 8 <= i / FPS < 18 else f
        for i, f in enumerate(media_frames(VTEST, FPS, 24))
    ]
    pipe = pipeline(tmp_path, {**PAVEMENT, "dwell_s": 15}, persist=False)
    biggest = 0.0
    found = []
    for i, f in enumerate(frames):
        found += pipe.process(f, i / FPS)
        biggest = max([biggest] + [b.box.area / (768 * 576) for b in pipe.last_tracks])
    assert found == []
    assert biggest < 0.1  # before: one blob covering two thirds of the frame
    assert pipe.scene.renormalised >= 40  # the frames of the change were brought back to the scene's tone


def test_a_left_object_is_still_found_through_a_brightness_change(tmp_path):
    p = vtest_props()
    frames = left_object(media_frames(VTEST, FPS, 30), *p["cloth"], CLOTH_AT, 2 * FPS, background=p["bg"])
    frames = [scale_brightness(f, 1.3) if 8 <= i / FPS < 18 else f for i, f in enumerate(frames)]
    found = run(pipeline(tmp_path, {**PAVEMENT, "dwell_s": 15}, persist=False), frames)
    assert [d.type for d in found] == ["exposed_rubbish"] and at_cloth(found[0].bbox), [d.bbox for d in found]


# -- the reference image in the config ---------------------------------------------------------------
def _config(tmp_path, background: str) -> str:
    path = tmp_path / "cityops.yaml"
    path.write_text(
        "cameras:\n"
        "  - id: street\n"
        f"    source: {VTEST}\n"
        "    lon: 118.2\n    lat: 39.6\n"
        f"    background: {background}\n",
        encoding="utf-8",
    )
    return str(path)


def test_a_missing_or_unreadable_reference_image_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.background: .*empty.png.* file not found"):
        load_config(_config(tmp_path, "empty.png"))
    (tmp_path / "notes.png").write_text("not an image", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.background: .*not an image"):
        load_config(_config(tmp_path, "notes.png"))


def test_vision_background_captures_a_reference_the_config_then_accepts(tmp_path):
    cfg = _config(tmp_path, "none-yet.png")
    (tmp_path / "none-yet.png").write_bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    out = tmp_path / "refs" / "street.png"
    cmd = [sys.executable, "-m", "cityops", "vision", "background", "street"]
    res = subprocess.run(
        [*cmd, "--from", f"{VTEST}@2", "--median", "6", "--out", str(out), "--config", cfg],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert f"background: {out}" in res.stdout and read_image(out).shape == (576, 768, 3)
    # the median of 6 s: the people walking there then are gone, the pavement shows
    assert np.abs(read_image(out).astype(int) - vtest_props()["bg"]).mean() < 8
    assert load_config(_config(tmp_path, str(out))).cameras[0].background == str(out)

    bad = subprocess.run(
        [*cmd, "--from", str(VTEST), "--config", cfg], capture_output=True, text=True, cwd=ROOT
    )
    assert bad.returncode == 2 and "CLIP@SECONDS" in bad.stderr
    late = subprocess.run(
        [*cmd, "--from", f"{VTEST}@999", "--config", cfg], capture_output=True, text=True, cwd=ROOT
    )
    assert late.returncode == 1 and "no frame at 999 s" in late.stderr
