"""The citizen's phone page (no account): report a problem with a photo, a position (the map's
centre under a fixed pin, the browser's GPS, or typed), a category and a description; see open
reports of the same category nearby first ("add my support"); get a tracking number and a rating
link (also as a QR code) with the rating secret in it; follow the report (merged or not, its own
description and photo, the time line, the inspector's public note and after-photo); rate the
handling once it is done, from any device with the link.

Everything goes through the Open311 API; the browser's address is forwarded as the client address
for the API's per-address rate limit. All user text is rendered as text."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from urllib.parse import urlencode

import flask
import plotly.graph_objects as go
from dash import ALL, Input, Output, Patch, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.logins import client_ip
from dashboard.maps import fit_view, grid_layer
from dashboard.media import media_url
from dashboard.pages.phone import (
    GPS_JS,
    GRAPH_CONFIG,
    decode_upload,
    error_text,
    gps_failed,
    message,
    parse_coord,
    phone_map,
)
from dispatch.lifecycle import HANDLED_STATES

HIDDEN = {"display": "none"}
TRACKING = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")

PREVIEW_JS = """
function(contents) {
    if (contents && contents.indexOf("data:image/") === 0) { return [contents, {}]; }
    return ["", {display: "none"}];
}
"""


# -- pure helpers ----------------------------------------------------------------------------------
def map_center(relayout: dict | None) -> tuple[float, float] | None:
    """The map's centre after the user moved it (plotly's ``map.center`` relayout key)."""
    c = (relayout or {}).get("map.center")
    if (
        isinstance(c, dict)
        and isinstance(c.get("lon"), int | float)
        and isinstance(c.get("lat"), int | float)
    ):
        return round(float(c["lon"]), 6), round(float(c["lat"]), 6)
    return None


def state_of(request: dict) -> str | None:
    """The incident state the API reports beside its Open311 status."""
    return request.get("state")


def can_rate(request: dict) -> bool:
    return state_of(request) in HANDLED_STATES and request.get("rating") is None


def rating_link(base_url: str, rid: str, secret: str, lang: str) -> str:
    """The page that rates ``rid`` from any device: the secret travels in the link, not typed."""
    return f"{base_url.rstrip('/')}/citizen?{urlencode({'lang': lang, 'request': rid, 'secret': secret})}"


def qr_data_uri(text: str) -> str:
    """``text`` as a QR code (SVG data URI, shown by the board's CSP: img-src data:)."""
    import segno

    return segno.make(text, error="m").svg_data_uri(scale=4, border=2)


def category_options(services: list[dict], lang: str) -> list[dict]:
    return [{"label": t(f"type.{s['service_code']}", lang), "value": s["service_code"]} for s in services]


# -- rendering -------------------------------------------------------------------------------------
def district_figure(ctx: DashContext) -> go.Figure:
    layer = grid_layer(ctx.cfg, ctx.grid, "street")
    codes = [f["properties"]["code"] for f in layer["features"]]
    streets = go.Choroplethmap(
        geojson=layer, locations=codes, z=[0] * len(codes), featureidkey="properties.code",
        colorscale=[[0, "rgba(64,169,255,0.10)"], [1, "rgba(64,169,255,0.10)"]], showscale=False,
        marker={"line": {"width": 1.5, "color": "#4a8ac4"}}, hoverinfo="skip",
    )  # fmt: skip
    w, s, e, n = ctx.grid.bounds
    centre, zoom = fit_view([(w, s), (e, n)], max_zoom=15)
    return phone_map(ctx.cfg, centre, [streets], zoom, "citizen-map")


def time_text(value: str, ctx: DashContext) -> str:
    return f"{datetime.fromisoformat(value.replace('Z', '+00:00')).astimezone(ctx.tz):%Y-%m-%d %H:%M}"


def _role(by: str | None, lang: str) -> str:
    return t(f"role.{by}", lang) if by else ""


def timeline_view(ctx: DashContext, steps: list[dict], lang: str) -> html.Div:
    """Received, accepted, on site, resolved: each step reached, when and by whom (a role)."""
    items = []
    for st in steps:
        when = time_text(st["at"], ctx)
        who = _role(st.get("by"), lang)
        items.append(
            html.Li(
                [
                    html.Span(t(f"step.{st['name']}", lang), className="ph-step"),
                    html.Span(when, className="ph-val"),
                    html.Span(who, className="ph-hint") if who else None,
                ],
                **{"data-step": st["name"]},
            )  # fmt: skip
        )
    return html.Div(
        [html.H3(t("cit.timeline", lang)), html.Ol(items, className="ph-timeline")], id="cit-timeline"
    )


def status_view(ctx: DashContext, req: dict, lang: str) -> html.Div:
    state = state_of(req)
    status = t(f"state.{state}", lang) if state else req.get("status_notes", "")
    rows = [
        (t("cit.tracking", lang), req["service_request_id"]),
        (t("cit.category", lang), t(f"type.{req['service_code']}", lang)),
        (t("cit.status", lang), status),
        (t("cit.reported", lang), time_text(req["requested_datetime"], ctx)),
        (t("cit.updated", lang), time_text(req["updated_datetime"], ctx)),
    ]
    if req.get("expected_datetime"):
        rows.append((t("cit.expected", lang), time_text(req["expected_datetime"], ctx)))
    rows.append((f"{t('ph.lon', lang)}, {t('ph.lat', lang)}", f"{req['long']:.6f}, {req['lat']:.6f}"))
    if req.get("rating") is not None:
        rows.append((t("cit.rated", lang), "★" * int(req["rating"])))
    body = []
    if req.get("merged"):
        body.append(html.Div(t("cit.merged_earlier", lang), className="ph-note", id="cit-merged"))
    body += [html.Div([html.Span(k, className="ph-key"), html.Span(v, className="ph-val")], className="ph-kv")
             for k, v in rows]  # fmt: skip
    if req.get("description"):
        body.append(html.Div(req["description"], className="ph-desc", id="cit-status-desc"))
    src = media_url(req.get("media_url"))
    if src:
        body.append(html.Img(src=src, className="ph-photo", alt="", id="cit-own-photo"))
    others = [u for u in (media_url(p) for p in req.get("photos") or []) if u]
    if others:
        body += [html.Div(t("cit.other_photos", lang), className="ph-key"),
                 html.Div([html.Img(src=u, className="ph-photo cit-other-photo", alt="") for u in others],
                          className="ph-photos")]  # fmt: skip
    if req.get("timeline"):
        body.append(timeline_view(ctx, req["timeline"], lang))
    if req.get("public_note"):
        body += [html.Div(t("cit.public_note", lang), className="ph-key"),
                 html.Div(req["public_note"], className="ph-desc", id="cit-public-note")]  # fmt: skip
    after = [u for u in (media_url(p) for p in req.get("after_photos") or []) if u]
    if after:
        body += [html.Div(t("cit.after_photo", lang), className="ph-key"),
                 html.Div([html.Img(src=u, className="ph-photo cit-after-photo", alt="") for u in after],
                          className="ph-photos")]  # fmt: skip
    return html.Div(body, className="ph-status", **{"data-state": state or ""})


def nearby_view(rows: list[dict], lang: str) -> html.Div | None:
    """Open reports of the chosen category around the pin, each with "add my support"."""
    if not rows:
        return None
    items = [
        html.Li(
            [
                html.Div(r.get("description") or t(f"type.{r['service_code']}", lang), className="ph-desc"),
                html.Div(
                    f"{r['service_request_id']} · {r.get('supports', 0)} {t('cit.supports', lang)}",
                    className="ph-hint",
                ),
                html.Button(
                    t("cit.support_btn", lang),
                    id={"type": "cit-support", "rid": r["service_request_id"]},
                    className="ph-btn cit-support",
                    n_clicks=0,
                ),
            ],  # fmt: skip
            **{"data-rid": r["service_request_id"]},
        )
        for r in rows[:5]
    ]
    return html.Div(
        [html.Div(t("cit.nearby_title", lang), className="ph-warn"), html.Ul(items, className="ph-nearby")]
    )


def report_form(ctx: DashContext, lang: str) -> html.Div:
    services = ctx.api.services()
    options = category_options(services.data, lang) if services.ok else []
    return html.Div(
        [
            html.Label(t("cit.photo", lang)),
            dcc.Upload(html.Div(t("cit.photo_pick", lang)), id="cit-photo", className="ph-upload"),
            html.Img(id="cit-preview", className="ph-preview", style=HIDDEN, alt=""),
            html.Label(t("cit.location", lang)),
            html.Div(t("cit.map_hint", lang), className="ph-hint"),
            html.Div(
                [
                    dcc.Graph(
                        id="cit-map", className="ph-map", config=GRAPH_CONFIG, figure=district_figure(ctx)
                    ),
                    html.Div(className="ph-pin"),
                ],
                className="ph-mapwrap",
            ),
            html.Div(
                [
                    html.Button(t("ph.gps", lang), id="cit-gps-btn", className="ph-btn", n_clicks=0),
                    *(
                        dcc.Input(
                            id=f"cit-{k}",
                            type="text",
                            inputMode="decimal",
                            placeholder=t(f"ph.{k}", lang),
                            className="ph-input",
                        )
                        for k in ("lon", "lat")
                    ),
                ],
                className="ph-row ph-coords",
            ),  # fmt: skip
            html.Div(id="cit-where", className="ph-hint"),
            html.Label(t("cit.category", lang), htmlFor="cit-category"),
            dcc.Dropdown(
                id="cit-category",
                options=options,
                placeholder=t("cit.choose", lang),
                searchable=False,
                clearable=False,
                className="ph-dropdown",
            ),  # fmt: skip
            html.Div(id="cit-nearby"),
            html.Div(id="cit-support-msg"),
            html.Label(t("cit.where_detail", lang), htmlFor="cit-where-detail"),
            dcc.Input(id="cit-where-detail", type="text", maxLength=200, className="ph-input"),
            html.Label(t("cit.description", lang), htmlFor="cit-description"),
            dcc.Textarea(id="cit-description", maxLength=2000, className="ph-input ph-textarea"),
            dcc.Checklist(
                id="cit-public",
                options=[{"label": t("cit.public_photo", lang), "value": "yes"}],
                value=[],
                className="ph-check",
            ),  # fmt: skip
            html.Button(t("cit.submit", lang), id="cit-submit", className="ph-btn ph-primary", n_clicks=0),
            html.Div(
                id="cit-msg", children=None if services.ok else message(error_text(services, lang), False)
            ),
            html.Div(id="cit-receipt"),
        ],
        className="ph-section",
        id="cit-report",
    )


def rate_form(lang: str, secret: str | None = None) -> html.Div:
    stars = [{"label": "★" * n, "value": n} for n in range(1, 6)]
    return html.Div(
        [
            html.H3(t("cit.rate", lang)),
            dcc.RadioItems(id="cit-rating", options=stars, className="ph-stars", inline=True),
            html.Label(t("cit.comment", lang), htmlFor="cit-comment"),
            dcc.Textarea(id="cit-comment", maxLength=2000, className="ph-input ph-textarea"),
            html.Label(t("cit.token", lang), htmlFor="cit-token"),
            dcc.Input(id="cit-token", type="text", className="ph-input", autoComplete="off", value=secret),
            html.Button(
                t("cit.rate_btn", lang), id="cit-rate-btn", className="ph-btn ph-primary", n_clicks=0
            ),
        ],
        id="cit-rate",
        style=HIDDEN,
    )


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    """``?request=<tracking number>&secret=<rating secret>`` (the rating link) opens the report."""
    asked = query.get("request") if TRACKING.match(query.get("request") or "") else None
    secret = (query.get("secret") or "")[:128] or None
    return html.Div(
        [
            dcc.Store(id="cit-auto", data=asked),
            dcc.Store(id="cit-reports", storage_type="session"),  # {tracking number: rating code}
            dcc.Store(id="cit-lang", data=lang),
            dcc.Store(id="cit-gps"),
            dcc.Store(id="cit-bump", data=0),
            html.H1(t("cit.title", lang), className="ph-title"),
            html.Div(t("cit.intro", lang), className="ph-hint"),
            report_form(ctx, lang),
            html.Div(
                [
                    html.H2(t("cit.lookup", lang)),
                    html.Div(
                        [
                            dcc.Input(
                                id="cit-track",
                                type="text",
                                value=asked,
                                placeholder=t("cit.tracking", lang),
                                className="ph-input",
                                autoComplete="off",
                            ),
                            html.Button(
                                t("cit.lookup_btn", lang), id="cit-lookup", className="ph-btn", n_clicks=0
                            ),
                        ],
                        className="ph-row",
                    ),  # fmt: skip
                    html.Div(id="cit-status"),
                    rate_form(lang, secret),
                    html.Div(id="cit-rate-msg"),
                ],
                className="ph-section",
            ),
        ],
        className="phone citizen",
    )


# -- callbacks (bound to their inputs and outputs in register) -------------------------------------
def from_map(relayout):
    c = map_center(relayout)
    if c is None:
        raise PreventUpdate
    return f"{c[0]:.6f}", f"{c[1]:.6f}"


def from_gps(gps, lang):
    if not gps:
        raise PreventUpdate
    if gps.get("error"):
        return no_update, no_update, no_update, gps_failed(gps, lang)
    fig = Patch()
    fig["layout"]["map"]["center"] = {"lon": gps["lon"], "lat": gps["lat"]}
    fig["layout"]["map"]["zoom"] = 16
    return f"{gps['lon']:.6f}", f"{gps['lat']:.6f}", fig, None


def where(ctx: DashContext, lon, lat, lang):
    x, y = parse_coord(lon, -180, 180), parse_coord(lat, -90, 90)
    if x is None or y is None:
        return ""
    cell = ctx.grid.locate(x, y)
    if not cell:
        return html.Span(t("cit.outside", lang), className="ph-warn")
    return f"{t('cell', lang)} {cell}"


def submit(ctx: DashContext, n, contents, filename, category, lon, lat, description, where_detail, public,
           reports, bump, lang):  # fmt: skip
    if not n:
        raise PreventUpdate
    keep = (no_update,) * 6
    x, y = parse_coord(lon, -180, 180), parse_coord(lat, -90, 90)
    if not category:
        return message(t("cit.need_category", lang), False), *keep
    if x is None or y is None:
        return message(t("cit.need_location", lang), False), *keep
    photo = decode_upload(contents, filename) if contents else None
    if contents and photo is None:
        return message(t("ph.bad_file", lang), False), *keep
    form = {"service_code": category, "lat": str(y), "long": str(x), "description": description or "",
            "public_photo": "true" if public else "false"}  # fmt: skip
    if (where_detail or "").strip():
        form["attribute[where]"] = where_detail.strip()
    res = ctx.api.create_request(form, photo, client_ip=client_ip())
    if not res.ok:
        return message(error_text(res, lang), False), *keep
    created = res.data[0]
    rid, secret = created["service_request_id"], created["rating_secret"]
    merged = created.get("merged_into")
    extra = created.get("photo_problem") or ""
    link = rating_link(flask.request.host_url, rid, secret, lang)
    receipt = html.Div(
        [
            html.Div(t("cit.thanks", lang) + (f" · {t('cit.merged_earlier', lang)}" if merged else "")),
            html.Div(extra, className="ph-warn") if extra else None,
            html.Div(t("cit.tracking", lang), className="ph-key"),
            html.Div(rid, id="cit-receipt-id", className="ph-big"),
            html.Div(t("cit.token", lang), className="ph-key"),
            html.Div(secret, id="cit-receipt-token", className="ph-big ph-token"),
            html.Div(t("cit.rate_link", lang), className="ph-key"),
            html.Img(src=qr_data_uri(link), id="cit-qr", className="ph-qr", alt=t("cit.rate_link", lang)),
            html.A(link, href=link, id="cit-rate-link", className="ph-link", rel="noreferrer"),
            html.Div(t("cit.rate_link_hint", lang), className="ph-hint"),
        ],
        className="ph-receipt",
    )
    return None, receipt, {**(reports or {}), rid: secret}, rid, (bump or 0) + 1, None, ""


def lookup(ctx: DashContext, _n, _s, _bump, auto, track, reports, lang):
    if callback_context.triggered_id is None and not auto:  # the page opened without a rating link
        raise PreventUpdate
    rid = (track or "").strip()
    if not TRACKING.match(rid):
        return message(t("cit.need_id", lang), False), HIDDEN, no_update
    res = ctx.api.request_status(rid)
    if not res.ok:
        return message(error_text(res, lang), False), HIDDEN, no_update
    req = res.data[0]
    return (
        status_view(ctx, req, lang),
        ({} if can_rate(req) else HIDDEN),
        (reports or {}).get(rid, no_update),
    )


def nearby(ctx: DashContext, category, lon, lat, lang):
    """While the pin moves: open reports of the chosen category within the merge radius."""
    x, y = parse_coord(lon, -180, 180), parse_coord(lat, -90, 90)
    if not category or x is None or y is None:
        return None
    res = ctx.api.nearby(category, x, y)
    return nearby_view(res.data, lang) if res.ok else None


def support(ctx: DashContext, clicks, lang):
    hit = callback_context.triggered_id
    if not isinstance(hit, dict) or not any(clicks or []):
        raise PreventUpdate
    res = ctx.api.support(hit["rid"], client_ip=client_ip())
    if not res.ok:
        return message(error_text(res, lang), False), no_update
    return message(t("cit.support_thanks", lang), True), None


def rate(ctx: DashContext, n, track, rating, comment, token, bump, lang):
    if not n:
        raise PreventUpdate
    rid = (track or "").strip()
    if not TRACKING.match(rid):
        return message(t("cit.need_id", lang), False), no_update
    if not rating:
        return message(t("cit.need_rating", lang), False), no_update
    if not (token or "").strip():
        return message(t("cit.need_token", lang), False), no_update
    res = ctx.api.rate(rid, token.strip(), int(rating), comment or "", client_ip=client_ip())  # the secret
    if not res.ok:
        return message(error_text(res, lang), False), no_update
    return message(t("cit.rate_thanks", lang), True), (bump or 0) + 1


def register(app, ctx: DashContext) -> None:
    bind = functools.partial
    app.clientside_callback(PREVIEW_JS, Output("cit-preview", "src"), Output("cit-preview", "style"),
                            Input("cit-photo", "contents"))  # fmt: skip
    app.clientside_callback(GPS_JS, Output("cit-gps", "data"), Input("cit-gps-btn", "n_clicks"))
    app.callback(
        Output("cit-lon", "value"),
        Output("cit-lat", "value"),
        Input("cit-map", "relayoutData"),
        prevent_initial_call=True,
    )(from_map)
    app.callback(
        Output("cit-lon", "value", allow_duplicate=True),
        Output("cit-lat", "value", allow_duplicate=True),
        Output("cit-map", "figure"),
        Output("cit-msg", "children", allow_duplicate=True),
        Input("cit-gps", "data"),
        State("cit-lang", "data"),
        prevent_initial_call=True,
    )(from_gps)
    app.callback(
        Output("cit-where", "children"),
        Input("cit-lon", "value"),
        Input("cit-lat", "value"),
        State("cit-lang", "data"),
    )(bind(where, ctx))
    app.callback(
        Output("cit-msg", "children"),
        Output("cit-receipt", "children"),
        Output("cit-reports", "data"),
        Output("cit-track", "value"),
        Output("cit-bump", "data"),
        Output("cit-photo", "contents"),
        Output("cit-description", "value"),
        Input("cit-submit", "n_clicks"),
        State("cit-photo", "contents"),
        State("cit-photo", "filename"),
        State("cit-category", "value"),
        State("cit-lon", "value"),
        State("cit-lat", "value"),
        State("cit-description", "value"),
        State("cit-where-detail", "value"),
        State("cit-public", "value"),
        State("cit-reports", "data"),
        State("cit-bump", "data"),
        State("cit-lang", "data"),
        prevent_initial_call=True,
    )(bind(submit, ctx))
    app.callback(
        Output("cit-nearby", "children"),
        Input("cit-category", "value"),
        Input("cit-lon", "value"),
        Input("cit-lat", "value"),
        State("cit-lang", "data"),
        prevent_initial_call=True,
    )(bind(nearby, ctx))
    app.callback(
        Output("cit-support-msg", "children"),
        Output("cit-nearby", "children", allow_duplicate=True),
        Input({"type": "cit-support", "rid": ALL}, "n_clicks"),
        State("cit-lang", "data"),
        prevent_initial_call=True,
    )(bind(support, ctx))
    app.callback(
        Output("cit-status", "children"),
        Output("cit-rate", "style"),
        Output("cit-token", "value"),
        Input("cit-lookup", "n_clicks"),
        Input("cit-track", "n_submit"),
        Input("cit-bump", "data"),
        Input("cit-auto", "data"),
        State("cit-track", "value"),
        State("cit-reports", "data"),
        State("cit-lang", "data"),
    )(bind(lookup, ctx))
    app.callback(
        Output("cit-rate-msg", "children"),
        Output("cit-bump", "data", allow_duplicate=True),
        Input("cit-rate-btn", "n_clicks"),
        State("cit-track", "value"),
        State("cit-rating", "value"),
        State("cit-comment", "value"),
        State("cit-token", "value"),
        State("cit-bump", "data"),
        State("cit-lang", "data"),
        prevent_initial_call=True,
    )(bind(rate, ctx))
