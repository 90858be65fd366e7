"""CityOps' own plotly.js, served where Dash's graphs load plotly.js from.

Dash's ``dcc.Graph`` loads plotly.js on a page's first graph from
``_dash-component-suites/plotly/package_data/plotly.min.js``: the full build, 4.8 MB, every trace
type, ~1.3 s of script to run on a 2-core machine without a GPU before any map or chart draws (and
each page load made the server gzip all of it again). The pages draw four trace types (:data:`TRACES`),
so that URL serves ``assets/vendor/plotly-cityops.min.js`` instead: plotly.js 4.1.1's core with
just those (tools/plotly/build.sh; MIT, licences kept in the file): 3.0 MB, ~0.35 s to run. It is
gzipped once per process, and revalidated by its ETag (304) on later loads.

A page that draws a trace type missing from :data:`TRACES` draws nothing for it: add the type to
tools/plotly/entry.js and here, rebuild; ``tests/test_plotly_bundle.py`` finds every trace
type the pages create and fails while one is missing.
"""

from __future__ import annotations

import functools

from flask import Flask, Response, request

from cityops.resources import ASSETS
from dashboard.packed import Packed

BUNDLE = ASSETS / "vendor" / "plotly-cityops.min.js"
#: the trace types in the bundle (tools/plotly/entry.js); scatter comes with plotly's core
TRACES = frozenset({"bar", "scatter", "choroplethmap", "scattermap"})
#: where Dash's renderer points dcc.Graph for plotly.js when it serves its files itself
PLOTLY_PATH = "_dash-component-suites/plotly/package_data/plotly.min.js"


@functools.cache
def prepared() -> Packed:
    """The bundle, gzipped, and its ETag: read and compressed once per process (~0.2 s), at the
    board's start (dashboard.server) rather than on its first page."""
    return Packed.of(BUNDLE.read_bytes())


def response() -> Response:
    """The bundle for this request: gzipped where the client takes it, 304 when it holds it; a new
    build after an upgrade is picked up at once (no-cache: revalidated by its ETag)."""
    return prepared().response("application/javascript", "no-cache")


def install(server: Flask, prefix: str = "/") -> None:
    """Serve the bundle at ``prefix`` + :data:`PLOTLY_PATH` on ``server`` (a Dash app's Flask),
    ahead of Dash's own route for that file."""
    path = prefix + PLOTLY_PATH

    @server.before_request
    def plotly_bundle():
        if request.path == path and request.method in ("GET", "HEAD"):
            return response()
        return None
