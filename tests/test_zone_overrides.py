"""Zone overrides (issue 12 item 3): the zone editor's per-camera file, validated with the config's
own models and messages, written atomically with the previous version kept, and swapped into a
running worker without a restart; a bad file is refused with its reason and the old zones stay."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from cityops.config import CameraConfig, DetectorConfig
from streams.bus import connect
from streams.schemas import DETECTIONS, decode
from tests.conftest import make_config
from tests.services import write_config
from vision import zone_overrides as zo
from vision.sources import DEMO_CLIP_ZONE, demo_clip_camera, make_demo_clip
from vision.worker import CameraRunner

CAM = {"id": "cam-1", "source": "demo:", "lon": 118.19, "lat": 39.65}
BAY = {"id": "bay", "polygon": [[380, 250], [600, 250], [600, 350], [380, 350]], "rules": ["illegal_parking"]}
BOWTIE = [[100, 100], [300, 300], [300, 100], [100, 300]]


def camera(**kw) -> CameraConfig:
    return CameraConfig.model_validate({**CAM, **kw})


def test_apply_replaces_only_zones_and_masks():
    cam = camera(zones=[BAY], fps=3)
    doc = {"camera": "cam-1", "zones": [{**BAY, "id": "new", "dwell_s": 3}], "motion_masks": [
        {"name": "tree", "polygon_norm": [[0, 0], [0.2, 0], [0.2, 0.2]]}]}  # fmt: skip
    got = zo.apply(cam, doc)
    assert [z.id for z in got.zones] == ["new"] and got.zones[0].dwell_s == 3
    assert got.motion_masks[0].name == "tree" and got.fps == 3 and got.source == "demo:"
    assert zo.apply(cam, {"camera": "cam-1"}).zones == []  # every zone deleted is an answer too


@pytest.mark.parametrize(
    ("zone", "where", "reason"),
    [
        ({**BAY, "polygon": BOWTIE}, "zones[0].polygon", "invalid polygon (Self-intersection"),
        ({**BAY, "polygon": [[0, 0], [10, 0]]}, "zones[0].polygon", "at least 3 points, got 2"),
        ({**BAY, "polygon": [[0, 0], [1, 0], [1, 1]]}, "zones[0]", "look like 0-1 fractions"),
        ({**BAY, "rules": ["no_such_rule"]}, "zones[0].rules", "unknown rule"),
        ({**BAY, "rules": []}, "zones[0]", "kind: exclude"),
        ({**BAY, "kind": "exclude", "dwell_s": 5}, "zones[0]", "dwell_s: only for zones that enforce"),
        ({**BAY, "active_hours": [{"start": "25:00"}]}, "zones[0].active_hours[0].start", "value '25:00'"),
    ],
)
def test_bad_zones_get_the_config_checks_words(zone, where, reason):
    with pytest.raises(zo.OverrideError) as got:
        zo.apply(camera(), {"zones": [zone]})
    text = str(got.value)
    assert f"{where}: value" in text and reason in text, text


def test_the_same_line_as_config_check(tmp_path):
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(yaml.safe_dump({"cameras": [{**CAM, "zones": [{**BAY, "polygon": BOWTIE}]}]}))
    res = subprocess.run([sys.executable, "-m", "cityops", "config", "check", str(cfg_path)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    line = next(x for x in res.stderr.splitlines() if "polygon" in x)
    with pytest.raises(zo.OverrideError) as got:
        zo.apply(camera(), {"zones": [{**BAY, "polygon": BOWTIE}]})
    # config check says cameras[0].zones[0].polygon: ..., the override zones[0].polygon: ...
    assert line.split("cameras[0].", 1)[1] in str(got.value).splitlines()


def test_file_fields_camera_and_frame_are_checked():
    with pytest.raises(zo.OverrideError, match="source: not an override field"):
        zo.apply(camera(), {"zones": [], "source": "rtsp://elsewhere"})
    with pytest.raises(zo.OverrideError, match="this file is for camera 'cam-1'"):
        zo.apply(camera(), {"camera": "cam-2", "zones": [BAY]})
    with pytest.raises(zo.OverrideError, match="must be a mapping"):
        zo.apply(camera(), [BAY])
    dup = {"zones": [BAY, BAY]}
    with pytest.raises(zo.OverrideError, match="duplicate zone id"):
        zo.apply(camera(), dup)
    cam = zo.apply(camera(), {"zones": [BAY]})
    zo.check_frame(cam, (640, 360))
    with pytest.raises(zo.OverrideError, match=r"outside the 320x240 frame: zone 'bay' has point\(s\)"):
        zo.check_frame(cam, (320, 240))
    motion_only = DetectorConfig(backend="motion")
    with pytest.raises(zo.OverrideError, match="never produced by this camera's detector"):
        zo.apply(camera(), {"zones": [{**BAY, "classes": ["person"]}]}, motion_only)


def test_save_is_atomic_keeps_the_previous_version_and_loads_back(tmp_path):
    cam = zo.apply(
        camera(), {"zones": [{**BAY, "dwell_s": 3, "active_hours": [{"start": "22:00", "end": "06:00"}]}]}
    )
    path = zo.save(tmp_path, cam, who="olga")
    assert path == tmp_path / "zones" / "cam-1.yaml"
    text = path.read_text()
    assert text.startswith("# zones of camera cam-1, saved by the zone editor (olga)")
    assert "min_area" not in text  # only what was given: defaults stay defaults
    back = zo.load(tmp_path, camera(zones=[]))
    assert back.zones == cam.zones and back.zones[0].active_hours[0].start.hour == 22
    first = path.read_bytes()
    cam2 = zo.apply(camera(), {"zones": [{**BAY, "id": "second"}]})
    zo.save(tmp_path, cam2)
    history = list((tmp_path / "zones" / "history").glob("cam-1@*.yaml"))
    assert [h.read_bytes() for h in history] == [first]  # the previous version, as it was
    assert [z.id for z in zo.load(tmp_path, camera()).zones] == ["second"]
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left
    other = zo.apply(camera(id="cam-1.b"), {"zones": [BAY]})
    zo.save(tmp_path, other)
    zo.save(tmp_path, other)  # camera 'cam-1.b': its own history, never pruned as cam-1's
    for _ in range(zo.KEEP_HISTORY + 3):
        zo.save(tmp_path, cam2)
    assert len(list((tmp_path / "zones" / "history").glob("cam-1@*"))) == zo.KEEP_HISTORY
    assert len(list((tmp_path / "zones" / "history").glob("cam-1.b@*"))) == 1


def test_a_save_from_a_stale_revision_is_refused_and_names_who_saved(tmp_path):
    first = zo.apply(camera(), {"zones": [BAY]})
    assert zo.revision(tmp_path, "cam-1") == ""  # no file yet
    path, rev = zo.save_checked(tmp_path, first, who="olga", expect="")
    assert rev == zo.revision(tmp_path, "cam-1") != ""  # what was written is what the page now holds
    mine = zo.apply(camera(), {"zones": [{**BAY, "id": "mine"}]})
    theirs = zo.apply(camera(), {"zones": [{**BAY, "id": "theirs"}]})
    _, rev2 = zo.save_checked(tmp_path, theirs, who="sam", expect=rev)  # another desk, first
    saved = path.read_bytes()
    with pytest.raises(zo.Conflict) as got:
        zo.save_checked(tmp_path, mine, who="olga", expect=rev)  # read before sam saved
    assert got.value.who == "sam" and got.value.revision == rev2 and not got.value.removed
    assert abs((datetime.now(UTC) - got.value.when).total_seconds()) < 60
    assert "saved by sam at" in str(got.value) and str(got.value).endswith("UTC after they were read")
    assert path.read_bytes() == saved  # nothing written, no version added to the history
    assert len(list((tmp_path / "zones" / "history").glob("cam-1@*.yaml"))) == 1
    zo.save_checked(tmp_path, mine, who="olga", expect=got.value.revision)  # saved again, knowingly
    assert [z.id for z in zo.load(tmp_path, camera()).zones] == ["mine"]
    path.unlink()  # removed by hand meanwhile
    with pytest.raises(zo.Conflict) as got:
        zo.save_checked(tmp_path, theirs, expect=rev2)
    assert got.value.removed and got.value.revision == ""
    assert zo.saved_by(tmp_path / "nothing.yaml") == ("", None)
    zo.save(tmp_path, theirs)  # no expectation: written whatever is there (the CLI's and tests' save)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no lock file left


def _race(data_dir: str, k: int, expect: str, barrier, out) -> None:
    cam = zo.apply(camera(), {"zones": [{**BAY, "id": f"desk-{k}"}]})
    barrier.wait()  # every desk saves at once
    try:
        zo.save_checked(Path(data_dir), cam, who=f"desk-{k}", expect=expect)
    except zo.Conflict:
        out.put("conflict")
    else:
        out.put(f"desk-{k}")


def test_of_saves_racing_from_one_revision_in_separate_processes_exactly_one_is_written(tmp_path):
    zo.save(tmp_path, zo.apply(camera(), {"zones": [BAY]}))
    rev = zo.revision(tmp_path, "cam-1")
    mp = multiprocessing.get_context("fork")
    n = 8
    barrier, out = mp.Barrier(n), mp.Queue()
    procs = [mp.Process(target=_race, args=(str(tmp_path), k, rev, barrier, out)) for k in range(n)]
    for proc in procs:
        proc.start()
    got = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
    winners = [g for g in got if g != "conflict"]
    assert len(winners) == 1, got
    assert [z.id for z in zo.load(tmp_path, camera()).zones] == winners
    assert len(list((tmp_path / "zones" / "history").glob("cam-1@*.yaml"))) == 1  # the one before


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    cam = zo.apply(camera(), {"zones": [BAY]})
    path = zo.save(tmp_path, cam)
    before = path.read_bytes()

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zo.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        zo.save(tmp_path, zo.apply(camera(), {"zones": [{**BAY, "id": "other"}]}))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("zones: [unclosed\n", "not valid YAML"),
        ("- a list\n", "must be a mapping"),
        (yaml.safe_dump({"zones": [{**BAY, "polygon": BOWTIE}]}), "Self-intersection"),
        (b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_a_bad_file_is_refused_by_the_watcher_and_the_zones_stay(tmp_path, caplog, text, reason):
    w = zo.OverrideWatcher(tmp_path, camera(zones=[BAY]), interval_s=0)
    assert w.initial() is w.camera  # no file: the config's zones
    path = zo.override_path(tmp_path, "cam-1")
    path.parent.mkdir(parents=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    assert w.poll(1.0) is None  # refused: the caller keeps what it has
    assert reason in w.refused and str(path) in w.refused
    assert "zone override refused, the zones in use stay" in caplog.text
    assert w.poll(2.0) is None  # the same bad file is not read (nor logged) again
    assert w.initial() is w.camera  # a worker starting with it uses the config's zones


def test_watcher_sees_a_new_file_a_rewrite_and_a_removal(tmp_path):
    w = zo.OverrideWatcher(tmp_path, camera(zones=[BAY]), interval_s=5)
    w.initial()
    zo.save(tmp_path, zo.apply(w.camera, {"zones": [{**BAY, "id": "a"}]}))
    assert w.poll(0.0).zones[0].id == "a"
    zo.save(tmp_path, zo.apply(w.camera, {"zones": [{**BAY, "id": "b"}]}))
    assert w.poll(1.0) is None  # not due: looked at every interval_s
    assert w.poll(5.0).zones[0].id == "b"
    assert w.poll(10.0) is None  # unchanged
    zo.override_path(tmp_path, "cam-1").unlink()
    assert w.poll(15.0) is w.camera  # removed: back to the config's zones
    zo.save(tmp_path, zo.apply(w.camera, {"zones": [{**BAY, "polygon": [[0, 0], [900, 0], [900, 90]]}]}))
    assert w.poll(20.0, size=(640, 360)) is None and "outside the 640x360 frame" in w.refused


def test_config_check_validates_override_files(tmp_path):
    cfg = make_config(tmp_path, cameras=[CAM])
    path = write_config(cfg, tmp_path / "cfg.yaml")

    def check():
        return subprocess.run([sys.executable, "-m", "cityops", "config", "check", str(path)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    over = zo.override_path(cfg.data, "cam-1")
    over.parent.mkdir(parents=True)
    over.write_text(yaml.safe_dump({"camera": "cam-1", "zones": [BAY]}))
    res = check()
    assert res.returncode == 0, res.stderr
    assert "1 zone(s)" in res.stdout and f"zones from {over}" in res.stdout
    over.write_text(yaml.safe_dump({"camera": "cam-1", "zones": [{**BAY, "polygon": BOWTIE}]}))
    res = check()
    assert res.returncode == 2
    assert "zone override refused" in res.stderr and "zones[0].polygon: value" in res.stderr
    assert "Self-intersection" in res.stderr


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.1)
    return cond()


def test_a_running_worker_applies_the_override_without_restart(tmp_path, r, redis_url):
    """The camera starts with a zone on the verge, where nothing stops; a bad override and one
    outside the frame are refused (the verge zone stays); the editor's bay zone is then swapped
    in, and the car parked in it raises a detection in that zone, by the same runner."""
    clip = make_demo_clip(tmp_path / "street.avi")
    verge = {**DEMO_CLIP_ZONE, "id": "verge", "polygon": [[0, 0], [640, 0], [640, 80], [0, 80]]}
    cfg = make_config(tmp_path, cameras=[demo_clip_camera(clip, id="cam-z", zones=[verge])],
                      detector={"backend": "motion"})  # fmt: skip
    runner = CameraRunner(cfg, cfg.cameras[0], connect(redis_url), "t")
    path = zo.override_path(cfg.data, "cam-z")
    path.parent.mkdir(parents=True)
    runner.start()
    try:
        assert _wait(lambda: runner.pipeline is not None and runner.pipeline.times.frames >= 5, 60)
        path.write_text(yaml.safe_dump({"zones": [{**DEMO_CLIP_ZONE, "polygon": BOWTIE}]}))
        assert _wait(lambda: runner.overrides.refused is not None, 30)
        assert "Self-intersection" in runner.overrides.refused
        outside = {**DEMO_CLIP_ZONE, "id": "wide", "polygon": [[0, 0], [1280, 0], [1280, 720]]}
        path.write_text(yaml.safe_dump({"zones": [outside]}))
        assert _wait(lambda: "outside the 640x360 frame" in (runner.overrides.refused or ""), 30)
        assert [z.id for z in runner.pipeline.zones] == ["verge"] and runner.zones_applied == 0

        bay = zo.apply(cfg.cameras[0], {"zones": [{**DEMO_CLIP_ZONE, "id": "drawn-bay", "dwell_s": 3}]})
        zo.save(cfg.data, bay)
        assert _wait(lambda: runner.zones_applied == 1, 30), runner.overrides.refused
        assert [z.id for z in runner.pipeline.zones] == ["drawn-bay"] and runner.overrides.refused is None
        assert _wait(lambda: runner.published >= 1, 120)  # the clip loops: the car parks every 40 s
        dets = [decode(f) for _, f in r.xrange(DETECTIONS)]
        assert {d.zone_id for d in dets} == {"drawn-bay"} and dets[0].type == "illegal_parking"
        assert runner.is_alive() and runner.state == "online"  # the same run, never restarted
    finally:
        runner.stop()
        runner.join(10)


def test_a_worker_starting_with_an_override_outside_its_frame_keeps_the_config_zones(tmp_path, redis_url):
    clip = make_demo_clip(tmp_path / "street.avi")
    cfg = make_config(tmp_path, cameras=[demo_clip_camera(clip, id="cam-y")], detector={"backend": "motion"})
    wide = {**DEMO_CLIP_ZONE, "id": "wide", "polygon": [[0, 0], [1280, 0], [1280, 720]]}
    zo.save(cfg.data, zo.apply(cfg.cameras[0], {"zones": [wide]}))
    runner = CameraRunner(cfg, cfg.cameras[0], connect(redis_url), "t")
    runner.start()
    try:
        assert _wait(lambda: runner.pipeline is not None and runner.pipeline.times.frames >= 3, 60)
        assert [z.id for z in runner.pipeline.zones] == ["no-parking-bay"]
        assert "outside the 640x360 frame" in runner.overrides.refused and runner.state == "online"
    finally:
        runner.stop()
        runner.join(10)
