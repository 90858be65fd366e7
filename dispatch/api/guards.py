"""Input guards for every route: JSON bodies with NaN/Infinity or nested past Python's recursion limit
are refused with 422 before any route sees them, and validation errors are always serialisable (an
error that echoed a non-finite number back used to become a 500)."""

from __future__ import annotations

import json
import math

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class JsonRefused(ValueError):
    pass


def _no_constants(name: str):
    raise JsonRefused(f"{name} is not a JSON number; send a finite number")


def check_json(body: bytes) -> str | None:
    """Why ``body`` must be refused (non-finite numbers, nesting too deep), or None. Bodies that are
    not JSON at all are left to the route, whose parser says so."""
    try:
        json.loads(body, parse_constant=_no_constants)
    except JsonRefused as exc:
        return str(exc)
    except RecursionError:
        return "the JSON body is nested too deeply"
    except ValueError:
        return None
    return None


class JsonGuard:
    """ASGI middleware: reads a JSON request body (size-capped by the middleware outside it), checks
    it with :func:`check_json` and hands the same bytes to the app."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        ctype = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype and not (ctype == b"application/json" or ctype.endswith(b"+json")):  # none: read as JSON
            return await self.app(scope, receive, send)
        chunks, more = [], True
        try:
            while more:
                msg = await receive()
                if msg["type"] != "http.request":
                    break
                chunks.append(msg.get("body", b""))
                more = msg.get("more_body", False)
        except HTTPException as exc:  # the body cap outside
            return await JSONResponse({"detail": exc.detail}, exc.status_code)(scope, receive, send)
        body = b"".join(chunks)
        why = check_json(body) if body else None
        if why:
            return await JSONResponse({"detail": why}, status_code=422)(scope, receive, send)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def validation_error(_request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with any non-finite input echoed back as text."""
    return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)
