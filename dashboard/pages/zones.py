"""The zone and mask editor (``/zones``, desk staff: operator, supervisor, admin).

Pick a camera: its current frame (:mod:`dashboard.zone_frame`) fills a plotly graph whose drag mode
draws closed paths. Each polygon on it is a row of the table below (rule zone, exclude zone or
motion mask, with its rules, classes, dwell and active hours); drawing adds a row, dragging a
polygon moves it, the eraser or the row's ✕ deletes it. Save validates the rows with the config's
models (:func:`vision.zone_overrides.apply`, the words of ``cityops config check``) and the frame's
size, then writes the camera's override file, which the vision worker swaps in within seconds; a
refused save writes nothing. Two desks on one camera: a save is refused when another desk saved (or
removed) the camera's zones after this page read them (:func:`vision.zone_overrides.save_checked`);
the message names who and when, the edits stay in the table, and Save again replaces theirs."""

from __future__ import annotations

import functools

import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback_context, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cityops.taxonomy import RULE_CODES
from dashboard import zone_form
from dashboard.camera_wall import newest_evidence
from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.live_view import bytes_client
from dashboard.logins import login_box, staff_login
from dashboard.zone_frame import current_frame
from dispatch.lifecycle import DESK
from vision import zone_overrides

COLOURS = {"rules": "#ff4d4f", "exclude": "#52c41a", "mask": "#8c8c8c"}
NEW = "#ffd000"
GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": False,
    "modeBarButtonsToAdd": ["drawclosedpath", "eraseshape"],
    "modeBarButtonsToRemove": ["zoom2d", "pan2d", "select2d", "lasso2d", "autoScale2d", "resetScale2d"],
}
COLUMNS = ("id", "name", "kind", "rules", "classes", "dwell_s", "active_hours")


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    cams = [{"label": f"{c.name or c.id} ({c.id})", "value": c.id} for c in ctx.cfg.cameras]
    first = query.get("camera") if query.get("camera") in {c.id for c in ctx.cfg.cameras} else None
    return html.Div(
        [
            dcc.Store(id="zones-token", storage_type="session"),
            dcc.Store(id="zones-lang", data=lang),
            # {"w", "h", "known", "origin", "image", "rev": the override file's revision the zones came from}
            dcc.Store(id="zones-frame"),
            login_box("zones", lang),
            html.Div(
                [
                    html.H2(t("nav.zones", lang)),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id="zones-camera",
                                options=cams,
                                value=first or (cams[0]["value"] if cams else None),
                                clearable=False,
                                className="dropdown",
                            ),
                            html.Button(t("zones.reload", lang), id="zones-reload", n_clicks=0),
                            html.Span(id="zones-frame-msg", className="message"),
                        ],
                        className="actions",
                    ),  # fmt: skip
                    html.P(t("zones.help", lang), className="hint"),
                    dcc.Graph(id="zones-graph", config=GRAPH_CONFIG, style={"height": "62vh"}),
                    table(lang),
                    html.P(rule_legend(lang), className="hint", id="zones-rules-legend"),
                    html.Div(
                        [
                            html.Button(
                                t("zones.save", lang), id="zones-save", className="primary", n_clicks=0
                            ),
                            html.Div(id="zones-save-msg", className="message"),
                        ],
                        className="actions",
                    ),  # fmt: skip
                ],
                id="zones-main",
                className="panel zones-main",
            ),
        ],
        className="zones-page",
    )


def table(lang: str) -> dash_table.DataTable:
    kinds = [{"label": t(f"zones.kind.{k}", lang), "value": k} for k in zone_form.KINDS]
    return dash_table.DataTable(
        id="zones-table",
        columns=[
            {
                "name": t(f"zones.col.{c}", lang),
                "id": c,
                "editable": True,
                **({"presentation": "dropdown"} if c == "kind" else {}),
                **({"type": "numeric"} if c == "dwell_s" else {}),
            }
            for c in COLUMNS
        ],  # fmt: skip
        data=[],
        editable=True,
        row_deletable=True,
        dropdown={"kind": {"options": kinds, "clearable": False}},
        style_table={"overflowX": "auto"},
        style_header={"backgroundColor": "#13294a", "color": "#e6f0ff", "fontWeight": "bold"},
        style_cell={
            "backgroundColor": "#0b1a31",
            "color": "#e6f0ff",
            "fontFamily": "inherit",
            "padding": "5px",
            "textAlign": "left",
        },  # fmt: skip
        css=[{"selector": ".Select-value-label", "rule": "color: #e6f0ff !important"}],
    )


def rule_legend(lang: str) -> str:
    names = ", ".join(f"{code} ({t(f'type.{code}', lang)})" for code in sorted(RULE_CODES))
    return f"{t('zones.rules_known', lang)}: {names}"


def figure(frame: dict | None, rows: list[dict]) -> go.Figure:
    """The frame (or a blank canvas of its size) with each row's polygon, named by its row's key."""
    w, h = (frame or {}).get("w", 1280), (frame or {}).get("h", 720)
    fig = go.Figure(
        go.Scatter(
            x=[0, w], y=[0, h], mode="markers", marker={"opacity": 0}, hoverinfo="skip", showlegend=False
        )
    )
    if frame and frame.get("image"):
        fig.add_layout_image(source=frame["image"], xref="x", yref="y", x=0, y=0, sizex=w, sizey=h,
                             sizing="stretch", layer="below", xanchor="left", yanchor="top")  # fmt: skip
    shapes = []
    for row in rows:
        pts = zone_form.parse_points(row.get("points"))
        colour = COLOURS.get(row.get("kind"), NEW)
        shapes.append({
            "type": "path", "path": zone_form.svg_path(pts), "name": row["key"], "editable": True,
            "line": {"color": colour, "width": 2}, "fillcolor": colour, "opacity": 0.35,
            "label": {"text": str(row.get("id") or ""), "font": {"color": "#ffffff"}},
        })  # fmt: skip
    fig.update_layout(
        shapes=shapes,
        dragmode="drawclosedpath",
        newshape={"line": {"color": NEW, "width": 2}, "fillcolor": NEW, "opacity": 0.35},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="#0b1a31",
        plot_bgcolor="#202020",
        uirevision="zones",
    )
    fig.update_xaxes(range=[0, w], visible=False, constrain="domain", fixedrange=True)
    fig.update_yaxes(range=[h, 0], visible=False, scaleanchor="x", constrain="domain", fixedrange=True)
    return fig


# -- callbacks ------------------------------------------------------------------------------------------
def token_of(auth) -> str | None:
    return auth.get("token") if isinstance(auth, dict) else None


def login(ctx: DashContext, _n, _s, user, password, lang):
    got, message = staff_login(ctx.api, user, password, DESK, lang)
    return ({"token": got["token"], "user": user} if got else no_update), message


def show(auth):
    return ({"display": "none"}, {}) if token_of(auth) else ({}, {"display": "none"})


def desk_user(ctx: DashContext, auth) -> str | None:
    """The desk account behind ``auth`` (asked of the API: a login ended elsewhere is refused)."""
    token = token_of(auth)
    if not token:
        return None
    res = ctx.api.me(token)
    return res.data["username"] if res.ok and res.data.get("role") in DESK else None


def camera_of(ctx: DashContext, camera_id):
    return next((c for c in ctx.cfg.cameras if c.id == camera_id), None)


def load(ctx: DashContext, rb, camera_id, auth, lang):
    """The camera's frame and its zones in use: the override file's when it validates."""
    cam = camera_of(ctx, camera_id)
    if cam is None or desk_user(ctx, auth) is None:
        raise PreventUpdate
    shown = newest_evidence(ctx.live.snapshot()[1]).get(cam.id)  # the incident events name it
    got = current_frame(rb, ctx.cfg.data, cam, evidence=shown)
    frame = {
        "w": got.size[0],
        "h": got.size[1],
        "known": got.known,
        "origin": got.origin,
        "image": got.data_uri(),
        "rev": zone_overrides.revision(ctx.cfg.data, cam.id),  # before reading: a save between is a conflict
    }
    note = [t(f"zones.frame.{got.origin}", lang) + (f" ({got.size[0]}×{got.size[1]})" if got.known else "")]
    try:
        over = zone_overrides.load(ctx.cfg.data, cam, ctx.cfg.detector)
    except zone_overrides.OverrideError as exc:
        over = None
        note.append(f"{t('zones.refused_file', lang)}: {exc}")
    note.append(t("zones.from_override" if over else "zones.from_config", lang))
    rows = zone_form.rows(over or cam, got.size)
    return figure(frame, rows), rows, frame, " · ".join(note)


def edit(rd: dict | None, rows: list[dict], frame: dict | None):
    """The rows after a draw, move or erase on the graph (``rd``: plotly's relayout data)."""
    rows = [dict(r) for r in rows or []]
    if not rd:
        raise PreventUpdate
    if "shapes" in rd:  # drawn or erased: the whole list, drawn ones without a name
        by_key = {r["key"]: r for r in rows}
        names = {s.get("name") for s in rd["shapes"] or []}
        taken = {str(r.get("id")) for r in rows if r["key"] in names}  # an erased zone's id is free again
        out = []
        for shape in rd["shapes"] or []:
            pts = zone_form.path_points(shape.get("path"))
            row = by_key.get(shape.get("name"))
            if row is None:
                if len(pts) < 2:
                    continue  # a click, not a drawing
                row = zone_form.new_row(pts, taken)
                taken.add(row["id"])
            else:
                row["points"] = zone_form.points_text(pts)
            out.append(row)
        return out
    moved = False
    for i, row in enumerate(rows):  # a polygon dragged or reshaped: shapes[i].path
        path = rd.get(f"shapes[{i}].path")
        if path:
            row["points"], moved = zone_form.points_text(zone_form.path_points(path)), True
    if not moved:
        raise PreventUpdate
    return rows


def update(ctx: DashContext, rb, camera_id, auth, _reload, rd, _ts, rows, frame, lang):
    # several inputs may fire at once (a login shows the graph, which reports its new size)
    fired = {p.split(".")[0] for p in callback_context.triggered_prop_ids}
    if not fired or fired & {"zones-camera", "zones-token", "zones-reload"}:
        return load(ctx, rb, camera_id, auth, lang)
    if "zones-graph" in fired:
        rows = edit(rd, rows, frame)
        return figure(frame, rows), rows, no_update, no_update
    # a typed or deleted row: redraw, but leave the table alone (sending it back would undo what is
    # typed meanwhile)
    return figure(frame, rows or []), no_update, no_update, no_update


def save(ctx: DashContext, n, rows, camera_id, frame, auth, lang):
    """Validate and write the rows (the message, the zones-in-use note, and the revision the page then
    holds: a Patch of ``zones-frame``)."""
    if not n:
        raise PreventUpdate
    user = desk_user(ctx, auth)
    if user is None:
        return (
            html.Span(t("zones.login_needed", lang), className="error", id="zones-result"),
            no_update,
            no_update,
        )
    cam = camera_of(ctx, camera_id)
    if cam is None:
        raise PreventUpdate
    size = (frame["w"], frame["h"]) if frame else None
    doc = zone_form.document(rows or [], cam.id, size)
    try:
        new = zone_overrides.apply(cam, doc, ctx.cfg.detector)
        zone_overrides.check_frame(new, size if frame and frame.get("known") else None)
    except zone_overrides.OverrideError as exc:
        return (
            html.Div(
                [html.Strong(t("zones.invalid", lang)), html.Pre(str(exc), id="zones-errors")],
                className="error",
                id="zones-result",
            ),
            no_update,
            no_update,
        )
    rev = Patch()  # the revision the page holds from now on
    try:
        path, written = zone_overrides.save_checked(
            ctx.cfg.data, new, who=user, expect=(frame or {}).get("rev")
        )
    except zone_overrides.Conflict as exc:
        rev["rev"] = exc.revision  # Save again: replace theirs, knowingly
        return html.Span(conflict_text(ctx, exc, lang), className="error", id="zones-result"), no_update, rev
    except OSError as exc:
        return (
            html.Span(f"{t('zones.not_saved', lang)}: {exc}", className="error", id="zones-result"),
            no_update,
            no_update,
        )
    rev["rev"] = written
    text = t("zones.saved", lang).format(zones=len(new.zones), masks=len(new.motion_masks), path=path)
    return html.Span(f"✓ {text}", className="ok", id="zones-result"), t("zones.from_override", lang), rev


def conflict_text(ctx: DashContext, exc: zone_overrides.Conflict, lang: str) -> str:
    """Why a save was refused: who changed the camera's zones, and when (the board's time zone),
    after the page read them."""
    if exc.removed:
        return t("zones.conflict_removed", lang)
    when = f"{exc.when.astimezone(ctx.tz):%Y-%m-%d %H:%M:%S}" if exc.when else "-"
    return t("zones.conflict", lang).format(who=exc.who or t("zones.someone", lang), when=when)


def register(app, ctx: DashContext) -> None:
    bind = functools.partial
    rb = bytes_client(ctx.live.r)
    app.callback(
        Output("zones-token", "data"), Output("zones-login-msg", "children"),
        Input("zones-login", "n_clicks"), Input("zones-password", "n_submit"),
        State("zones-user", "value"), State("zones-password", "value"), State("zones-lang", "data"),
        prevent_initial_call=True,
    )(bind(login, ctx))  # fmt: skip
    app.callback(
        Output("zones-login-box", "style"), Output("zones-main", "style"), Input("zones-token", "data")
    )(show)
    app.callback(
        Output("zones-graph", "figure"), Output("zones-table", "data"),
        Output("zones-frame", "data"), Output("zones-frame-msg", "children"),
        Input("zones-camera", "value"), Input("zones-token", "data"), Input("zones-reload", "n_clicks"),
        Input("zones-graph", "relayoutData"), Input("zones-table", "data_timestamp"),
        State("zones-table", "data"), State("zones-frame", "data"), State("zones-lang", "data"),
    )(bind(update, ctx, rb))  # fmt: skip
    app.callback(
        Output("zones-save-msg", "children"),
        Output("zones-frame-msg", "children", allow_duplicate=True),
        Output("zones-frame", "data", allow_duplicate=True),
        Input("zones-save", "n_clicks"),
        State("zones-table", "data"), State("zones-camera", "value"), State("zones-frame", "data"),
        State("zones-token", "data"), State("zones-lang", "data"),
        prevent_initial_call=True,
    )(bind(save, ctx))  # fmt: skip
