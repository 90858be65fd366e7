"""What browsers get from the API: security headers on every answer, and the interactive docs
(/docs: Swagger UI, /redoc: ReDoc) served from local copies of their scripts (the assets shipped by
the ``fastapi-offline`` package), so they render on a network without Internet access."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # JSON, CSV and photos: nothing in them may run, load or be framed
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


def _assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def _script_hashes(html: str) -> str:
    """``'sha256-…'`` sources for the page's inline scripts (its only code not in a file)."""
    out = []
    for body in re.findall(r"<script(?:\s[^>]*)?>(.*?)</script>", html, re.S):
        if body.strip():
            out.append(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'")
    return " ".join(sorted(set(out)))


def docs_csp(html: str) -> str:
    return (
        f"default-src 'self'; script-src 'self' {_script_hashes(html)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


def install_docs(app: FastAPI) -> None:
    """/docs and /redoc from local assets (create the app with ``docs_url=None, redoc_url=None``)."""
    # ReDoc's sidebar shows its maker's logo from cdn.redoc.ly: the same script, pointing at ours
    redoc_js = (_assets_dir() / "redoc.standalone.js").read_bytes()
    redoc_js = redoc_js.replace(
        b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{ASSETS_URL}/favicon.png".encode()
    )

    def redoc_script() -> Response:
        return Response(redoc_js, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    app.add_api_route(
        f"{ASSETS_URL}/redoc.standalone.js", redoc_script, methods=["GET"], include_in_schema=False
    )
    app.mount(ASSETS_URL, StaticFiles(directory=_assets_dir()), name="docs-assets")
    title = app.title
    pages = {
        "/docs": get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
        ).body.decode(),
        "/redoc": get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        ).body.decode(),
    }
    for path, html in pages.items():
        csp = docs_csp(html)

        def page(html: str = html, csp: str = csp) -> HTMLResponse:
            return HTMLResponse(html, headers={"Content-Security-Policy": csp})

        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)


class SecurityHeaders:
    """ASGI middleware: :data:`HEADERS` on every response that does not set its own."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(msg):
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers", [])}
                msg["headers"] = [*msg.get("headers", []), *(h for h in self.headers if h[0] not in have)]
            return await send(msg)

        return await self.app(scope, receive, with_headers)
