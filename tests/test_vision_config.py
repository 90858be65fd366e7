"""Vision config that used to pass silently or crash later: unquoted times, 0-1 zones, detectors."""

import subprocess
import sys
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml

from cityops.config import CameraConfig, ConfigError, DetectorConfig, load_config
from vision.detectors import make_detector
from vision.detectors.base import Box
from vision.pipeline import CameraPipeline

CONFIG = """
cameras:
  - id: cam-1
    source: clip.mp4
    lon: 118.2
    lat: 39.66
    zones:
      - id: z1
{outline}
        rules: [illegal_parking]
        active_hours:
          - start: 22:00
            end: 6:30
"""
PIXELS = "        polygon: [[100, 100], [500, 100], [500, 400], [100, 400]]"


def write(tmp_path, outline: str = PIXELS):
    p = tmp_path / "c.yaml"
    p.write_text(CONFIG.format(outline=outline))
    return p


def check(path):
    cmd = [sys.executable, "-m", "cityops", "config", "check", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_unquoted_hh_mm_is_a_local_time_of_day(tmp_path):
    path = write(tmp_path)
    assert yaml.safe_load(path.read_text())["cameras"][0]["zones"][0]["active_hours"][0]["start"] == 1320
    hours = load_config(path).cameras[0].zones[0].active_hours[0]
    assert (hours.start, hours.end) == (time(22, 0), time(6, 30)) and hours.start.tzinfo is None
    assert hours.contains(time(23, 15)) and hours.contains(time(3, 0)) and not hours.contains(time(12, 0))


def test_a_time_yaml_cannot_mean_fails_config_check_with_its_field(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("start: 22:00", "start: 25:00"))
    res = check(path)
    assert res.returncode == 2 and "active_hours[0].start: value 1500" in res.stderr, res.stderr


def test_zone_in_0_1_coordinates_is_refused_as_pixels_with_a_hint(tmp_path):
    res = check(write(tmp_path, "        polygon: [[0.1, 0.1], [0.6, 0.1], [0.6, 0.9], [0.1, 0.9]]"))
    assert res.returncode == 2 and "polygon_norm" in res.stderr, res.stderr
    with pytest.raises(ConfigError, match="once"):
        load_config(write(tmp_path, PIXELS + "\n        polygon_norm: [[0, 0], [1, 0], [1, 1]]"))


def test_polygon_norm_scales_with_the_frame(tmp_path):
    path = write(tmp_path, "        polygon_norm: [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]]")
    assert check(path).returncode == 0
    zone = {"id": "z", "polygon_norm": [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]], "rules": ["illegal_parking"]}
    cam = CameraConfig.model_validate({"id": "c", "source": "x.mp4", "lon": 0, "lat": 0, "zones": [zone]})
    det = make_detector(DetectorConfig(), tmp_path)
    pipe = CameraPipeline(
        cam, det, tmp_path, ZoneInfo("UTC"), "t", clock_origin=datetime(2026, 1, 1, tzinfo=UTC)
    )
    pipe.process(np.zeros((1920, 1080, 3), np.uint8), 0.0)  # a vertical frame
    zone = pipe.zones[0]
    assert zone.points == [(540, 960), (1080, 960), (1080, 1920), (540, 1920)]
    inside, outside = Box(700, 1500, 900, 1800, "car", 0.9), Box(100, 1500, 300, 1800, "car", 0.9)
    assert zone.counts(inside, frozenset({"car"})) and not zone.counts(outside, frozenset({"car"}))
