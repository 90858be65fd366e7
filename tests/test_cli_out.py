"""``--out`` means the same in every command: a file (its folder created) or a folder (created), and a
path that cannot be written is one line on stderr with exit 2, before any work and with no traceback."""

from __future__ import annotations

import pytest

from cityops.cli import main
from cityops.paths import OutputError, output_file, output_folder

SMALL = ["--cells", "40", "--communities", "4", "--streets", "2", "--seed", "4", "--area-km2", "20"]


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_output_file_rules(tmp_path):
    default = tmp_path / "d" / "cells.geojson"
    assert output_file(None, default, (".geojson",)) == default and default.parent.is_dir()
    assert output_file(str(tmp_path / "new"), default, (".geojson",)) == tmp_path / "new" / "cells.geojson"
    assert (
        output_file(str(tmp_path / "x.v1") + "/", default, (".geojson",))
        == tmp_path / "x.v1" / "cells.geojson"
    )
    assert (
        output_file(str(tmp_path / "a" / "b.geojson"), default, (".geojson",)) == tmp_path / "a" / "b.geojson"
    )
    with pytest.raises(OutputError, match=r"writes \.geojson files"):
        output_file(str(tmp_path / "b.csv"), default, (".geojson",))
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(OutputError, match="in the way"):
        output_file(str(tmp_path / "blocker" / "x.geojson"), default, (".geojson",))
    with pytest.raises(OutputError, match="in the way"):
        output_folder(str(tmp_path / "blocker"), tmp_path)
    assert output_folder(str(tmp_path / "p" / "q"), tmp_path).is_dir()


@pytest.mark.parametrize("existing", [False, True])
def test_generate_into_a_folder(tmp_path, data, capsys, existing):
    out = tmp_path / "grids"
    if existing:
        out.mkdir()
    assert main(["gis", "generate", *SMALL, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["lubei.geojson", "lubei.gpkg"]
    assert not (tmp_path / "grids.gpkg").exists()  # nothing beside the folder


def test_generate_to_a_file_creates_its_folder(tmp_path, data):
    out = tmp_path / "new" / "deep" / "g.geojson"
    assert main(["gis", "generate", *SMALL, "--out", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".gpkg").is_file()


@pytest.mark.parametrize(
    "cmd",
    [
        ["gis", "generate", *SMALL],
        ["gis", "export", "--format", "csv"],
        ["vision", "try", "clip.mp4", "--camera", "cam.yaml"],
    ],
)
def test_unwritable_out_is_one_line(tmp_path, data, capsys, cmd):
    (tmp_path / "blocker").write_text("a file")
    target = tmp_path / "blocker" / ("x.csv" if "export" in cmd else "sub")
    if cmd[0] == "vision":
        target = tmp_path / "blocker"
    assert main([*cmd, "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "blocker" in err


def test_export_folder_and_wrong_suffix(tmp_path, data, capsys):
    assert main(["gis", "export", "--format", "csv", "--out", str(tmp_path / "exports")]) == 0
    assert (tmp_path / "exports" / "cells.csv").is_file()
    assert main(["gis", "export", "--format", "csv", "--out", str(tmp_path / "cells.geojson")]) == 2
    assert "writes .csv files" in capsys.readouterr().err
