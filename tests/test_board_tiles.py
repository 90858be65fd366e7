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


# 5/0/31 lies under zoom-4 tile 4/0/15, which the file lacks (it stops at 70° S)
@pytest.mark.parametrize("path", ["/tiles/0/1/0", "/tiles/2/0/4", "/tiles/30/0/0", "/tiles/4/-1/0",
                                  "/tiles/a/b/c", "/tiles/0/0/0/../../etc", "/tiles/5/0/31"])  # fmt: skip
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


def test_past_the_files_last_zoom_tiles_are_cut_from_their_ancestor(client):
    """The file stops at zoom 4; a district map asks for zoom 12. Tile 12/x/y is the matching
    1/256th of its zoom-4 ancestor scaled up: its colour is that part's colour."""
    import io

    from PIL import Image

    lon, lat = 118.19, 39.65  # Tangshan
    import math

    def xyz(z):
        n = 1 << z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return x, y

    x12, y12 = xyz(12)
    deep = client.get(f"/tiles/12/{x12}/{y12}")
    assert deep.status_code == 200 and deep.mimetype == "image/png"
    x4, y4 = xyz(4)
    parent = Image.open(io.BytesIO(client.get(f"/tiles/4/{x4}/{y4}").data)).convert("RGBA")
    part = 256 >> 8
    px = ((x12 - (x4 << 8)) * part, (y12 - (y4 << 8)) * part)
    got = Image.open(io.BytesIO(deep.data)).convert("RGBA")
    assert got.size == parent.size
    assert got.getpixel((128, 128)) == parent.getpixel(px)
    deeper = client.get(f"/tiles/16/{x12 << 4}/{y12 << 4}")  # 12 levels down: 1/16 of a pixel, scaled up
    assert deeper.status_code == 200 and len(set(Image.open(io.BytesIO(deeper.data)).getdata())) >= 1
    assert client.get(f"/tiles/23/{x12 << 11}/{y12 << 11}").status_code == 404  # past the overzoom limit
