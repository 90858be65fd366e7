"""Real weights on the production path: the demo's street camera runs YOLO11n (OpenVINO INT8,
../shared/models) through ``cityops vision try``, finds the car parked in the driveway of real
footage (vtest.avi), and keeps Ultralytics' banner and settings notices out of the terminal."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SHARED
from vision.clips import write_clip
from vision.sources import VideoSource

VTEST = SHARED / "media" / "vtest.avi"
YOLO11N = SHARED / "models" / "yolo11n_int8_openvino_model"


@pytest.mark.media
@pytest.mark.skipif(not (VTEST.exists() and YOLO11N.exists()), reason="../shared absent")
def test_demo_street_camera_runs_yolo11n_quietly_and_finds_the_parked_car(tmp_path):
    pytest.importorskip("ultralytics", reason="needs cityops[ultralytics]")
    pytest.importorskip("openvino", reason="needs cityops[ultralytics]")
    frames = [f for f, t in VideoSource(str(VTEST), fps=5) if t < 26]
    clip = write_clip(tmp_path / "street.mp4", frames, 5)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cityops", "vision", "try", str(clip), "--quiet", "--no-video"]
    cmd += ["--camera", str(ROOT / "config" / "demo.yaml"), "--camera-id", "cam-campus-02", "--out", str(out)]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    said = res.stdout + res.stderr
    for notice in ("Ultralytics", "OpenVINO", "Loading", "Settings"):
        assert notice not in said, said
    timings = json.loads((out / "timings.json").read_text())
    assert timings["detector"] == "ultralytics"
    calls, frames = timings["detector_runs"], timings["frames"]
    assert 0 < calls < frames  # the gate skipped some frames: per call and per frame differ
    per_call, per_frame = timings["ms_per_detector_call"], timings["ms_per_frame"]["detect"]
    assert per_call == pytest.approx(per_frame * frames / calls, rel=0.01)
    assert f"{per_call:.2f} ms per call ({calls} calls)" in res.stdout
    incidents = json.loads((out / "incidents.json").read_text())
    assert incidents and {i["type"] for i in incidents} == {"illegal_parking"}
    assert all(i["bbox"][0] > 590 and i["bbox"][3] < 140 for i in incidents)  # in the driveway
    assert 20 <= incidents[0]["t"] <= 26


def test_a_detector_that_cannot_be_built_here_falls_back_with_a_warning(tmp_path, caplog):
    from cityops.config import DetectorConfig
    from vision.detectors import DetectorError, make_detector

    missing = {"backend": "ultralytics", "model": str(tmp_path / "yolo11n_int8_openvino_model")}
    with pytest.raises(DetectorError, match="not found"):
        make_detector(DetectorConfig(**missing), tmp_path)
    det = make_detector(DetectorConfig(**missing, fallback={"backend": "motion"}), tmp_path)
    assert det.name == "motion"
    assert "using the fallback detector (motion)" in caplog.text
