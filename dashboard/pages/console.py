"""The operator's dispatch console: a sortable, filterable table of incidents, an incident's detail
(evidence, audit trail, map) and the desk's actions, all through the dispatch API with the
operator's token. The table refreshes when the live state changes, without a page reload.
"""

from __future__ import annotations

import functools
from datetime import datetime

import plotly.graph_objects as go
from dash import Input, Output, State, callback_context, dash_table, dcc, html, no_update

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.logins import client_ip, end_login
from dashboard.maps import grid_layer, line_layer, point_map
from dashboard.media import media_url
from dashboard.theme import CELL_LINE, TEXT, state_colour
from dispatch.verdicts import Verdict

DESK_ACTIONS = ("verify", "close", "reject", "escalate")
VERDICTS = tuple(v.value for v in Verdict)


def login_box(prefix: str, lang: str) -> html.Div:
    return html.Div(
        [
            html.H2(t("login", lang)),
            dcc.Input(
                id=f"{prefix}-user",
                placeholder=t("username", lang),
                autoComplete="username",
                className="field",
            ),
            dcc.Input(
                id=f"{prefix}-password",
                type="password",
                placeholder=t("password", lang),
                autoComplete="current-password",
                className="field",
            ),
            html.Button(t("login", lang), id=f"{prefix}-login", className="primary"),
            html.Div(id=f"{prefix}-login-msg", className="message"),
        ],
        className="login-box",
        id=f"{prefix}-login-box",
    )


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    columns = [
        {"name": t(f"col.{c}", lang), "id": c}
        for c in ("id", "type", "source", "state", "cell", "assignee", "count", "opened", "overdue")
    ]
    roster = [{"label": f"{i.name} ({i.id})", "value": i.id} for i in ctx.cfg.roster]
    return html.Div(
        [
            dcc.Store(id="console-token", storage_type="session"),
            dcc.Store(id="console-lang", data=lang),
            dcc.Store(id="console-version", data=-1),
            dcc.Interval(id="console-tick", interval=ctx.cfg.dashboard.refresh_ms),
            login_box("console", lang),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.H2(t("nav.console", lang)),
                                    html.Button(t("logout", lang), id="console-logout", n_clicks=0),
                                ],
                                className="actions",
                            ),
                            dash_table.DataTable(
                                id="console-table",
                                columns=columns,
                                data=[],
                                sort_action="native",
                                filter_action="native",
                                row_selectable="single",
                                page_size=18,
                                style_as_list_view=True,
                                style_header={
                                    "backgroundColor": "#13294a",
                                    "color": TEXT,
                                    "fontWeight": "bold",
                                },
                                style_cell={
                                    "backgroundColor": "#0b1a31",
                                    "color": "#e6f0ff",
                                    "fontSize": 16,
                                    "padding": "6px",
                                    "textAlign": "left",
                                },
                                style_filter={"backgroundColor": "#0f2340", "color": "#e6f0ff"},
                                style_data_conditional=[
                                    {"if": {"filter_query": "{overdue} contains '!'"}, "color": "#ff6b6b"},
                                ],
                            ),
                        ],
                        className="panel console-table",
                    ),
                    html.Div(
                        [
                            html.H2(id="detail-title", children=t("select_incident", lang)),
                            html.Div(id="detail-body"),
                            html.Div(
                                [
                                    dcc.Dropdown(
                                        id="assign-to",
                                        options=roster,
                                        placeholder=t("assignee", lang),
                                        className="dropdown",
                                    ),
                                    html.Button(
                                        t("action.assign", lang), id="btn-assign", className="primary"
                                    ),
                                    dcc.Input(
                                        id="merge-into",
                                        type="number",
                                        min=1,
                                        placeholder=t("merge_into", lang),
                                        className="field small",
                                    ),
                                    html.Button(t("action.merge", lang), id="btn-merge"),
                                ],
                                className="actions",
                            ),
                            html.Div(
                                [
                                    dcc.Input(
                                        id="action-note", placeholder=t("note", lang), className="field wide"
                                    )
                                ]
                                + [html.Button(t(f"action.{a}", lang), id=f"btn-{a}") for a in DESK_ACTIONS],
                                className="actions",
                            ),
                            html.Div(
                                [
                                    dcc.Input(
                                        id="verdict-reason",
                                        placeholder=t("verdict.reason", lang),
                                        maxLength=2000,
                                        className="field wide",
                                    ),
                                    *[
                                        html.Button(t(f"verdict.{v}", lang), id=f"btn-verdict-{v}")
                                        for v in VERDICTS
                                    ],
                                ],
                                className="actions",
                                id="verdict-box",
                                title=t("verdict.title", lang),
                            ),
                            html.Div(id="action-msg", className="message"),
                        ],
                        className="panel console-detail",
                        id="console-detail",
                    ),
                ],
                className="console",
                id="console-main",
            ),
        ],
        className="console-page",
    )


def rows(ctx: DashContext, incidents: list[dict], lang: str) -> list[dict]:
    out = []
    for inc in incidents:
        opened = datetime.fromisoformat(inc["opened_at"]).astimezone(ctx.tz)
        out.append(
            {
                "id": inc["id"],
                "type": t("type." + inc["type"], lang),
                "source": t("source." + inc.get("source", "camera"), lang),  # the column's filter box
                "state": t("state." + inc["state"], lang),
                "cell": inc["cell"] or "-",
                "assignee": inc["assignee"] or t("unassigned", lang),
                "count": inc["count"],
                "opened": f"{opened:%m-%d %H:%M:%S}",
                "overdue": ("! " + ", ".join(inc["breaches"])) if inc["breaches"] else "",
            }
        )
    return out


def detail(ctx: DashContext, inc: dict, lang: str) -> list:
    evidence = inc.get("evidence")
    url = media_url(evidence, ctx.api_public_url)
    if url:
        picture = html.Img(src=url, className="detail-img")
    else:
        picture = html.Div(t("no_frame", lang), className="detail-img empty")
    site = go.Scattermap(
        lon=[inc["lon"]],
        lat=[inc["lat"]],
        mode="markers",
        marker={"size": 18, "color": state_colour(inc["state"])},
    )
    cells = line_layer(grid_layer(ctx.cfg, ctx.grid, "cell"), CELL_LINE)
    fig = point_map(ctx.cfg, (inc["lon"], inc["lat"]), [site], 14, overlays=[cells])
    fig.update_layout(height=200)
    timeline = [
        html.Li(
            [
                html.Span(f"v{e['version']} ", className="inc-id"),
                f"{datetime.fromisoformat(e['at']).astimezone(ctx.tz):%m-%d %H:%M:%S} · {e['actor']} · ",
                t("event." + e["action"], lang),
                f" → {t('state.' + e['to_state'], lang)}",
                html.Span(f" · {e['note']}" if e["note"] else "", className="note"),  # text, never HTML
            ]
        )
        for e in inc.get("events", [])
    ]
    facts = (
        f"{t('state.' + inc['state'], lang)} · {t('cell', lang)} {inc['cell'] or '-'} · "
        f"{t('assignee', lang)} {inc['assignee'] or t('unassigned', lang)} · {inc['count']}{t('count', lang)}"
    )
    verdicts = [
        html.Li(f"{t('verdict.' + v['verdict'], lang)} · {v['actor']} · {v['reason']}")  # text, never HTML
        for v in inc.get("verdicts", [])
    ]
    return [
        html.Div(facts, className="inc-meta big"),
        html.Div(inc.get("description") or "", className="description"),
        html.Div(
            [picture, dcc.Graph(figure=fig, config={"displayModeBar": False}, className="detail-map")],
            className="detail-media",
        ),
        html.H3(t("timeline", lang)),
        html.Ol(timeline, className="timeline", id="timeline"),
        *(
            [html.H3(t("verdict.title", lang)), html.Ul(verdicts, className="verdicts", id="verdicts")]
            if verdicts
            else []
        ),
    ]


# -- callbacks (bound to their inputs and outputs in register) -------------------------------------
def login(ctx: DashContext, _c, _s, user, password, lang):
    res = ctx.api.login(user or "", password or "", client_ip=client_ip())
    if not res.ok:
        return no_update, res.error
    if res.data["role"] == "inspector":
        return no_update, t("desk_only", lang)
    return res.data["token"], ""


def logout(ctx: DashContext, n, token):
    end_login(ctx.api, n, token)  # ends the login at the API, not just in this browser
    return None, ""


def show(token):
    return ({"display": "none"}, {}) if token else ({}, {"display": "none"})


def recheck_ticks(ctx: DashContext) -> int:
    """With nothing new, still ask the API every few seconds: a login ended elsewhere shows up here."""
    return max(1, round(5000 / ctx.cfg.dashboard.refresh_ms))


def refresh(ctx: DashContext, n, token, _msg, seen, lang):
    if not token:
        return no_update, no_update, no_update, no_update
    version = ctx.live.version
    if version == seen and callback_context.triggered_id == "console-tick" and (n or 0) % recheck_ticks(ctx):
        return no_update, no_update, no_update, no_update
    res = ctx.api.incidents(token, limit=500)
    if res.status == 401:  # logged out elsewhere, deactivated, role or password changed
        return [], -1, None, t("login_ended", lang)
    if not res.ok:
        return no_update, no_update, no_update, no_update
    return rows(ctx, res.data, lang), version, no_update, no_update


def show_detail(ctx: DashContext, selected, data, _msg, token, lang):
    if not token or not selected or not data or selected[0] >= len(data):
        return t("select_incident", lang), []
    incident_id = data[selected[0]]["id"]
    res = ctx.api.incident(token, incident_id)
    if not res.ok:
        return f"#{incident_id}", html.Div(res.error, className="message error")
    inc = res.data
    return f"#{inc['id']} {t('type.' + inc['type'], lang)}", detail(ctx, inc, lang)


def act(ctx: DashContext, *args):
    """The pressed button's action on the selected incident (the buttons' clicks come first)."""
    selected, data, assignee, merge_into, note, token, lang = args[-7:]
    if not token:
        return no_update
    if not selected or not data or selected[0] >= len(data):
        return t("select_incident", lang)
    incident_id = data[selected[0]]["id"]
    action = callback_context.triggered_id.removeprefix("btn-")
    if action == "assign":
        if not assignee:
            return t("pick_assignee", lang)
        res = ctx.api.act(token, incident_id, "assign", {"assignee": assignee, "note": note or ""})
    elif action == "merge":
        if not merge_into:
            return t("merge_into", lang)
        res = ctx.api.act(token, incident_id, "merge", {"into": int(merge_into), "note": note or ""})
    else:
        res = ctx.api.act(token, incident_id, action, {"note": note or ""})
    if not res.ok:
        return f"✗ {res.error}"
    return f"✓ #{incident_id} {t('action.' + action, lang)} · {t('state.' + res.data['state'], lang)} · {res.data['assignee'] or ''}"


def give_verdict(ctx: DashContext, _c, _f, selected, data, reason, token, lang):
    """The pressed verdict button (confirmed / false alarm) on the selected incident."""
    verdict = callback_context.triggered_id.removeprefix("btn-verdict-")
    return submit_verdict(ctx, verdict, selected, data, reason, token, lang)


def submit_verdict(ctx: DashContext, verdict: str, selected, data, reason, token, lang):
    """``verdict`` on the selected incident (by its id), with the reason; the message to show."""
    if not token:
        return no_update
    if not selected or not data or selected[0] >= len(data):
        return t("select_incident", lang)
    incident_id = data[selected[0]]["id"]
    if verdict == "false_alarm" and not (reason or "").strip():
        return t("verdict.needs_reason", lang)
    res = ctx.api.act(token, incident_id, "verdict", {"verdict": verdict, "reason": reason or ""})
    if not res.ok:
        return f"✗ {res.error}"
    return f"✓ #{incident_id} {t('verdict.' + verdict, lang)}"


def register(app, ctx: DashContext) -> None:
    bind = functools.partial
    app.callback(
        Output("console-token", "data"),
        Output("console-login-msg", "children"),
        Input("console-login", "n_clicks"),
        Input("console-password", "n_submit"),
        State("console-user", "value"),
        State("console-password", "value"),
        State("console-lang", "data"),
        prevent_initial_call=True,
    )(bind(login, ctx))
    app.callback(
        Output("console-token", "data", allow_duplicate=True),
        Output("console-login-msg", "children", allow_duplicate=True),
        Input("console-logout", "n_clicks"),
        State("console-token", "data"),
        prevent_initial_call=True,
    )(bind(logout, ctx))
    app.callback(
        Output("console-login-box", "style"),
        Output("console-main", "style"),
        Input("console-token", "data"),
    )(show)
    app.callback(
        Output("console-table", "data"),
        Output("console-version", "data"),
        Output("console-token", "data", allow_duplicate=True),
        Output("console-login-msg", "children", allow_duplicate=True),
        Input("console-tick", "n_intervals"),
        Input("console-token", "data"),
        Input("action-msg", "children"),
        State("console-version", "data"),
        State("console-lang", "data"),
        prevent_initial_call="initial_duplicate",
    )(bind(refresh, ctx))
    app.callback(
        Output("detail-title", "children"),
        Output("detail-body", "children"),
        Input("console-table", "selected_rows"),
        Input("console-table", "derived_virtual_data"),
        Input("action-msg", "children"),
        State("console-token", "data"),
        State("console-lang", "data"),
    )(bind(show_detail, ctx))
    app.callback(
        Output("action-msg", "children"),
        Input("btn-assign", "n_clicks"),
        Input("btn-merge", "n_clicks"),
        *[Input(f"btn-{a}", "n_clicks") for a in DESK_ACTIONS],
        State("console-table", "selected_rows"),
        State("console-table", "derived_virtual_data"),
        State("assign-to", "value"),
        State("merge-into", "value"),
        State("action-note", "value"),
        State("console-token", "data"),
        State("console-lang", "data"),
        prevent_initial_call=True,
    )(bind(act, ctx))
    app.callback(
        Output("action-msg", "children", allow_duplicate=True),
        *[Input(f"btn-verdict-{v}", "n_clicks") for v in VERDICTS],
        State("console-table", "selected_rows"),
        State("console-table", "derived_virtual_data"),
        State("verdict-reason", "value"),
        State("console-token", "data"),
        State("console-lang", "data"),
        prevent_initial_call=True,
    )(bind(give_verdict, ctx))
