"""The pages' basemap, served by the board itself at ``/tiles/<z>/<x>/<y>`` (XYZ addressing, as the
maps ask for it): from a local MBTiles file (``dashboard.tiles``: SQLite, rows in TMS order, so the
row is flipped) or fetched from an intranet tile server (``dashboard.tile_url``) and kept in memory.

Past an MBTiles file's deepest zoom, a tile is cut from its ancestor at that zoom and scaled up.
Answers carry caching headers (``Cache-Control``, an ``ETag`` answered with 304); a tile the source
does not have is a 404. With neither setting there is no route and the maps draw their offline
background (dashboard.maps.background_layers)."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from pathlib import Path

from flask import Flask, Response, abort, request
from PIL import Image

from cityops.config import CityOpsConfig

log = logging.getLogger(__name__)

TILE_PATH = "/tiles/{z}/{x}/{y}"  # the URL template the maps use (dashboard.maps)
MAX_AGE_S = 86_400
MAX_ZOOM = 24
MAX_OVERZOOM = 18  # zoom levels past a file's deepest that are drawn from its last level


class TileError(RuntimeError):
    """The configured tile source cannot be used (missing file, not an MBTiles database)."""


def mimetype(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class MBTiles:
    """Read-only tiles from an MBTiles file; one SQLite connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise TileError(f"dashboard.tiles: {self.path} does not exist")
        self._local = threading.local()
        try:
            names = {r[0] for r in self._db().execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise TileError(f"dashboard.tiles: {self.path} is not an MBTiles (SQLite) file: {exc}") from exc
        if "tiles" not in names:
            raise TileError(f"dashboard.tiles: {self.path} has no tiles table")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(
                f"file:{self.path.resolve()}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
        return db

    def metadata(self) -> dict[str, str]:
        return dict(self._db().execute("SELECT name, value FROM metadata").fetchall())

    @functools.cached_property
    def max_zoom(self) -> int:
        row = self._db().execute("SELECT MAX(zoom_level) FROM tiles").fetchone()
        return int(row[0]) if row and row[0] is not None else -1

    def stored(self, z: int, x: int, y: int) -> bytes | None:
        """The tile stored for XYZ ``z/x/y`` (MBTiles stores TMS rows: row = 2^z - 1 - y)."""
        sql = "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?"
        row = self._db().execute(sql, (z, x, (1 << z) - 1 - y)).fetchone()
        return bytes(row[0]) if row and row[0] else None

    def get(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ ``z/x/y``; past the file's deepest zoom, the part of its ancestor at that
        zoom that covers it, scaled up (a district map zooms past a city file's last level)."""
        if z <= self.max_zoom:
            return self.stored(z, x, y)
        if self.max_zoom < 0 or z - self.max_zoom > MAX_OVERZOOM:
            return None
        return overzoom(self, z, x, y)


class TileProxy:
    """Tiles from an intranet server's URL template, the most recent ``limit`` kept in memory."""

    def __init__(self, template: str, limit: int = 2048, timeout_s: float = 5.0) -> None:
        self.template, self.limit, self.timeout_s = template, limit, timeout_s
        self._cache: OrderedDict[tuple[int, int, int], bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, z: int, x: int, y: int) -> bytes | None:
        key = (z, x, y)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        url = self.template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:  # noqa: S310 (configured)
                data: bytes | None = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            data = None
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self.limit:
                self._cache.popitem(last=False)
        return data


@functools.lru_cache(maxsize=512)
def _scaled(data: bytes, d: int, dx: int, dy: int) -> bytes:
    """Part (dx, dy) of ``data`` cut in 2^d x 2^d (a fraction of a pixel past 8 levels), scaled up."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGBA")
        size = img.width / (1 << d)
        box = (dx * size, dy * size, (dx + 1) * size, (dy + 1) * size)
        out = io.BytesIO()
        img.resize((img.width, img.height), Image.Resampling.BILINEAR, box=box).save(out, "PNG")
        return out.getvalue()


def overzoom(source: MBTiles, z: int, x: int, y: int) -> bytes | None:
    d = z - source.max_zoom
    parent = source.stored(source.max_zoom, x >> d, y >> d)
    if parent is None:
        return None
    mask = (1 << d) - 1
    return _scaled(parent, d, x & mask, y & mask)


def tile_source(cfg: CityOpsConfig) -> MBTiles | TileProxy | None:
    if cfg.dashboard.tiles is not None:
        return MBTiles(cfg.dashboard.tiles)
    if cfg.dashboard.tile_url:
        return TileProxy(cfg.dashboard.tile_url)
    return None


def install_tiles(server: Flask, cfg: CityOpsConfig) -> None:
    """Add ``/tiles/<z>/<x>/<y>`` to the board's server when a basemap is configured."""
    source = tile_source(cfg)
    if source is None:
        return

    @server.route("/tiles/<int:z>/<int:x>/<int:y>")
    def tile(z: int, x: int, y: int):
        if z > MAX_ZOOM or x >= (1 << z) or y >= (1 << z):
            abort(404)
        try:
            data = source.get(z, x, y)
        except (OSError, sqlite3.Error) as exc:
            log.warning("basemap tile %d/%d/%d: %s", z, x, y, exc)
            return Response("tile source unavailable", status=502, mimetype="text/plain")
        if data is None:
            abort(404)
        resp = Response(data, mimetype=mimetype(data))
        resp.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
        resp.set_etag(hashlib.sha1(data, usedforsecurity=False).hexdigest())
        return resp.make_conditional(request)
