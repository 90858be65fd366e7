"""What every board answer carries and every request must fit: a Content-Security-Policy that lets
only the board's own scripts run (Dash's inline bootstrap scripts by hash), no framing, no MIME
sniffing, no Referer to any other origin (a wall screen's URL may carry its board token; the board
itself reads its pages' addresses from it: dashboard.app); a cap on request bodies
(``dashboard.max_body_mb``); and a clear 400 for JSON nested too deeply to parse."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from dash import Dash
from flask import jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from cityops.config import CityOpsConfig


def _origin(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def csp(app: Dash, cfg: CityOpsConfig) -> str:
    """The policy: scripts from the board itself (and the hashes of Dash's inline ones), images and
    fetches from the board (basemap tiles included: dashboard.tiles) and the dispatch API (citizen photos,
    also at the public base URL Open311 gives them)."""
    origins = (_origin(cfg.api_url), _origin(cfg.public_api_url))
    others = " ".join(sorted({o for o in origins if o}))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {' '.join(app.csp_hashes())}",
            "style-src 'self' 'unsafe-inline'",  # React and plotly set style attributes
            f"img-src 'self' data: blob: {others}".strip(),
            f"connect-src 'self' {others}".strip(),
            "worker-src 'self' blob:",  # the map library's tile workers
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def guard(app: Dash, cfg: CityOpsConfig) -> None:
    """Install the headers, the body cap and the error answers on the board's Flask server. Call it
    after every page has registered its callbacks (their inline scripts are hashed here)."""
    server = app.server
    limit_mb = cfg.dashboard.max_body_mb
    server.config["MAX_CONTENT_LENGTH"] = int(limit_mb * 1e6)
    policy = csp(app, cfg)
    headers = {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",  # see the module's docstring
    }

    @server.before_request
    def _cap_streamed_body():
        # werkzeug caps a body without Content-Length (chunked) by cutting it short, silently: read
        # it here, refuse it past the cap, else hand it on with its length
        env = request.environ
        if env.get("CONTENT_LENGTH") or not env.get("wsgi.input_terminated"):
            return None
        limit, got, size = server.config["MAX_CONTENT_LENGTH"], [], 0
        while size <= limit:
            data = env["wsgi.input"].read(min(1 << 20, limit + 1 - size))
            if not data:
                break
            got.append(data)
            size += len(data)
        if size > limit:
            raise RequestEntityTooLarge()
        env["wsgi.input"], env["CONTENT_LENGTH"] = io.BytesIO(b"".join(got)), str(size)
        del env["wsgi.input_terminated"]
        return None

    @server.after_request
    def _headers(resp):
        for k, v in headers.items():
            resp.headers.setdefault(k, v)
        return resp

    @server.errorhandler(RequestEntityTooLarge)
    def _413(_exc):
        return jsonify({"detail": f"the request body is larger than {limit_mb:g} MB"}), 413

    @server.errorhandler(RecursionError)
    def _too_deep(_exc):
        return jsonify({"detail": "the JSON body is nested too deeply"}), 400
