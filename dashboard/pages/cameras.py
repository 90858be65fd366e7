"""The camera wall (``/cameras``, staff login): thousands of cameras grouped by street or community
with their health counts, worst first; a click on a group narrows the wall to it, a filter shows only
the cameras offline or in error; tiles page ``PER_PAGE`` at a time, in street, community and name
order, names not codes. A click on a tile opens its live view (the board's signed MJPEG link, so a
worker publishes the camera's frames only while the panel is open); an offline camera says so, with
its last frame and its time.

Health comes from the board's live state (the camera-state hash and the camera-health stream); the
page holds only one page of tiles and the group list, whatever the size of the fleet."""

from __future__ import annotations

import functools
import math

from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.access import LiveAccess
from dashboard.camera_wall import (
    FILTERS,
    counts_line,
    health_states,
    latest_pictures,
    places,
    selected,
    state_of,
    summarise,
    tile,
)
from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.logins import login_box, staff_login
from dashboard.media import live_url
from dispatch.lifecycle import DESK, VIEWER

PER_PAGE = 24
ROLES = DESK | {VIEWER}  # a wall screen's viewer account may watch too


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    what = query.get("filter") if query.get("filter") in FILTERS else "all"
    return html.Div(
        [
            dcc.Store(id="cam-token", storage_type="session"),
            dcc.Store(id="cam-lang", data=lang),
            dcc.Store(id="cam-page", data=0),
            dcc.Store(id="cam-group", data=None),
            dcc.Store(id="cam-open", data=None),
            dcc.Store(id="cam-version", data=None),
            login_box("cam", lang, heading=False),
            html.Div(
                [
                    html.Div(
                        [
                            html.H2(t("cam.wall", lang)),
                            html.Div(id="cam-total", className="cam-total"),
                            dcc.RadioItems(id="cam-filter", value=what, className="cam-radio", inline=True,
                                           options=[{"label": t(f"cam.filter.{f}", lang), "value": f} for f in FILTERS]),
                            dcc.RadioItems(id="cam-by", value="street", className="cam-radio", inline=True,
                                           options=[{"label": t(f"level.{b}", lang), "value": b}
                                                    for b in ("street", "community")]),
                        ],
                        className="cam-head",
                    ),
                    html.Div(
                        [
                            html.Div(id="cam-groups", className="cam-groups panel"),
                            html.Div(
                                [
                                    html.Div(
                                        [
                                            html.Div(
                                                [
                                                    html.Span(id="cam-live-name", className="cam-live-title"),
                                                    html.Span(id="cam-live-place", className="cam-place"),
                                                    html.Button("×", id="cam-live-close", className="detail-close",
                                                                title=t("board.close", lang)),
                                                ],
                                                className="cam-live-head",
                                            ),
                                            html.Div(id="cam-live-body"),
                                            html.Div(id="live-state", className="live-state"),
                                        ],
                                        id="cam-live", className="cam-live hidden",
                                    ),
                                    html.Div(id="cam-tiles", className="cam-tiles"),
                                    html.Div(
                                        [
                                            html.Button("‹ " + t("cam.prev", lang), id="cam-prev"),
                                            html.Span(id="cam-pager", className="cam-pager"),
                                            html.Button(t("cam.next", lang) + " ›", id="cam-next"),
                                        ],
                                        className="cam-paging",
                                    ),
                                ],
                                className="cam-wall-main",
                            ),
                        ],
                        className="cam-body",
                    ),
                    dcc.Interval(id="cam-tick", interval=max(ctx.cfg.dashboard.refresh_ms, 2000)),
                ],
                id="cam-main", style={"display": "none"},
            ),
        ],
        className="cameras-page",
    )  # fmt: skip


def login(ctx: DashContext, _n, _s, user, password, lang):
    got, message = staff_login(ctx.api, user, password, ROLES, lang)
    return (got["token"] if got else no_update), message


def show(token):
    return ({"display": "none"}, {}) if token else ({}, {"display": "none"})


def turn(_prev, _next, _what, _by, _group, page):
    """Prev/next move one page (the render clamps it); a new filter or group starts at page 1."""
    trigger = callback_context.triggered_id
    if trigger == "cam-prev":
        return max((page or 0) - 1, 0)
    if trigger == "cam-next":
        return (page or 0) + 1
    return 0


def pick_group(clicks, current):
    """A click on a group narrows the wall to it; a second click (or on "all") shows every camera."""
    trigger = callback_context.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        raise PreventUpdate
    code = trigger.get("code")
    return None if code == "*" or code == current else code


def group_row(g, lang: str, active: bool, code: str) -> html.Button:
    return html.Button(
        [html.Span(g.name, className="cam-group-name"), counts_line(g, lang)],
        id={"type": "cam-group", "code": code},
        className="cam-group" + (" active" if active else "") + (" bad" if g.bad else ""),
        n_clicks=0,
    )


def render(ctx: DashContext, access: LiveAccess, token, what, by, group, page, _tick, seen, lang):
    """The totals, the group list and one page of tiles; nothing when only the tick fired and the live
    state did not move."""
    if not token:
        raise PreventUpdate
    # what this answer shows: a tick where none of it moved sends nothing (compared whole, not by
    # which input fired: Dash drops an answer that a newer request for the same outputs overtook)
    key = [ctx.live.version, what, by, group, page]
    if seen == key:
        raise PreventUpdate
    staff = access.staff({"Authorization": f"Bearer {token}"}, {})
    if staff is None:  # the API does not answer: say so over what is shown, and look again next tick
        return [t("err.503", lang)], no_update, no_update, no_update, None
    if not staff:
        return [t("login_ended", lang)], [], [], "", key
    placed = places(ctx.cfg, ctx.grid)
    health = health_states(ctx.live)
    total, groups = summarise(placed, health, by, lang)
    if group is not None and group not in {g.code for g in groups}:
        group = None  # a street's code while grouping by community: everything
    rows = [group_row(total, lang, group is None, "*")]
    rows += [group_row(g, lang, g.code == group, g.code) for g in groups]
    cams = selected(placed, health, what or "all", by, group)
    pages = max(1, math.ceil(len(cams) / PER_PAGE))
    k = min(max(int(page or 0), 0), pages - 1)
    shown = cams[k * PER_PAGE : (k + 1) * PER_PAGE]
    pictures = latest_pictures(ctx.live.snapshot()[1], ctx.media_key) if shown else {}
    tiles = []
    last = None
    for p in shown:
        head = (p.street, p.community)
        if head != last:  # a heading where the street or community changes
            last = head
            text = " · ".join(x for x in (p.street_name(lang), p.community_name(lang)) if x) or t(
                "outside", lang
            )
            tiles.append(html.Div(text, className="cam-heading"))
        tiles.append(tile(p, health, pictures.get(p.camera_id), lang, ctx.tz))
    if not tiles:
        tiles = [html.Div(t("cam.none" if placed else "no_cameras", lang), className="empty")]
    pager = f"{t('cam.page', lang)} {k + 1} / {pages} · {len(cams)} {t('cam.count', lang)}"
    return [counts_line(total, lang)], rows, tiles, pager, key


def open_tile(clicks, _close, current):
    """A click on a tile opens its live view; the close button (or a second click) closes it."""
    trigger = callback_context.triggered_id
    if trigger == "cam-live-close":
        return None
    if not isinstance(trigger, dict) or not any(c for c in clicks if c):
        raise PreventUpdate
    cam = trigger.get("camera")
    return None if cam == current else cam


def live_view(ctx: DashContext, access: LiveAccess, camera_id, token, lang):
    """The opened camera's live view: a signed MJPEG link (the worker publishes only while it is
    open; closing the panel removes the picture, which ends the stream), its name and place."""
    hidden = ("cam-live hidden", "", "", [])
    if not camera_id or not token or not access.staff({"Authorization": f"Bearer {token}"}, {}):
        return hidden
    p = next((p for p in places(ctx.cfg, ctx.grid) if p.camera_id == camera_id), None)
    if p is None:
        return hidden
    place = " · ".join(x for x in (p.street_name(lang), p.community_name(lang)) if x) or t("outside", lang)
    img = html.Img(
        src=live_url(camera_id, ctx.media_key),
        className="live-view",
        alt=p.name,
        **{"data-camera": camera_id},
    )  # assets/cameras.js ends the stream on close
    return "cam-live", f"{t('live', lang)} · {p.name}", place, [img]


def live_state(ctx: DashContext, _tick, camera_id, lang):
    """The opened camera's state; an offline one says so, with the time of its last frame."""
    if not camera_id:
        return "", "live-state"
    health = health_states(ctx.live)
    state = state_of(health, camera_id)
    h = health.get(camera_id)
    words = [t(f"cam.{state}", lang)]
    if state != "online" and h is not None and h.last_frame_at:
        words.append(f"{t('last_frame', lang)} {h.last_frame_at.astimezone(ctx.tz):%m-%d %H:%M:%S}")
    return " · ".join(words), f"live-state {state}"


def register(app, ctx: DashContext) -> None:
    bind = functools.partial
    access = LiveAccess(None, ctx.api)
    app.callback(
        Output("cam-token", "data"), Output("cam-login-msg", "children"),
        Input("cam-login", "n_clicks"), Input("cam-password", "n_submit"),
        State("cam-user", "value"), State("cam-password", "value"), State("cam-lang", "data"),
        prevent_initial_call=True,
    )(bind(login, ctx))  # fmt: skip
    app.callback(Output("cam-login-box", "style"), Output("cam-main", "style"), Input("cam-token", "data"))(
        show
    )
    app.callback(
        Output("cam-page", "data"),
        Input("cam-prev", "n_clicks"), Input("cam-next", "n_clicks"), Input("cam-filter", "value"),
        Input("cam-by", "value"), Input("cam-group", "data"),
        State("cam-page", "data"),
        prevent_initial_call=True,
    )(turn)  # fmt: skip
    app.callback(
        Output("cam-group", "data"),
        Input({"type": "cam-group", "code": ALL}, "n_clicks"),
        State("cam-group", "data"),
        prevent_initial_call=True,
    )(pick_group)
    app.callback(
        Output("cam-total", "children"), Output("cam-groups", "children"), Output("cam-tiles", "children"),
        Output("cam-pager", "children"), Output("cam-version", "data"),
        Input("cam-token", "data"), Input("cam-filter", "value"), Input("cam-by", "value"),
        Input("cam-group", "data"), Input("cam-page", "data"), Input("cam-tick", "n_intervals"),
        State("cam-version", "data"), State("cam-lang", "data"),
    )(bind(render, ctx, access))  # fmt: skip
    app.callback(
        Output("cam-open", "data"),
        Input({"type": "cam-tile", "camera": ALL}, "n_clicks"),
        Input("cam-live-close", "n_clicks"),
        State("cam-open", "data"),
        prevent_initial_call=True,
    )(open_tile)
    app.callback(
        Output("cam-live", "className"), Output("cam-live-name", "children"), Output("cam-live-place", "children"),
        Output("cam-live-body", "children"),
        Input("cam-open", "data"), State("cam-token", "data"), State("cam-lang", "data"),
    )(bind(live_view, ctx, access))  # fmt: skip
    app.callback(
        Output("live-state", "children"), Output("live-state", "className"),
        Input("cam-tick", "n_intervals"), Input("cam-open", "data"), State("cam-lang", "data"),
    )(bind(live_state, ctx))  # fmt: skip
