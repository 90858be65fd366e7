"""CityOps' plotly.js build (dashboard.plotly_bundle, tools/plotly): it holds every trace type the
pages create, and the board's server hands it out where Dash's graphs load plotly.js from, gzipped,
revalidated by its ETag, with the board's security headers."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.basedatatypes import BaseTraceType

from dashboard import plotly_bundle, polyfill
from dashboard.app import create_app
from dashboard.live import LiveState
from gis.default import load_grid
from tests.conftest import make_config

DASHBOARD = Path(plotly_bundle.__file__).parent
ALL_TRACES = {
    name.lower()
    for name in dir(go)
    if isinstance(getattr(go, name), type) and issubclass(getattr(go, name), BaseTraceType)
}


def traces_in_source() -> dict[str, set[str]]:
    """Every plotly trace type the dashboard's code creates (``"type": "bar"`` in a figure dict, or
    ``go.Bar(``), with the files that create it."""
    found: dict[str, set[str]] = {}
    for path in DASHBOARD.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names = re.findall(r"[\"']type[\"']\s*:\s*[\"'](\w+)[\"']", text)
        names += [n.lower() for n in re.findall(r"\bgo\.(\w+)\(", text)]
        for name in names:
            if name.lower() in ALL_TRACES:
                found.setdefault(name.lower(), set()).add(path.name)
    return found


def test_the_bundle_holds_every_trace_type_the_pages_create():
    used = traces_in_source()
    assert {"choroplethmap", "scattermap", "bar"} <= set(used)  # the scan finds what it must
    missing = {name: sorted(files) for name, files in used.items() if name not in plotly_bundle.TRACES}
    assert not missing, f"add these to tools/plotly/entry.js and TRACES, then rebuild: {missing}"


def test_the_bundle_registers_exactly_the_listed_trace_types():
    text = plotly_bundle.BUNDLE.read_text(encoding="utf-8")
    assert text.startswith("/*! plotly.js v4.1.1")
    registered = set(re.findall(r'moduleType:"trace",name:"(\w+)"', text))
    assert registered == plotly_bundle.TRACES
    assert "3-Clause BSD" in text and "MIT" in text  # the bundled licences are kept


@pytest.fixture
def board(tmp_path, redis_url):
    cfg = make_config(tmp_path)
    return create_app(cfg, LiveState(redis_url), load_grid(cfg.grid, cfg.data)).server.test_client()


def test_the_board_serves_the_bundle_where_dash_loads_plotly(board):
    raw = plotly_bundle.BUNDLE.read_bytes()
    res = board.get("/" + plotly_bundle.PLOTLY_PATH, headers={"Accept-Encoding": "gzip, br"})
    assert res.status_code == 200 and res.headers["Content-Encoding"] == "gzip"
    assert res.mimetype == "application/javascript" and "Content-Security-Policy" in res.headers
    assert gzip.decompress(res.data) == raw
    plain = board.get("/" + plotly_bundle.PLOTLY_PATH, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers and plain.data == raw
    etag = res.headers["ETag"]
    again = board.get("/" + plotly_bundle.PLOTLY_PATH, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    stale = board.get("/" + plotly_bundle.PLOTLY_PATH, headers={"If-None-Match": '"not-it"'})
    assert stale.status_code == 200
    assert board.head("/" + plotly_bundle.PLOTLY_PATH).status_code == 200
    assert board.post("/" + plotly_bundle.PLOTLY_PATH).status_code in (404, 405)  # nothing but reads


def test_the_page_preloads_the_bundle_and_does_not_put_it_on_every_page(board):
    page = board.get("/").get_data(as_text=True)
    assert f'rel="preload" as="script" href="/{plotly_bundle.PLOTLY_PATH}"' in page
    assert "plotly-cityops" not in page  # loaded by the first graph (async), not as a page script


def test_pages_load_the_regenerator_runtime_in_place_of_dashs_polyfill(board):
    page = board.get("/console").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert not [s for s in scripts if "polyfill" in s]
    runtime = [k for k, s in enumerate(scripts) if s.startswith("/assets/vendor/regenerator-runtime.js")]
    react = [k for k, s in enumerate(scripts) if "/deps/react@" in s]
    assert runtime and react and runtime[0] < react[0]  # first, where the polyfill was
    src = board.get(scripts[runtime[0]])
    assert src.status_code == 200 and b"regeneratorRuntime = runtime" in src.data
    assert "regenerator-runtime" not in " ".join(scripts[runtime[0] + 1 :])  # once, not also as an asset


def test_swap_leaves_pages_alone_without_the_polyfill():
    tags = '<script src="/_dash-component-suites/dash/deps/react@18.v4m1.3.1.min.js"></script>'
    assert polyfill.swap(tags, "/assets/vendor/regenerator-runtime.js") == tags
    with_it = (
        '<script src="/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m17.12.1.min.js"></script>' + tags
    )
    assert polyfill.swap(with_it, "/r.js") == '<script src="/r.js"></script>' + tags
