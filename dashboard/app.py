"""The Dash app: one server, four pages, routed by path; language by ``?lang=zh-CN|en``.

- ``/``            the wall board (dashboard.pages.board)
- ``/console``     the operator's dispatch console (dashboard.pages.console)
- ``/inspector``   the inspector's phone page (dashboard.pages.inspector)
- ``/citizen``     the citizen's report page (dashboard.pages.citizen)
- ``/reports``     the public map and list of citizen reports (dashboard.pages.reports)
- ``/evaluation``  the desk's evaluation league table, 综合评价 (dashboard.pages.evaluation)
- ``/zones``       the desk's zone and mask editor (dashboard.pages.zones)
- ``/cameras``     the camera wall: the fleet by street and community, paged tiles, live view
  (dashboard.pages.cameras)

A first load gets its page inside Dash's layout (``/_dash-layout`` reads the page's address from its
Referer: one round trip); moving between pages inside the app asks the routing callback.

Each page module has ``layout(ctx, lang, query) -> component`` and ``register(app, ctx)``, which
binds the page's named module-level callbacks to their inputs and outputs. Pages never import one
another: what several share lives in dashboard.theme (colours, map style), dashboard.maps (grid
layers, backgrounds, point maps) and dashboard.logins. Plain Flask routes serve evidence images, the live state as JSON and ``/healthz``.
"""

from __future__ import annotations

import importlib
import time
from urllib.parse import parse_qs, urlsplit

from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from flask import Response, abort, has_request_context, jsonify, request, send_from_directory
from werkzeug.security import safe_join

from cityops.config import CityOpsConfig
from cityops.resources import ASSETS
from cityops.service_state import health
from dashboard import plotly_bundle, polyfill
from dashboard.access import BOARD_COOKIE, BOARD_COOKIE_DAYS, public_camera, public_incident
from dashboard.api_client import ApiClient
from dashboard.context import DashContext
from dashboard.geometry import GeometryFiles
from dashboard.guard import guard
from dashboard.i18n import LANGS, t
from dashboard.live import LiveState
from dashboard.live_view import BOUNDARY, Viewers, bytes_client, mjpeg
from dashboard.media import EVIDENCE_KINDS, clip_allowed, install_photos, is_evidence_file, media_key
from dashboard.tiles import install_tiles
from dispatch.accounts import load_secret
from dispatch.api.addresses import proxy_key
from gis.grid import Grid

PAGES = {
    "/": "board",
    "/console": "console",
    "/inspector": "inspector",
    "/citizen": "citizen",
    "/reports": "reports",
    "/evaluation": "evaluation",
    "/zones": "zones",
    "/cameras": "cameras",
}
CITIZEN_PAGES = ("/citizen", "/reports")  # their nav shows no staff pages
#: scripts under assets/vendor that are not on every page as Dash would put them (every .js under
#: assets/): plotly.js comes with a page's first graph (dashboard.plotly_bundle), the runtime in the
#: polyfill's place (dashboard.polyfill)
VENDOR_SCRIPTS = r"^(plotly-cityops\.min|regenerator-runtime)\.js$"

#: Dash's renderer calls this as it asks for the layout (``/_dash-layout``, the page itself: see
#: ``shell`` in :func:`create_app`); assets/board.js runs plotly.js while that answer is computed
LAYOUT_PRE = 'function () { window.dispatchEvent(new Event("cityops:layout-asked")); }'

#: what each phone page links to: an inspector or a citizen cannot use the staff desks
PHONE_NAV = {"/inspector": ("/inspector", "/citizen"), **dict.fromkeys(CITIZEN_PAGES, CITIZEN_PAGES)}


def nav(lang: str, current: str) -> html.Nav:
    other = "en" if lang == "zh-CN" else "zh-CN"
    shown = PHONE_NAV.get(current, tuple(PAGES))
    links = [
        dcc.Link(
            t(f"nav.{name}", lang), href=f"{path}?lang={lang}", className="active" if path == current else ""
        )
        for path, name in PAGES.items()
        if path in shown
    ]
    links.append(
        dcc.Link(
            t("language", lang),
            href=f"{current}?lang={other}",
            id="lang-switch",
            className="lang",
            refresh=True,
        )
    )
    return html.Nav(links, className="nav")


def create_app(cfg: CityOpsConfig, live: LiveState, grid: Grid, api: ApiClient | None = None) -> Dash:
    secret = load_secret(cfg.data)
    key = proxy_key(secret)
    ctx = DashContext(cfg, live, grid, api or ApiClient(cfg.api_url, proxy_key=key))
    ctx.media_key = media_key(secret)
    app = Dash(
        __name__,
        assets_folder=str(ASSETS),
        title="CityOps",
        update_title=None,
        suppress_callback_exceptions=True,
        compress=True,  # gzip: the first figure is most of a first load (plotly.js comes gzipped)
        assets_ignore=VENDOR_SCRIPTS,
        hooks={"layout_pre": LAYOUT_PRE},
    )
    app.ctx = ctx
    # plotly.js (CityOps' own build, 3.0 MB: dashboard.plotly_bundle) is fetched only once a page's
    # first graph renders, after the layout's round trips: fetched at once, beside them, it is ready
    # when the first map is (the board's first draw)
    prefix = app.config.requests_pathname_prefix
    plotly_bundle.install(app.server, app.config.routes_pathname_prefix)  # where the server sees it
    ctx.geometry = GeometryFiles(cfg, grid, prefix)
    ctx.geometry.install(app.server, app.config.routes_pathname_prefix)
    polyfill.install(app)
    preload = "".join(
        f'<link rel="preload" as="script" href="{prefix}{path}">'
        for path in (plotly_bundle.PLOTLY_PATH, "_dash-component-suites/dash/dcc/async-graph.js")
    )
    app.index_string = app.index_string.replace("{%favicon%}", "{%favicon%}\n        " + preload, 1)
    modules = {}
    for name in PAGES.values():
        try:
            modules[name] = importlib.import_module(f"dashboard.pages.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dashboard.pages.{name}":
                raise
    for mod in modules.values():
        mod.register(app, ctx)

    server = app.server
    evidence_root = cfg.data.resolve()

    @server.route("/evidence/<path:rel>")
    def evidence(rel: str):
        """Evidence JPEGs and clips (staff only: a signed link, see dashboard.media), with range
        requests (206, Accept-Ranges, Content-Range; 416 for a range past the end) for seeking."""
        low = rel.lower()
        if not rel.startswith("evidence/") or not low.endswith(EVIDENCE_KINDS):
            abort(404)
        sub = rel.removeprefix("evidence/")
        # served from the evidence folder itself: safe_join refuses any ../ out of it
        if safe_join(str(evidence_root / "evidence"), sub) is None:
            abort(404)
        args = request.args
        if not is_evidence_file(rel) or not clip_allowed(
            rel, args.get("exp"), args.get("sig"), ctx.media_key, time.time()
        ):
            return jsonify({"detail": "camera evidence is for staff: open the incident in the console"}), 403
        kind = "video/mp4" if low.endswith(".mp4") else "image/jpeg"
        resp = send_from_directory(evidence_root / "evidence", sub, mimetype=kind, conditional=True)
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    frames = bytes_client(live.r)
    viewers = Viewers(cfg.dashboard.live_max_viewers)

    @server.route("/live/<camera_id>.mjpg")
    def live_view(camera_id: str):
        """A camera's annotated live view (staff only: a link the console signed), MJPEG."""
        args = request.args
        if camera_id not in {c.id for c in cfg.cameras} and camera_id not in live.cameras:
            abort(404)
        if not clip_allowed(
            f"live/{camera_id}", args.get("exp"), args.get("sig"), ctx.media_key, time.time()
        ):
            return jsonify({"detail": "the live view is for staff: open it from the console"}), 403
        if not viewers.enter():
            return jsonify({"detail": "too many live viewers on this board; try again later"}), 503

        def stream():
            try:
                yield from mjpeg(frames, camera_id, cfg.vision.live_max_fps)
            finally:
                viewers.leave()

        resp = Response(stream(), mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    install_tiles(server, cfg)
    install_photos(server, cfg)

    @server.route("/healthz")
    def healthz():
        """200 while the board serves; ``degraded`` lists the services ``cityops up`` is restarting."""
        return jsonify({"ok": True, **health(cfg.data)})

    access = ctx.access

    @server.route("/api/live")
    def api_live():
        """The live state: all of it for staff (board token or a dispatch API login), else what a
        public map may show (no names, notes or exact positions)."""
        version, incidents, cameras = live.snapshot()
        incs = [i.model_dump(mode="json") for i in incidents]
        cams = [c.model_dump(mode="json") for c in cameras]
        staff = bool(access.staff(request.headers, request.args, request.cookies))
        if not staff:
            incs, cams = [public_incident(i) for i in incs], [public_camera(c) for c in cams]
        resp = jsonify(
            {
                "version": version,
                "staff": staff,
                "incidents": incs,
                "cameras": cams,
                "open_by_cell": live.open_by_cell(incidents),
            }
        )
        resp.headers["Cache-Control"] = "no-store"
        resp.vary.add("Authorization")
        return resp

    def render(path: str, search: str) -> html.Div:
        """The page at ``path`` (``?lang=`` and the page's own query in ``search``)."""
        query = {k: v[0] for k, v in parse_qs(search.lstrip("?")).items()}
        lang = query.get("lang") if query.get("lang") in LANGS else cfg.dashboard.language
        name = PAGES.get(path)
        if name is None or name not in modules:
            return html.Div(
                [nav(lang, "/"), html.H2(t("not_found", lang), className="empty")],
                className="page",
                lang=lang,
            )
        if name == "board" and not access.may_see_board(request if has_request_context() else None):
            return html.Div([nav(lang, path), for_staff(lang)], className="page page-refused", lang=lang)
        return html.Div(
            [nav(lang, path), modules[name].layout(ctx, lang, query)],
            className=f"page page-{name}",
            lang=lang,
        )

    def shell() -> html.Div:
        """The app's layout (``/_dash-layout``) with the page that asked for it already in it, so a
        first load draws after one round trip, not two: the page's address is the request's Referer
        (sent to this origin only: dashboard.guard). Without one, ``#page`` comes empty and
        :func:`route` fills it."""
        where = referring_page(request.referrer) if has_request_context() else None
        page = render(*where) if where else None
        return html.Div(
            [
                dcc.Location(id="url"),
                dcc.Store(id="page-shown", data=page_key(*where) if where else None),
                dcc.Store(id="page-wanted"),
                html.Div(page, id="page"),
            ]
        )

    @server.after_request
    def _board_cookie(resp):
        """A page opened with the board token (a wall screen's ``?token=``) keeps it in a cookie, so
        the page's own requests (its layout, callbacks, cards and push stream) carry it."""
        given = request.args.get("token")
        if request.method == "GET" and access.is_board_token(given):
            resp.set_cookie(
                BOARD_COOKIE,
                given,
                max_age=BOARD_COOKIE_DAYS * 86400,
                httponly=True,
                samesite="Strict",
                secure=request.is_secure,
            )
        return resp

    @server.after_request
    def _layout_per_page(resp):
        if request.path.endswith("/_dash-layout"):  # one per page and per moment: never cached
            resp.headers["Cache-Control"] = "no-store"
            resp.vary.add("Referer")
        return resp

    app.layout = shell
    # a page shown already (in the layout, or by route) is not asked for again; a new address is
    app.clientside_callback(
        """function (path, search, shown) {
            var key = (path || "/") + (search || "");
            return key === shown ? window.dash_clientside.no_update : key;
        }""",
        Output("page-wanted", "data"),
        Input("url", "pathname"),
        Input("url", "search"),
        State("page-shown", "data"),
    )

    guard(app, cfg)  # after the clientside callback: its inline script is hashed there

    @app.callback(
        Output("page", "children"),
        Output("page-shown", "data"),
        Input("page-wanted", "data"),
        prevent_initial_call=True,
    )
    def route(wanted: str | None):
        if not isinstance(wanted, str):  # only the clientside callback sets it, always to an address
            raise PreventUpdate
        path, _, search = wanted.partition("?")
        return render(path or "/", search), wanted

    return app


def for_staff(lang: str) -> html.Div:
    """What the wall board's address shows to a browser without the board token (when one is set)."""
    return html.Div(
        [
            html.H2(t("board.for_staff", lang)),
            html.P(t("board.for_staff_how", lang)),
            html.P(
                [
                    t("board.for_public", lang),
                    " ",
                    dcc.Link(t("nav.reports", lang), href=f"/reports?lang={lang}"),
                ]
            ),
        ],
        className="panel refused",
        id="board-refused",
    )


def page_key(path: str, search: str) -> str:
    """What a page is known by on both sides: its path and query (``location.pathname + search``)."""
    return path + (f"?{search}" if search else "")


def referring_page(referrer: str | None) -> tuple[str, str] | None:
    """The path and query of the page that sent a request (its Referer), or None. The origin is not
    checked: browsers send it to this origin only (dashboard.guard), and any page's layout is what
    :func:`route` answers anyone anyway."""
    ref = urlsplit(referrer or "")
    return (ref.path, ref.query) if ref.path.startswith("/") else None
