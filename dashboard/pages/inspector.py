"""The inspector's phone page: log in, see my dispatches by urgency with live SLA countdowns,
accept, arrive with the browser's GPS, upload after-photos and resolve. Every action goes through
the dispatch API with the inspector's token, which stays in the browser session (never the URL)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import plotly.graph_objects as go
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash import ctx as cb
from dash.exceptions import PreventUpdate

from dashboard import press
from dashboard.clocks import next_due, parse_time, span_text
from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.logins import client_ip, end_login
from dashboard.maps import cells_near, fit_view, geo_uri, grid_layer, line_layer, outline, place_of
from dashboard.media import clip_player, clip_url, media_url
from dashboard.pages import component_report, field_actions
from dashboard.pages.phone import (
    GPS_JS,
    GRAPH_CONFIG,
    decode_upload,
    error_text,
    gps_failed,
    message,
    phone_map,
)
from dashboard.people import person_label
from dashboard.theme import CELL_LINE

HIDDEN = {"display": "none"}
CARD_PRESS = "insp-press"  # where a tapped case card goes (dashboard/press.py)

# Every second, in the browser: rewrite each countdown from the deadlines the server sent.
COUNTDOWN_JS = """
function(n, data) {
    var dc = window.dash_clientside, outs = dc.callback_context.outputs_list;
    if (!data || !outs) { throw dc.PreventUpdate; }
    if (window.__inspSync !== data.now) { window.__inspSync = data.now; window.__inspOffset = data.now - Date.now(); }
    var now = Date.now() + (window.__inspOffset || 0);
    function pad(v) { return (v < 10 ? "0" : "") + v; }
    function span(ms) {
        var s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
        return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
    }
    var texts = [], classes = [];
    outs[0].forEach(function(o) {
        var d = data.items[String(o.id.index)];
        if (!d) { texts.push(""); classes.push("ph-countdown"); return; }
        var left = d.due - now;
        texts.push((left >= 0 ? d.label : data.overdue) + " " + span(left));
        classes.push(left >= 0 ? "ph-countdown" : "ph-countdown ph-overdue");
    });
    return [texts, classes];
}
"""


# -- pure helpers ----------------------------------------------------------------------------------
def by_urgency(items: list[dict]) -> list[dict]:
    """Most urgent first: earliest pending deadline (overdue ones lead), then the lowest id."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(items, key=lambda i: ((next_due(i) or ("", far))[1], i["id"]))


def countdown_text(item: dict, now: datetime, lang: str) -> tuple[str, bool]:
    """(text, overdue) for an item's next deadline, as the clientside countdown writes it."""
    nd = next_due(item)
    if nd is None:
        return "", False
    stage, due = nd
    left = (due - now).total_seconds()
    head = t(f"insp.due.{stage}", lang) if left >= 0 else t("insp.overdue", lang)
    return f"{head} {span_text(left)}", left < 0


def due_data(items: list[dict], now: datetime, lang: str) -> dict:
    out = {}
    for i in items:
        nd = next_due(i)
        if nd:
            out[str(i["id"])] = {"due": int(nd[1].timestamp() * 1000), "label": t(f"insp.due.{nd[0]}", lang)}
    return {"now": int(now.timestamp() * 1000), "items": out, "overdue": t("insp.overdue", lang)}


def current(items: list[dict] | None, selected) -> dict | None:
    """The dispatch shown in detail: the selected one while it is still mine, else the most urgent."""
    items = items or []
    return next((i for i in items if i["id"] == selected), items[0] if items else None)


# -- rendering -------------------------------------------------------------------------------------
def card(ctx: DashContext, item: dict, now: datetime, lang: str, selected: bool) -> html.Div:
    text, overdue = countdown_text(item, now, lang)
    thumb = media_url(item.get("evidence"), ctx.media_key)
    return html.Div(
        [
            html.Img(src=thumb, className="ph-thumb", alt="") if thumb else html.Div(className="ph-thumb"),
            html.Div(
                [
                    html.Div(
                        [html.Span(f"#{item['id']} ", className="inc-id"), t(f"type.{item['type']}", lang)],
                        className="ph-card-title",
                    ),  # fmt: skip
                    html.Div(
                        f"{t('state.' + item['state'], lang)} · {place_of(item, lang)}",
                        className="ph-card-meta",
                    ),
                    html.A(
                        t("map.navigate", lang),
                        href=geo_uri(item["lon"], item["lat"], f"#{item['id']}"),
                        className="ph-nav",
                        id={"type": "insp-nav", "index": item["id"]},
                    ),  # fmt: skip
                    html.Div(
                        text,
                        id={"type": "insp-countdown", "index": item["id"]},
                        className="ph-countdown ph-overdue" if overdue else "ph-countdown",
                    ),
                ],
                className="ph-card-body",
            ),
        ],
        id={"type": "insp-card", "index": item["id"]},
        className="ph-card selected" if selected else "ph-card",
        role="button",
        **{"data-state": item["state"]},
        **press.on(CARD_PRESS, incident=item["id"]),
    )


def site_figure(ctx: DashContext, item: dict, me: dict | None, lang: str) -> go.Figure:
    """Over the basemap (when the board serves one) the grid's cells, the site's cell outlined, the
    site (red) and, when known, the inspector (blue). Markers only: an offline map style has no
    glyphs for text labels; the legend is HTML under the map."""
    traces = []
    cell = ctx.grid.by_code.get(item.get("cell") or "")
    if cell is not None:
        lons, lats = outline(cell.geometry)
        traces.append(go.Scattermap(lon=lons, lat=lats, mode="lines", line={"width": 2, "color": "#7fd3ff"},
                                    fill="toself", fillcolor="rgba(127,211,255,0.12)", hoverinfo="skip"))  # fmt: skip
    points = [(item["lon"], item["lat"])]
    traces.append(go.Scattermap(lon=[item["lon"]], lat=[item["lat"]], mode="markers", name=t("insp.site", lang),
                                marker={"size": 20, "color": "#ff4d4f"}, hoverinfo="name"))  # fmt: skip
    if me and me.get("lon") is not None:
        points.append((me["lon"], me["lat"]))
        traces.append(go.Scattermap(lon=[me["lon"]], lat=[me["lat"]], mode="markers", name=t("insp.you", lang),
                                    marker={"size": 14, "color": "#40a9ff"}, hoverinfo="name"))  # fmt: skip
    centre, zoom = fit_view(points)
    cells = line_layer(cells_near(grid_layer(ctx.cfg, ctx.grid, "cell"), points), CELL_LINE, width=1)
    return phone_map(ctx.cfg, centre, traces, zoom, f"site-{item['id']}-{len(points)}", overlays=[cells])


def map_legend(lang: str) -> html.Div:
    return html.Div(
        [
            html.Span([html.Span("●", className="ph-dot-site"), " " + t("insp.site", lang)]),
            html.Span([html.Span("●", className="ph-dot-you"), " " + t("insp.you", lang)]),
        ],
        className="ph-legend",
    )


def login_form(lang: str) -> html.Div:
    return html.Div(
        [
            html.Label(t("insp.username", lang), htmlFor="insp-username"),
            dcc.Input(id="insp-username", type="text", autoComplete="username", className="ph-input"),
            html.Label(t("insp.password", lang), htmlFor="insp-password"),
            dcc.Input(
                id="insp-password", type="password", autoComplete="current-password", className="ph-input"
            ),
            html.Button(
                t("insp.login", lang), id="insp-login-btn", className="ph-btn ph-primary", n_clicks=0
            ),
            html.Div(id="insp-login-msg"),
        ],
        id="insp-login",
        className="ph-section",
    )


def detail_panel(lang: str) -> html.Div:
    """Static controls (so a typed note survives list refreshes); their state follows the data."""
    return html.Div(
        [
            html.Div(id="insp-info", className="ph-info"),
            dcc.Graph(id="insp-map", className="ph-map", config=GRAPH_CONFIG, figure=go.Figure()),
            map_legend(lang),
            html.Div(
                [
                    html.Button(
                        t("insp.accept", lang), id="insp-accept", className="ph-btn ph-primary", n_clicks=0
                    ),
                    html.Button(
                        t("insp.arrive", lang), id="insp-arrive", className="ph-btn ph-primary", n_clicks=0
                    ),
                ],
                className="ph-row",
            ),
            html.H3(t("insp.photos", lang)),
            dcc.Upload(
                html.Div(t("insp.upload", lang)),
                id="insp-upload",
                multiple=True,  # no accept="image/*": browsers drop other files silently; the API says why
                className="ph-upload",
            ),  # fmt: skip
            html.Div(id="insp-photo-list", className="ph-photos"),
            html.Label(t("insp.note", lang), htmlFor="insp-note"),
            dcc.Textarea(id="insp-note", maxLength=2000, className="ph-input ph-textarea"),
            html.Button(
                t("insp.resolve", lang), id="insp-resolve", className="ph-btn ph-primary", n_clicks=0
            ),
            html.H3(t("insp.turn_down", lang)),
            html.Label(t("insp.reason", lang), htmlFor="insp-reason"),
            dcc.Textarea(id="insp-reason", maxLength=2000, className="ph-input ph-textarea"),
            html.Div(
                [
                    html.Button(
                        t("insp.reject", lang), id="insp-reject", className="ph-btn ph-danger", n_clicks=0
                    ),
                    html.Button(t("insp.escalate", lang), id="insp-escalate", className="ph-btn", n_clicks=0),
                ],
                className="ph-row",
            ),
            field_actions.controls(lang),
            html.Div(id="insp-trail"),
        ],
        id="insp-detail",
        className="ph-section",
        style=HIDDEN,
    )


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="insp-auth", storage_type="session"),
            dcc.Store(id="insp-lang", data=lang),
            dcc.Store(id="insp-items", data=[]),
            dcc.Store(id="insp-due"),
            dcc.Store(id="insp-selected"),
            press.sink(CARD_PRESS),  # outside the card list, which every update redraws
            dcc.Store(id="insp-gps"),
            dcc.Store(id="insp-photos", data={"incident": None, "paths": []}),
            dcc.Store(id="insp-bump", data=0),
            dcc.Interval(id="insp-refresh", interval=ctx.cfg.dashboard.phone_refresh_ms),
            dcc.Interval(id="insp-tick", interval=1000),
            html.H1(t("insp.title", lang), className="ph-title"),
            login_form(lang),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(id="insp-who"),
                            html.Button(
                                t("insp.logout", lang),
                                id="insp-logout",
                                className="ph-btn ph-small",
                                n_clicks=0,
                            ),  # fmt: skip
                        ],
                        className="ph-bar",
                    ),
                    html.Div(id="insp-msg", className="ph-sticky", n_clicks=0),  # tap to dismiss
                    html.H2(t("insp.mine", lang)),
                    html.Div(id="insp-list", className="ph-list"),
                    detail_panel(lang),
                    html.H2(t("insp.finished", lang)),
                    html.Div(id="insp-finished", className="ph-list"),
                    component_report.section(lang),
                ],
                id="insp-main",
                style=HIDDEN,
            ),
        ],
        className="phone inspector",
    )


# -- callbacks (bound to their inputs and outputs in register) -------------------------------------
def login(ctx: DashContext, _n, _s, username, password, lang):
    if not username or not password:
        return no_update, message(t("insp.login_needed", lang), False), no_update
    res = ctx.api.login(username.strip(), password, client_ip=client_ip())
    if not res.ok:
        return no_update, message(error_text(res, lang), False), ""
    d = res.data
    auth = {
        "token": d["token"],
        "user": username.strip(),
        "inspector": d.get("inspector_id"),
        "name": d.get("name"),
    }
    return auth, None, ""


def logout(ctx: DashContext, n, auth):
    end_login(ctx.api, n, (auth or {}).get("token"))  # ends the login at the API, not just on this phone
    return None


def show(auth, lang):
    if not auth:
        return {}, HIDDEN, ""
    who = auth.get("name") or auth["user"]  # the roster's name, not the roster id
    return HIDDEN, {}, f"{t('insp.signed_in', lang)}: {who}"


def refresh(ctx: DashContext, auth, _n, _bump, selected, lang):
    if not auth:
        return [], [], None, no_update, no_update, no_update, []
    res = ctx.api.my_dispatches(auth["token"])
    if res.status == 401:  # logged out elsewhere, deactivated, role or password changed: log in again
        return [], [], None, None, None, message(error_text(res, lang), False), []
    if not res.ok:
        return (
            no_update,
            no_update,
            no_update,
            message(error_text(res, lang), False),
            no_update,
            no_update,
            no_update,
        )
    items = by_urgency(res.data)
    now = datetime.now(UTC)
    shown = current(items, selected)
    cards = [card(ctx, i, now, lang, i is shown) for i in items]
    cleared = None if cb.triggered_id == "insp-auth" else no_update  # messages stay until the next login
    done = ctx.api.my_finished(auth["token"])
    return (
        items,
        cards or html.Div(t("insp.none", lang), className="empty"),
        due_data(items, now, lang),
        cleared,
        no_update,
        no_update,
        finished_list(ctx, done.data, lang) if done.ok else no_update,
    )


def finished_list(ctx: DashContext, items: list[dict], lang: str):
    """Today's finished dispatches: number, type, state now and when."""
    if not items:
        return html.Div(t("insp.none_finished", lang), className="empty")
    out = []
    for i in items:
        at = parse_time(i.get("resolved_at") or i.get("closed_at")).astimezone(ctx.tz)
        out.append(
            html.Div(
                [
                    html.Span(f"#{i['id']} ", className="inc-id"),
                    f"{t('type.' + i['type'], lang)} · {t('state.' + i['state'], lang)} · {at:%H:%M}",
                ],
                className="ph-done",
                **{"data-state": i["state"]},
            )
        )
    return out


def select(pressed):
    """The tapped card's case (a press, see dashboard/press.py: the list is redrawn on every update)."""
    got = press.read(pressed)
    if not got or not str(got.get("incident", "")).isdigit():
        raise PreventUpdate
    return int(got["incident"])


def history(ctx: DashContext, token: str | None, iid: int, lang: str) -> html.Ol | None:
    """The case's audit trail, by people's names (the API's ``people``), latest last; repeated
    merges of the same report folded into one line with their count."""
    if not token:
        return None
    res = ctx.api.incident(token, iid)
    if not res.ok:
        return None
    people, rows, merges = res.data.get("people") or {}, [], 0
    for e in res.data.get("events") or []:
        if e["action"] == "merged" and rows and merges:
            merges += 1
            rows[-1] = history_row(ctx, e, people, lang, merges)
            continue
        merges = 1 if e["action"] == "merged" else 0
        rows.append(history_row(ctx, e, people, lang, merges))
    return html.Ol(rows, className="ph-timeline", id="insp-history")


def history_row(ctx: DashContext, e: dict, people: dict, lang: str, merges: int) -> html.Li:
    at = parse_time(e["at"]).astimezone(ctx.tz)
    term = (e.get("extra") or {}).get("term_zh" if lang.startswith("zh") else "term_en") or t(
        "event." + e["action"], lang
    )
    if merges > 1:
        term = f"{term} ×{merges}"
    note = e.get("note") if e["actor"] != "system" else ""
    return html.Li(
        [
            html.Span(f"{at:%m-%d %H:%M}", className="ph-step"),
            html.Span(
                [
                    html.B(term),
                    " · ",
                    html.Span(person_label(e["actor"], people, lang), className="actor"),
                    html.Span(f" · {note}" if note else "", className="ph-key-inline"),  # text, never HTML
                ]
            ),
        ]
    )


def detail(ctx: DashContext, items, selected, gps, card_ids, auth, lang):
    item = current(items, selected)
    classes = ["ph-card selected" if item and c["index"] == item["id"] else "ph-card" for c in card_ids]
    if item is None:
        return HIDDEN, None, go.Figure(), True, True, True, True, True, classes, None
    acts = set(item.get("actions") or [])
    info = [
        html.Div(
            [html.Span(f"#{item['id']} ", className="inc-id"), t(f"type.{item['type']}", lang)],
            className="ph-card-title",
        ),  # fmt: skip
        html.Div(
            t("state." + item["state"], lang),
            className="ph-card-meta",
            id="insp-state",
            **{"data-state": item["state"]},
        ),
        # names, not the 15-digit cell code or raw coordinates
        html.Div(
            [html.Span(t("insp.place", lang) + ": ", className="ph-key-inline"), place_of(item, lang)],
            className="ph-place",
            id="insp-place",
        ),  # fmt: skip
        html.A(
            "➤ " + t("map.navigate", lang),
            href=geo_uri(item["lon"], item["lat"], f"#{item['id']}"),
            className="ph-btn ph-navigate",
            id="insp-navigate",
        ),
    ]
    if item.get("description"):
        info.append(html.Div(item["description"], className="ph-desc"))
    shot, clip = (
        media_url(item.get("evidence"), ctx.media_key),
        clip_url(item.get("clip"), ctx.media_key),
    )
    if shot or clip:  # the evidence frame and the seconds before it
        info.append(
            html.Div(
                ([html.Img(src=shot, className="ph-shot", alt="")] if shot else [])
                + ([clip_player(clip, lang)] if clip else []),
                className="ph-media",
            )
        )
    trail = history(ctx, (auth or {}).get("token"), item["id"], lang)
    me = gps if gps and gps.get("lon") is not None else None
    return ({}, info, site_figure(ctx, item, me, lang), "accept" not in acts, "arrive" not in acts,
            "resolve" not in acts, "reject" not in acts, "escalate" not in acts, classes,
            [html.H3(t("insp.history", lang)), trail] if trail is not None else None)  # fmt: skip


def act(ctx: DashContext, _a, gps, contents, _r, _rej, _esc, filenames, note, reason, photos, auth, items, selected,
        bump, lang):  # fmt: skip
    item = current(items, selected)
    trigger = cb.triggered_id
    if not auth or item is None or not cb.triggered or cb.triggered[0]["value"] in (None, 0, []):
        raise PreventUpdate
    token, iid = auth["token"], item["id"]
    paths = list(photos["paths"]) if photos and photos.get("incident") == iid else []
    if trigger == "insp-upload":
        return upload(ctx, token, iid, contents, filenames, paths, lang)
    if trigger in ("insp-reject", "insp-escalate"):
        action = trigger.removeprefix("insp-")
        if not (reason or "").strip():
            return (
                message(t("insp.need_reason", lang), False),
                no_update,
                no_update,
                no_update,
                no_update,
                no_update,
            )
        res = ctx.api.act(token, iid, action, {"note": reason.strip()})
        if not res.ok:
            return message(error_text(res, lang), False), bump + 1, no_update, no_update, no_update, no_update
        return (
            message(f"#{iid} {t('insp.done.' + action, lang)}", True),
            bump + 1,
            no_update,
            no_update,
            no_update,
            "",
        )
    if trigger == "insp-accept":
        res, done = ctx.api.act(token, iid, "accept"), "insp.done.accept"
    elif trigger == "insp-gps":
        if gps.get("error"):
            return gps_failed(gps, lang), no_update, no_update, no_update, no_update, no_update
        body = {"lon": gps["lon"], "lat": gps["lat"]}
        res, done = ctx.api.act(token, iid, "arrive", body), "insp.done.arrive"
    else:
        res, done = (
            ctx.api.act(token, iid, "resolve", {"note": note or "", "photos": paths}),
            "insp.done.resolve",
        )
    if not res.ok:
        return message(error_text(res, lang), False), bump + 1, no_update, no_update, no_update, no_update
    resolved = trigger == "insp-resolve"
    photos_out = {"incident": None, "paths": []} if resolved else no_update
    return (
        message(f"#{iid} {t(done, lang)}", True),
        bump + 1,
        photos_out,
        "" if resolved else no_update,
        no_update,
        no_update,
    )


def upload(ctx: DashContext, token, iid, contents, filenames, paths, lang):
    """Each picked photo to the API: one status line each, and the paths the API kept."""
    notes = []
    for contents_i, name in zip(contents or [], filenames or [], strict=False):
        decoded = decode_upload(contents_i, name)
        if decoded is None:
            notes.append(message(f"{name}: {t('ph.bad_file', lang)}", False))
            continue
        res = ctx.api.upload_photo(token, iid, *decoded)
        if res.ok:
            paths.append(res.data["photo"])
            notes.append(message(f"{name}: {t('insp.done.photo', lang)}", True))
        else:
            notes.append(message(f"{name}: {error_text(res, lang)}", False))
    return notes, no_update, {"incident": iid, "paths": paths}, no_update, None, no_update


def photo_list(ctx: DashContext, photos):
    paths = (photos or {}).get("paths") or []
    return [html.Img(src=media_url(p, ctx.media_key), className="ph-photo", alt=p) for p in paths]


def register(app, ctx: DashContext) -> None:
    bind = functools.partial
    app.callback(
        Output("insp-auth", "data"),
        Output("insp-login-msg", "children"),
        Output("insp-password", "value"),
        Input("insp-login-btn", "n_clicks"),
        Input("insp-password", "n_submit"),
        State("insp-username", "value"),
        State("insp-password", "value"),
        State("insp-lang", "data"),
        prevent_initial_call=True,
    )(bind(login, ctx))
    app.callback(
        Output("insp-auth", "data", allow_duplicate=True),
        Input("insp-logout", "n_clicks"),
        State("insp-auth", "data"),
        prevent_initial_call=True,
    )(bind(logout, ctx))
    app.callback(
        Output("insp-login", "style"),
        Output("insp-main", "style"),
        Output("insp-who", "children"),
        Input("insp-auth", "data"),
        State("insp-lang", "data"),
    )(show)
    app.callback(
        Output("insp-items", "data"),
        Output("insp-list", "children"),
        Output("insp-due", "data"),
        Output("insp-msg", "children", allow_duplicate=True),
        Output("insp-auth", "data", allow_duplicate=True),
        Output("insp-login-msg", "children", allow_duplicate=True),
        Output("insp-finished", "children"),
        Input("insp-auth", "data"),
        Input("insp-refresh", "n_intervals"),
        Input("insp-bump", "data"),
        State("insp-selected", "data"),
        State("insp-lang", "data"),
        prevent_initial_call="initial_duplicate",
    )(bind(refresh, ctx))
    app.clientside_callback(
        COUNTDOWN_JS,
        Output({"type": "insp-countdown", "index": ALL}, "children"),
        Output({"type": "insp-countdown", "index": ALL}, "className"),
        Input("insp-tick", "n_intervals"),
        Input("insp-due", "data"),
    )
    app.callback(
        Output("insp-selected", "data"),
        Input(CARD_PRESS, "value"),
        prevent_initial_call=True,
    )(select)
    app.callback(
        Output("insp-detail", "style"),
        Output("insp-info", "children"),
        Output("insp-map", "figure"),
        Output("insp-accept", "disabled"),
        Output("insp-arrive", "disabled"),
        Output("insp-resolve", "disabled"),
        Output("insp-reject", "disabled"),
        Output("insp-escalate", "disabled"),
        Output({"type": "insp-card", "index": ALL}, "className"),
        Output("insp-trail", "children"),
        Input("insp-items", "data"),
        Input("insp-selected", "data"),
        Input("insp-gps", "data"),
        State({"type": "insp-card", "index": ALL}, "id"),
        State("insp-auth", "data"),
        State("insp-lang", "data"),
    )(bind(detail, ctx))
    app.clientside_callback(GPS_JS, Output("insp-gps", "data"), Input("insp-arrive", "n_clicks"))
    app.clientside_callback(
        "function(n) { return n ? null : window.dash_clientside.no_update; }",
        Output("insp-msg", "children", allow_duplicate=True),
        Input("insp-msg", "n_clicks"),
        prevent_initial_call=True,
    )
    app.callback(
        Output("insp-msg", "children"),
        Output("insp-bump", "data"),
        Output("insp-photos", "data"),
        Output("insp-note", "value"),
        Output("insp-upload", "contents"),
        Output("insp-reason", "value"),
        Input("insp-accept", "n_clicks"),
        Input("insp-gps", "data"),
        Input("insp-upload", "contents"),
        Input("insp-resolve", "n_clicks"),
        Input("insp-reject", "n_clicks"),
        Input("insp-escalate", "n_clicks"),
        State("insp-upload", "filename"),
        State("insp-note", "value"),
        State("insp-reason", "value"),
        State("insp-photos", "data"),
        State("insp-auth", "data"),
        State("insp-items", "data"),
        State("insp-selected", "data"),
        State("insp-bump", "data"),
        State("insp-lang", "data"),
        prevent_initial_call=True,
    )(bind(act, ctx))
    app.callback(Output("insp-photo-list", "children"), Input("insp-photos", "data"))(bind(photo_list, ctx))
    field_actions.register(app, ctx)
    component_report.register(app, ctx)
