"""The dispatch HTTP API (FastAPI): inspectors, the desk, citizens (Open311) and reports.

OpenAPI at /openapi.json, interactive docs at /docs.
"""

from __future__ import annotations

from datetime import UTC, date

import redis
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityops.clock import Clock, utcnow
from cityops.config import CityOpsConfig
from cityops.service_state import health
from dispatch.accounts import Tokens, load_secret
from dispatch.api import board_feed, open311, staff
from dispatch.api.deps import ApiContext, ctx, desk_actor, desk_or_board
from dispatch.api.guards import JsonGuard, validation_error
from dispatch.api.open311_format import error_response, is_open311
from dispatch.api.web import SecurityHeaders, install_docs
from dispatch.commands import Conflict, Forbidden, Invalid, NotFound
from dispatch.evaluation import evaluate
from dispatch.evaluation import period_bounds as eval_bounds
from dispatch.evaluation import to_csv as eval_csv
from dispatch.evaluation import to_xlsx as eval_xlsx
from dispatch.reports import period_bounds, summary, to_csv
from dispatch.wiring import build_dispatch
from gis.grid import Grid
from iot import webhook as iot_webhook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class BodyLimit:
    """Refuse a request body larger than ``max_body`` bytes with 413: at once when its Content-Length
    says so, and while it streams in otherwise (chunked bodies have no length to check)."""

    def __init__(self, app, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"the request body is larger than {self.max_body // 1_000_000} MB")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            exc = self._too_large()
            path = scope.get("path", "")
            if is_open311(path):
                return await error_response(path, 413, exc.detail)(scope, receive, send)
            return await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.max_body:
                raise self._too_large()
            return msg

        return await self.app(scope, limited, send)


def _error(request, status: int, detail, headers=None):
    """``{"detail": ...}``, or the spec's error shape (JSON or XML) on the Open311 paths."""
    if not is_open311(request.url.path):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    extra = {}
    if isinstance(detail, dict):  # a description with more to say (e.g. address candidates)
        extra = {k: v for k, v in detail.items() if k != "description"}
        detail = detail.get("description", "")
    return error_response(request.url.path, status, str(detail), headers, **extra)


async def _validation(request, exc: RequestValidationError):
    if not is_open311(request.url.path):
        return await validation_error(request, exc)
    parts = [
        f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()
    ]
    return error_response(request.url.path, 400, "; ".join(parts))


def create_api(
    cfg: CityOpsConfig, sessions: sessionmaker, grid: Grid, r: redis.Redis, clock: Clock = utcnow
) -> FastAPI:
    app = FastAPI(
        title="CityOps dispatch API",
        version="1",
        description="Incidents for grid inspectors and the dispatch desk; citizen reports on Open311 GeoReport v2.",
        docs_url=None,  # install_docs: the same pages from local assets, no CDN
        redoc_url=None,
    )
    install_docs(app)
    parts = build_dispatch(cfg, grid, sessions=sessions, clock=clock)
    commands = parts.commands
    app.state.ctx = ApiContext(
        cfg,
        parts.sessions,
        parts.readers,
        grid,
        r,
        commands,
        parts.intake,
        Tokens(load_secret(cfg.data), cfg.dispatch.token_ttl_s),
        cfg.data,
    )
    app.add_middleware(JsonGuard)  # inside the body cap: it reads capped bodies only
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_middleware(BodyLimit, max_body=int(cfg.dispatch.max_upload_mb * 1e6) + 64_000)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, a 413 included

    @app.exception_handler(OperationalError)
    async def _503(req, exc):  # the store is locked or its connection was cut: nothing was changed
        msg = "the incident store is busy or unavailable; nothing was changed, try again shortly"
        return _error(req, 503, msg, {"Retry-After": "5"})

    @app.exception_handler(NotFound)
    async def _404(req, exc):
        return _error(req, 404, str(exc))

    @app.exception_handler(Forbidden)
    async def _403(req, exc):
        return _error(req, 403, str(exc))

    @app.exception_handler(Invalid)
    async def _422(_req, exc):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Conflict)
    async def _409(req, exc):
        return _error(req, 409, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(req, exc):
        return _error(req, exc.status_code, exc.detail, getattr(exc, "headers", None))

    app.include_router(staff.router)
    app.include_router(board_feed.router)
    app.include_router(open311.router)
    app.include_router(iot_webhook.router)

    @app.get("/api/v1/reports/summary", tags=["reports"], response_model=None)
    def report(
        day: date = Query(default_factory=lambda: clock().astimezone(commands.tz).date(), alias="date"),
        period: str = Query("day", pattern="^(day|week)$"),
        by: str = Query("street", pattern="^(street|community|type)$"),
        format: str = Query("json", pattern="^(json|csv)$"),
        _actor=Depends(desk_actor),
        c: ApiContext = Depends(ctx),
    ):
        """Incidents opened and closed, open now, SLA stages met/missed and ratings per group."""
        try:
            [b.astimezone(UTC) for b in period_bounds(day, period, commands.tz)]
        except OverflowError:
            raise HTTPException(422, f"date {day} is out of the range a report can cover") from None
        rows = summary(c.readers, c.grid, c.cfg.sla, day=day, period=period, by=by, tz=commands.tz)
        if format == "csv":
            return PlainTextResponse(to_csv(rows), media_type="text/csv")
        return rows

    @app.get("/api/v1/reports/evaluation", tags=["reports"], response_model=None)
    def evaluation(
        day: date = Query(default_factory=lambda: clock().astimezone(commands.tz).date(), alias="date"),
        period: str = Query("month", pattern="^(day|week|month|quarter)$"),
        by: str = Query("street", pattern="^(street|community|cell|department|inspector|staff)$"),
        format: str = Query("json", pattern="^(json|csv|xlsx)$"),
        lang: str = Query("en", pattern="^(en|zh-CN)$"),
        _actor=Depends(desk_or_board),
        c: ApiContext = Depends(ctx),
    ):
        """综合评价: 上报数, 立案数, 结案数, 结案率, 按期结案率, 超期案卷数, 返工率, 回退数, 延期数, 核查及时率
        and 有效上报率 per region, department or position over a period, graded green/blue/yellow/red
        (formulas in docs/dmc.md); the last row is the district's total. ``format=csv`` or ``xlsx``
        (an Excel workbook, the CSV's columns and rows) with ``lang`` for the headings. A desk account,
        or the wall board (its key, for its evaluation panel)."""
        try:
            [b.astimezone(UTC) for b in eval_bounds(day, period, commands.tz)]
        except (OverflowError, ValueError):
            raise HTTPException(422, f"date {day} is out of the range a report can cover") from None

        def handling_due(inc):
            clock = commands.step_clock(inc)
            return clock.due if clock is not None and clock.stage.value == "handle" else None

        rows = evaluate(c.readers, c.grid, day=day, period=period, by=by, tz=commands.tz, now=clock(),
                        due_now=handling_due)  # fmt: skip
        if format == "csv":
            return PlainTextResponse(eval_csv(rows, lang), media_type="text/csv; charset=utf-8")
        if format == "xlsx":
            name = f"evaluation-{by}-{period}-{day.isoformat()}.xlsx"
            return Response(eval_xlsx(rows, lang), media_type=XLSX,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
        return rows

    @app.get("/photos/{day}/{name}", tags=["citizen (Open311 GeoReport v2)"], response_class=FileResponse)
    def photo(day: str, name: str, c: ApiContext = Depends(ctx)):
        if not (day.isdigit() and len(day) == 8) or "/" in name or "\x00" in name or name.startswith("."):
            raise HTTPException(404, "no such photo")
        path = (c.data_dir / "photos" / day / name).resolve()
        if not path.is_relative_to((c.data_dir / "photos").resolve()) or not path.is_file():
            raise HTTPException(404, "no such photo")
        # uploads are re-encoded images; nosniff keeps a browser from ever reading one as a page
        return FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/healthz", tags=["ops"])
    def healthz():
        """200 while this process serves; ``degraded`` lists the services ``cityops up`` is restarting
        (see :func:`cityops.service_state.health`)."""
        return {"ok": True, **health(cfg.data)}

    return app
