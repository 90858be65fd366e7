"""Browser URLs for the media named in incidents (paths relative to the data dir, streams.media), and
the board's ``/photos/`` route.

Every picture a page shows comes from the board's own origin: camera evidence JPEGs from
``/evidence`` (app.py), citizen and inspector photos from ``/photos/<day>/<name>``, which the board
reads from the shared data folder or, when the API keeps them elsewhere, fetches from the API. (A
wall screen or a phone is another machine: an ``http://127.0.0.1:8060/photos/...`` URL pointed the
browser at itself, and the thumbnails stayed empty.)"""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request, send_from_directory

from cityops.config import CityOpsConfig
from streams.media import PHOTOS_DIR, is_evidence, is_photo

log = logging.getLogger(__name__)
_DAY = re.compile(r"^\d{8}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}\.(?:jpg|jpeg|png|webp)$", re.IGNORECASE)


def media_url(rel: str | None, api_url: str | None = None) -> str | None:
    """A browser URL on the board for stored media: camera evidence JPEGs at ``/evidence/...``,
    citizen and inspector photos at ``/photos/...``; None for anything else. (``api_url`` is no
    longer used: photos are served through the board.)"""
    if not rel:
        return None
    if rel.startswith(("http://", "https://")):  # the API's absolute media_url: shown only if a photo
        path = urlsplit(rel).path
        return rel if is_photo(path) and ".." not in path else None
    rel = rel.lstrip("/")
    if is_evidence(rel) and rel.lower().endswith(".jpg"):
        return f"/evidence/{rel}"
    if is_photo(rel):
        return f"/{rel}"
    return None


def install_photos(server: Flask, cfg: CityOpsConfig) -> None:
    """``/photos/<day>/<name>``: from the data folder when the board shares it with the API, else
    from the API (``cfg.api_url``, as the board reaches it)."""
    root = (cfg.data / PHOTOS_DIR).resolve()

    @server.route("/photos/<day>/<name>")
    def photo(day: str, name: str):
        if not _DAY.match(day) or not _NAME.match(name):
            abort(404)
        if (root / day / name).is_file():
            resp = send_from_directory(root / day, name, max_age=86_400)
        else:
            try:
                with urllib.request.urlopen(f"{cfg.api_url}/photos/{day}/{name}", timeout=10) as got:  # noqa: S310
                    resp = Response(got.read(), mimetype=got.headers.get_content_type())
            except urllib.error.HTTPError as exc:
                abort(404 if exc.code == 404 else 502)
            except OSError as exc:
                log.warning("photo %s/%s: the API did not answer (%s)", day, name, exc)
                abort(502)
            resp.headers["Cache-Control"] = "private, max-age=86400"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp.make_conditional(request)
