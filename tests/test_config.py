import subprocess
import sys

import pytest

from cityops.config import CityOpsConfig, ConfigError, load_config
from tests.conftest import ROOT

EXAMPLE = ROOT / "config" / "demo.yaml"


def check(path):
    return subprocess.run(
        [sys.executable, "-m", "cityops", "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_example_config_passes():
    res = check(EXAMPLE)
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout
    cfg = load_config(EXAMPLE)
    assert {c.id for c in cfg.cameras} == {"cam-lot-01", "cam-campus-02"}
    assert cfg.sla.accept_s == 60 and cfg.sla.arrive_s == 3600 and cfg.sla.resolve_s == 86400


CAMERA = """
cameras:
  - id: cam-1
    source: clip.mp4
    lon: 118.2
    lat: 39.66
    zones:
      - id: z1
        polygon: {polygon}
        rules: {rules}
        dwell_s: {dwell}
"""


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (
            CAMERA.format(polygon="[[0, 0], [10, 10]]", rules="[illegal_parking]", dwell=30),
            "cameras[0].zones[0].polygon",
            "at least 3 points",
        ),
        (
            CAMERA.format(polygon="[[0,0],[10,10],[10,0],[0,10]]", rules="[illegal_parking]", dwell=30),
            "cameras[0].zones[0].polygon",
            "Self-intersection",
        ),
        (
            CAMERA.format(polygon="[[0,0],[10,0],[10,10]]", rules="[jaywalking]", dwell=30),
            "cameras[0].zones[0].rules",
            "unknown rule",
        ),
        (
            CAMERA.format(polygon="[[0,0],[10,0],[10,10]]", rules="[illegal_parking]", dwell=-5),
            "cameras[0].zones[0].dwell_s",
            "greater than 0",
        ),
        ("redis:\n  url: http://localhost:6379\n", "redis.url", "redis://"),
        ("sla:\n  accept_s: 7200\n  arrive_s: 3600\n", "sla", "accept_s <= arrive_s"),
        ("detector:\n  backend: darknet\n  model: x.weights\n", "detector", "needs both"),
        ("timezone: Mars/Olympus\n", "timezone", "unknown time zone"),
        (
            "cameras:\n  - {id: a, source: x.mp4, lon: 500, lat: 39}\n",
            "cameras[0].lon",
            "less than or equal to 180",
        ),
        ("colour: blue\n", "colour", "Extra inputs are not permitted"),
        ("roster:\n  - {id: x, name: A}\n  - {id: x, name: B}\n", "<root>", "duplicate roster id"),
    ],
)
def test_broken_config_names_the_field(tmp_path, text, field, reason):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    res = check(path)
    assert res.returncode == 2
    assert field in res.stderr, res.stderr
    assert reason in res.stderr, res.stderr
    assert "value" in res.stderr


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(bad)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "c.yaml").write_text(
        CAMERA.format(polygon="[[0,0],[10,0],[10,10]]", rules="[illegal_parking]", dwell=5)
    )
    cfg = load_config(sub / "c.yaml")
    assert cfg.cameras[0].source == str(sub / "clip.mp4")


def test_redis_url_from_environment_wins(monkeypatch, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("redis:\n  url: redis://10.0.0.1:6379/0\n")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:7777/0")
    assert load_config(path).redis_url == "redis://127.0.0.1:7777/0"
    monkeypatch.delenv("REDIS_URL")
    assert load_config(path).redis_url == "redis://10.0.0.1:6379/0"


def test_reading_the_data_dir_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("CITYOPS_DATA_DIR", raising=False)
    cfg = CityOpsConfig.model_validate({"data_dir": str(tmp_path / "not-yet")})
    assert cfg.data == tmp_path / "not-yet" and cfg.store_url.endswith("not-yet/cityops.db")
    assert not (tmp_path / "not-yet").exists()
