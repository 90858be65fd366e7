"""The grid's layers as static files (dashboard.geometry): the board's map loads them by URL, so its
first page's JSON carries no geometry; each URL names its content, is served gzipped or plain,
revalidates by ETag and is refused for a digest that is not the current one."""

from __future__ import annotations

import gzip
import json

import pytest

from dashboard import maps
from dashboard.app import create_app
from dashboard.live import LiveState
from dashboard.pages import board
from gis.default import load_grid
from tests.conftest import make_config


@pytest.fixture
def app(tmp_path, redis_url):
    cfg = make_config(tmp_path)
    return create_app(cfg, LiveState(redis_url), load_grid(cfg.grid, cfg.data))


def test_each_layer_is_served_as_it_is_built(app):
    client, ctx = app.server.test_client(), app.ctx
    for level in maps.LEVELS:
        url = ctx.geometry.url(level)
        assert url.startswith(f"/geo/{level}.") and url.endswith(".json")
        res = client.get(url, headers={"Accept-Encoding": "gzip, br"})
        assert res.status_code == 200 and res.headers["Content-Encoding"] == "gzip"
        assert res.mimetype == "application/json"
        assert "immutable" in res.headers["Cache-Control"] and "Accept-Encoding" in res.headers["Vary"]
        layer = json.loads(gzip.decompress(res.data))
        assert layer == json.loads(json.dumps(maps.grid_layer(ctx.cfg, ctx.grid, level)))
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers and json.loads(plain.data) == layer
        etag = res.headers["ETag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
        head = client.head(url)
        assert head.status_code == 200 and head.data == b""
        assert client.post(url).status_code == 405
    cells = json.loads(client.get(ctx.geometry.url("cell")).data)
    assert len(cells["features"]) == len(ctx.grid)


def test_a_digest_that_is_not_the_current_one_is_a_404(app):
    # a page from before the grid changed: never the new layer under the old name (a year's cache)
    res = app.server.test_client().get("/geo/cell.0000000000000000.json")
    assert res.status_code == 404 and "reload" in res.get_json()["detail"]


@pytest.mark.parametrize(
    "path",
    ["/geo/cell.json", "/geo/roads.0123456789abcdef.json", "/geo/../cityops.db", "/geo/cell.%2e%2e.json"],
)
def test_other_names_get_no_layer(app, path):
    res = app.server.test_client().get(path)
    assert res.status_code == 404 or res.mimetype == "text/html"  # a 404, or Dash's page for any path
    assert b'"features"' not in res.data


def test_the_board_figure_names_the_files_and_carries_no_geometry(app):
    ctx = app.ctx
    fig = board.map_figure(ctx, {}, [], [], "en", board.ClientView(0, {}))
    cells = next(tr for tr in fig["data"] if tr["uid"] == board.CELLS)
    assert cells["geojson"] == ctx.geometry.url("cell")
    sources = [layer["source"] for layer in fig["layout"]["map"]["layers"]]
    assert ctx.geometry.url("community") in sources and ctx.geometry.url("street") in sources
    assert len(json.dumps(fig)) < 200_000  # the demo district's cells alone are ~600 KB inline
