"""The grid's layers (cells, communities, streets) as static files the wall board's map loads by URL.

Inline in the board's figure, the district's geometry was half of every first page's JSON (0.75 of
1.55 MB for 2,257 cells): the server encoded and compressed it again for every page, and the page's
scripts walked its ~40,000 coordinate arrays before plotly drew anything. By URL the server prepares
each layer once (compact JSON, gzipped), the browser keeps it (the URL names its content:
``/geo/<level>.<digest>.json``, cached for a year), plotly.js fetches the cells itself and the map's
worker fetches the outlines, off the page's main thread.

Pages that draw a small part of the grid (dashboard.maps.cells_near) keep it in their figures.
"""

from __future__ import annotations

import functools
import json

from flask import Flask, Response

from cityops.config import CityOpsConfig
from dashboard.maps import LEVELS, grid_layer
from dashboard.packed import Packed
from gis.grid import Grid


class GeometryFiles:
    """The layers of one grid, each prepared once per process (first use, or :meth:`prepare`)."""

    def __init__(self, cfg: CityOpsConfig, grid: Grid, prefix: str = "/") -> None:
        self.cfg, self.grid, self.prefix = cfg, grid, prefix

    @functools.cache  # noqa: B019 (one instance per app, alive as long as it)
    def _file(self, level: str) -> Packed:
        raw = json.dumps(grid_layer(self.cfg, self.grid, level), separators=(",", ":")).encode()
        return Packed.of(raw, etag_len=16)

    def prepare(self) -> None:
        """Build every layer's file now (at the board's start), not on the first page."""
        for level in LEVELS:
            self._file(level)

    def url(self, level: str) -> str:
        """Where the browser gets ``level``'s layer (the requests prefix, then ``geo/...``)."""
        return f"{self.prefix}geo/{level}.{self._file(level).etag}.json"

    def response(self, level: str, digest: str) -> Response:
        packed = self._file(level)
        if digest != packed.etag:  # a page from before the grid changed: never cache other content here
            return Response('{"detail": "no such layer: reload the page"}', 404, mimetype="application/json")
        return packed.response("application/json", "public, max-age=31536000, immutable")

    def install(self, server: Flask, routes_prefix: str = "/") -> None:
        """Serve the files at ``routes_prefix`` + ``geo/<level>.<digest>.json`` on ``server``."""
        levels = ", ".join(LEVELS)
        server.add_url_rule(
            f"{routes_prefix}geo/<any({levels}):level>.<digest>.json",
            "geometry_file",
            self.response,
            methods=["GET", "HEAD"],
        )
