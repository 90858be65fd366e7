"""The operator's dispatch console: a sortable, filterable table of incidents, an incident's detail
(before and after evidence, the arrival on a map, the SLA time line, the audit trail) and the
desk's actions, all through the dispatch API with the operator's token.

The selection is an incident id (``console-selected``), never a row position: the table's radio
button, the highlighted row and the detail pane follow that id through sorting, filtering and live
updates, and every action button carries the id it acts on (``{"type": "console-act", "action":
..., "incident": id}``), checked against the selection when pressed. States and actions come from
the API (``state``, ``actions``) and are labelled from the i18n catalogue, never listed here.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

import plotly.graph_objects as go
from dash import ALL, Input, Output, Patch, State, callback_context, dash_table, dcc, html, no_update
from plotly.io.json import to_json_plotly

from dashboard import press
from dashboard.clocks import next_due as clock_next_due
from dashboard.clocks import parse_time, span_text
from dashboard.context import DashContext
from dashboard.errors import api_error
from dashboard.i18n import t
from dashboard.logins import end_login, login_box, staff_login
from dashboard.maps import cells_near, fit_view, grid_layer, line_layer, place_of, point_map
from dashboard.media import clip_player, clip_url, live_panel, media_url
from dashboard.people import person_label
from dashboard.theme import CELL_LINE, TEXT, state_colour
from dispatch.lifecycle import INSPECTOR, STAFF_ROLES, SlaStage
from dispatch.verdicts import Verdict

COLUMNS = (
    "id",
    "source",
    "type",
    "state",
    "street",
    "community",
    "assignee",
    "count",
    "opened",
    "sla",
    "escalated",
)
#: actions that need more than a note (their inputs sit above the buttons)
WITH_INPUT = {"assign": "assign-to", "merge": "merge-into"}
PRESS = "console-press"  # where the action and verdict buttons' presses go (dashboard/press.py)
SELECTED_ROW = {"backgroundColor": "#1f3f6e", "border": "1px solid #7fd3ff"}
LATE = "#ff4d4f"

# Every second, in the browser: each row's SLA countdown from the deadlines the server sent; the
# hidden ``late`` field turns the cell red (style_data_conditional).
COUNTDOWN_JS = """
function(n, due, data) {
    var dc = window.dash_clientside;
    if (!due || !data || !data.length) { throw dc.PreventUpdate; }
    if (window.__consoleSync !== due.now) { window.__consoleSync = due.now; window.__consoleOffset = due.now - Date.now(); }
    var now = Date.now() + (window.__consoleOffset || 0), changed = false;
    function pad(v) { return (v < 10 ? "0" : "") + v; }
    function span(ms) {
        var s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
        return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
    }
    var out = data.map(function(row) {
        var d = due.items[String(row.id)];
        if (!d) { return row; }
        var left = d.due - now, late = left < 0 ? 1 : 0;
        var text = d.stage + " " + (late ? due.over : due.left) + " " + span(left);
        if (text === row.sla && late === row.late) { return row; }
        changed = true;
        return Object.assign({}, row, {sla: text, late: late});
    });
    if (!changed) { throw dc.PreventUpdate; }
    return out;
}
"""

CONSOLE_ROLES = frozenset(STAFF_ROLES) - {INSPECTOR}  # the desk, department staff and viewers


def table(lang: str) -> dash_table.DataTable:
    return dash_table.DataTable(
        id="console-table",
        columns=[{"name": t(f"col.{c}", lang), "id": c} for c in COLUMNS],
        data=[],
        sort_action="native",
        filter_action="native",
        filter_options={"placeholder_text": t("filter", lang)},
        row_selectable="single",
        page_size=25,
        style_as_list_view=True,
        style_table={"overflowX": "auto"},
        style_header={"backgroundColor": "#13294a", "color": TEXT, "fontWeight": "bold"},
        style_cell={
            "backgroundColor": "#0b1a31",
            "color": "#e6f0ff",
            # in the page's --px (assets/console.css): the table grows with the screen
            "fontSize": "calc(var(--px, 1px) * 15)",
            "fontFamily": "inherit",
            "padding": "calc(var(--px, 1px) * 5)",
            "textAlign": "left",
            "maxWidth": "calc(var(--px, 1px) * 150)",
            "overflow": "hidden",
            "textOverflow": "ellipsis",
        },
        # the countdown ("处置 剩余 23:58:10") needs more than the other columns' width
        style_cell_conditional=[{"if": {"column_id": "sla"}, "maxWidth": "calc(var(--px, 1px) * 210)"}],
        style_filter={"backgroundColor": "#0f2340", "color": "#e6f0ff"},
        style_data_conditional=highlight(None),
    )


def highlight(selected: int | None) -> list[dict]:
    """The table's conditional styles: late countdowns red, escalations pink, the selected id lit."""
    rules = [
        # the table's own active cell is a position: after a re-sort it sits on another incident
        {"if": {"state": "active"}, "backgroundColor": "#0b1a31", "border": "1px solid #1d3b5f"},
        {"if": {"filter_query": "{late} = 1", "column_id": "sla"}, "color": LATE, "fontWeight": "bold"},
        {"if": {"filter_query": '{escalated} != ""', "column_id": "escalated"}, "color": "#f759ab"},
    ]
    if selected is not None:
        rules.append({"if": {"filter_query": f"{{id}} = {int(selected)}"}, **SELECTED_ROW})
    return rules


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    # a case goes to a department (数字城管) or, where none is configured, to a grid inspector
    roster = [{"label": f"{d.name} ({d.id})", "value": d.id} for d in ctx.cfg.departments] + [
        {"label": f"{i.name} ({i.id})", "value": i.id} for i in ctx.cfg.roster
    ]
    return html.Div(
        [
            # kept for the origin (every tab of this board), not the tab: a new tab is still logged in
            dcc.Store(id="console-token", storage_type="local"),
            dcc.Store(id="console-lang", data=lang),
            dcc.Store(id="console-version", data=-1),
            dcc.Store(id="console-selected"),
            dcc.Store(id="console-selected-version"),
            dcc.Store(id="console-due"),
            dcc.Store(id="console-bump", data=0),
            dcc.Store(id="console-detail-shown"),  # what the detail pane shows (draw_detail)
            press.sink(PRESS),  # outside the action bar, which every live update may redraw
            dcc.Interval(id="console-tick", interval=ctx.cfg.dashboard.refresh_ms),
            dcc.Interval(id="console-clock", interval=1000),
            login_box("console", lang),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.H2(t("nav.console", lang)),
                                    html.Span(id="console-who", className="who"),
                                    html.Button(t("logout", lang), id="console-logout", n_clicks=0),
                                ],
                                className="actions console-head",
                            ),
                            table(lang),
                        ],
                        className="panel console-table",
                    ),
                    html.Div(
                        [
                            html.H2(id="detail-title", children=t("select_incident", lang)),
                            # the actions above the detail: live updates of the detail never move them
                            html.Div(
                                [
                                    dcc.Dropdown(
                                        id="assign-to",
                                        options=roster,
                                        placeholder=t("assignee", lang),
                                        className="dropdown",
                                    ),
                                    dcc.Input(
                                        id="merge-into",
                                        type="number",
                                        min=1,
                                        placeholder=t("merge_into", lang),
                                        className="field small",
                                    ),
                                    dcc.Input(
                                        id="action-note", placeholder=t("note", lang), className="field wide"
                                    ),
                                ],
                                className="actions",
                            ),
                            html.Div(id="console-actions", className="actions"),
                            html.Div(id="action-msg", className="message"),
                            html.Div(id="detail-body"),
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


# -- pure helpers ----------------------------------------------------------------------------------
def area_name(area: dict | None, lang: str) -> str:
    if not area:
        return "-"
    return area["name_en"] if lang == "en" else area["name_zh"]


def next_due(inc: dict) -> tuple[str, datetime] | None:
    """The first SLA stage of an open incident not yet done, and its deadline."""
    return None if inc.get("closed_at") is not None else clock_next_due(inc)


def sla_text(inc: dict, now: datetime, lang: str) -> tuple[str, int]:
    """(countdown text, 1 when overdue) for the incident's next deadline, as the browser writes it."""
    nd = next_due(inc)
    if nd is None:
        return "", 0
    stage, due = nd
    left = (due - now).total_seconds()
    word = t("sla.over", lang) if left < 0 else t("sla.left", lang)
    return f"{t('sla.stage.' + stage, lang)} {word} {span_text(left)}", int(left < 0)


def row(ctx: DashContext, inc: dict, now: datetime, lang: str) -> dict:
    opened = parse_time(inc["opened_at"]).astimezone(ctx.tz)
    sla, late = sla_text(inc, now, lang)
    escalated = ""
    if inc.get("escalated"):
        who = inc.get("escalated_to_name") or inc.get("escalated_to")
        escalated = t("escalated_yes", lang) + (f" → {who}" if who else "")
    return {
        "id": inc["id"],
        "source": t(f"source.{inc['source']}", lang),
        "type": t("type." + inc["type"], lang),
        "state": t("state." + inc["state"], lang),
        "street": area_name(inc.get("street"), lang),
        "community": area_name(inc.get("community"), lang),
        "assignee": inc.get("assignee_name") or inc.get("assignee") or t("unassigned", lang),
        "count": inc["count"],
        "opened": f"{opened:%m-%d %H:%M:%S}",
        "sla": sla,
        "late": late,
        "escalated": escalated,
        "version": inc["version"],
    }


def rows(ctx: DashContext, incidents: list[dict], lang: str, now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(UTC)
    return [row(ctx, inc, now, lang) for inc in incidents]


def due_data(incidents: list[dict], now: datetime, lang: str) -> dict:
    items = {}
    for inc in incidents:
        nd = next_due(inc)
        if nd:
            items[str(inc["id"])] = {
                "due": int(nd[1].timestamp() * 1000),
                "stage": t(f"sla.stage.{nd[0]}", lang),
            }
    return {
        "now": int(now.timestamp() * 1000),
        "items": items,
        "left": t("sla.left", lang),
        "over": t("sla.over", lang),
    }


def index_of(data: list[dict], incident_id: int | None) -> list[int]:
    """``selected_rows`` for the selected id: its position in ``data`` now (none when absent)."""
    if incident_id is None:
        return []
    return next(([k] for k, r in enumerate(data) if r["id"] == incident_id), [])


def fold_merges(events: list[dict]) -> list[tuple[str, list[dict]]]:
    """The audit trail with each run of repeated merges as one group: ``[("one", [e]) | ("merges",
    [e1, e2, ...])]`` in order."""
    out: list[tuple[str, list[dict]]] = []
    for e in events:
        if e["action"] == "merged" and out and out[-1][0] == "merges":
            out[-1][1].append(e)
        elif e["action"] == "merged":
            out.append(("merges", [e]))
        else:
            out.append(("one", [e]))
    return [("one", g) if kind == "merges" and len(g) == 1 else (kind, g) for kind, g in out]


def sla_marks(inc: dict, now: datetime) -> list[dict]:
    """Per SLA stage: its deadline, when it was done, and whether it is late (done after its deadline,
    or not done and past it while the incident is open)."""
    out = []
    finished = inc.get("closed_at") is not None
    for stage in SlaStage:
        if stage.value not in (inc.get("due") or {}):
            continue
        due = parse_time(inc["due"][stage.value])
        done = parse_time(inc.get(stage.stamp))
        late = (
            (done > due)
            if done
            else (not finished and now > due) or stage.value in (inc.get("breaches") or [])
        )
        out.append({"stage": stage.value, "due": due, "done": done, "late": bool(late)})
    return out


# -- rendering -------------------------------------------------------------------------------------
def when(ctx: DashContext, value) -> str:
    dt = parse_time(value)
    return f"{dt.astimezone(ctx.tz):%m-%d %H:%M:%S}" if dt else "—"


def evidence_panel(ctx: DashContext, inc: dict, lang: str) -> html.Div:
    before = media_url(inc.get("evidence"), ctx.media_key)
    after = [u for u in (media_url(p, ctx.media_key) for p in inc.get("after_photos") or []) if u]
    before_el = (
        html.Img(src=before, className="detail-img", alt=t("evidence.before", lang))
        if before
        else html.Div(t("no_frame", lang), className="detail-img empty")
    )
    after_el = (
        html.Div([html.Img(src=u, className="detail-img after", alt=t("evidence.after", lang)) for u in after],
                 className="after-photos")
        if after
        else html.Div(t("evidence.none_after", lang), className="detail-img empty")
    )  # fmt: skip
    clip = clip_url(inc.get("clip"), ctx.media_key)
    if clip:  # the seconds before the detection, next to its frame
        before_el = html.Div([before_el, clip_player(clip, lang)], className="detail-shots")
    panels = [
        html.Figure([before_el, html.Figcaption(t("evidence.before", lang))], id="evidence-before"),
        html.Figure([after_el, html.Figcaption(t("evidence.after", lang))], id="evidence-after"),
    ]
    if inc.get("camera_id"):  # the camera now, beside what it saw
        health = ctx.live.cameras.get(inc["camera_id"])
        panels.append(live_panel(inc["camera_id"], health, ctx.media_key, ctx.tz, lang))
    return html.Div(panels, className="evidence")


def arrival_map(ctx: DashContext, inc: dict, lang: str) -> list:
    site = (inc["lon"], inc["lat"])
    traces = [
        go.Scattermap(lon=[site[0]], lat=[site[1]], mode="markers", name=t("insp.site", lang),
                      marker={"size": 18, "color": state_colour(inc["state"])}, hoverinfo="name"),
    ]  # fmt: skip
    points = [site]
    arrival = inc.get("arrival")
    if arrival:
        here = (arrival["lon"], arrival["lat"])
        points.append(here)
        traces += [
            go.Scattermap(lon=[site[0], here[0]], lat=[site[1], here[1]], mode="lines",
                          line={"width": 2, "color": "#40a9ff"}, hoverinfo="skip", showlegend=False),
            go.Scattermap(lon=[here[0]], lat=[here[1]], mode="markers", name=t("arrival", lang),
                          marker={"size": 14, "color": "#40a9ff"}, hoverinfo="name"),
        ]  # fmt: skip
    centre, zoom = fit_view(points)
    cells = line_layer(cells_near(grid_layer(ctx.cfg, ctx.grid, "cell"), points), CELL_LINE)
    fig = point_map(ctx.cfg, centre, traces, min(zoom, 17), overlays=[cells])
    fig.update_layout(showlegend=False)  # its height from the page's CSS (.detail-map), as the screen scales
    if arrival:
        caption = html.Div(
            [
                html.Span("●", className="dot-arrival"),
                f" {t('arrival', lang)} · {person_label(arrival['actor'], inc.get('people'), lang)} · "
                f"{when(ctx, arrival['at'])} · ",
                html.B(
                    t("arrival.distance", lang).format(m=f"{arrival['distance_m']:.0f}"),
                    id="arrival-distance",
                ),
            ],
            className="inc-meta",
        )
    else:
        caption = html.Div(t("arrival.none", lang), className="inc-meta", id="arrival-distance")
    return [
        dcc.Graph(
            figure=fig,
            config={"displayModeBar": False},
            className="detail-map",
            id="detail-map",
            responsive=True,
        ),
        caption,
    ]


def sla_line(ctx: DashContext, inc: dict, now: datetime, lang: str) -> html.Div:
    steps = [html.Div([html.Div(t("stamp.opened", lang), className="step-name"), html.Div(when(ctx, inc["opened_at"]))],
                      className="step done")]  # fmt: skip
    if inc.get("dispatched_at"):
        steps.append(html.Div([html.Div(t("stamp.dispatched", lang), className="step-name"),
                               html.Div(when(ctx, inc["dispatched_at"]))], className="step done"))  # fmt: skip
    for mark in sla_marks(inc, now):
        status = (
            ("late" if mark["late"] else "done") if mark["done"] else ("late" if mark["late"] else "pending")
        )
        steps.append(
            html.Div(
                [
                    html.Div(t(f"sla.stage.{mark['stage']}", lang), className="step-name"),
                    html.Div(when(ctx, mark["done"]) if mark["done"] else "—"),
                    html.Div(f"{t('sla.due', lang)} {when(ctx, mark['due'])}", className="step-due"),
                ],
                className=f"step {status}",
                **{"data-stage": mark["stage"], "data-late": "1" if mark["late"] else "0"},
            )
        )
    if inc.get("closed_at"):
        steps.append(html.Div([html.Div(t("state." + inc["state"], lang), className="step-name"),
                               html.Div(when(ctx, inc["closed_at"]))], className="step done"))  # fmt: skip
    return html.Div(steps, className="sla-line", id="sla-line")


def event_note(e: dict, lang: str) -> str:
    """A person's note as they wrote it; the system's from the event's fields, in the page's language
    (its stored note is English for the log)."""
    if e["actor"] != "system":
        return e["note"] or ""
    stages = (e.get("extra") or {}).get("stages") or []
    sep = "、" if lang == "zh-CN" else ", "
    return sep.join(t(f"sla.stage.{st}", lang) for st in stages)


def event_item(ctx: DashContext, e: dict, lang: str, people: dict | None = None) -> html.Li:
    note = event_note(e, lang)
    return html.Li(
        [
            html.Span(f"v{e['version']} ", className="inc-id"),
            f"{when(ctx, e['at'])} · ",
            html.Span(person_label(e["actor"], people, lang), className="actor", title=e["actor"]),
            " · ",
            # the standard step's term (立案, 派遣, 回退 …) where the event names one
            (e.get("extra") or {}).get("term_zh" if lang.startswith("zh") else "term_en")
            or t("event." + e["action"], lang),
            f" → {t('state.' + e['to_state'], lang)}",
            html.Span(f" · {note}" if note else "", className="note"),  # text, never HTML
        ]
    )


def audit_trail(ctx: DashContext, events: list[dict], lang: str, people: dict | None = None) -> html.Ol:
    items = []
    for kind, group in fold_merges(events):
        if kind == "one":
            items.append(event_item(ctx, group[0], lang, people))
            continue
        summary = t("merges.folded", lang).format(
            n=len(group), first=when(ctx, group[0]["at"]), last=when(ctx, group[-1]["at"])
        )
        items.append(
            html.Li(
                html.Details(
                    [html.Summary(summary, className="merge-summary"),
                     html.Ol([event_item(ctx, e, lang, people) for e in group], className="timeline inner")],
                    className="merges",
                ),
                className="folded", **{"data-count": str(len(group))},
            )
        )  # fmt: skip
    return html.Ol(items, className="timeline", id="timeline")


def detail(ctx: DashContext, inc: dict, lang: str, now: datetime | None = None) -> list:
    now = now or datetime.now(UTC)
    assignee = inc.get("assignee_name") or inc.get("assignee") or t("unassigned", lang)
    facts = (
        f"{t('state.' + inc['state'], lang)} · {t('source.' + inc['source'], lang)} · "
        f"{place_of(inc, lang)} · {t('assignee', lang)} {assignee} · {inc['count']}{t('count', lang)}"
    )
    meta = [html.Div(facts, className="inc-meta big", id="detail-facts", **{"data-state": inc["state"]})]
    if inc.get("escalated"):
        who = inc.get("escalated_to_name") or inc.get("escalated_to") or ""
        meta.append(
            html.Div(f"⚠ {t('escalated_yes', lang)} {('→ ' + who) if who else ''}", className="escalated")
        )
    req = inc.get("extension_request")
    if req:  # 延期申请 waiting for the desk: what it approves or refuses (text, never HTML)
        text = t("console.extension_pending", lang).format(
            hours=f"{req.get('hours', 0):g}", by=req.get("by", "")
        )
        meta.append(html.Div([text, html.Span(f" · {req.get('reason') or ''}", className="note")],
                             className="escalated", id="detail-extension"))  # fmt: skip
    # fixed sections: a live update redraws only those that changed (draw_detail), so a clip keeps
    # playing and a half-typed reason stays while re-raises of the same case come in
    return [
        html.Div([*meta, html.Div(inc.get("description") or "", className="description")], id="detail-head"),
        html.Div(
            [evidence_panel(ctx, inc, lang), html.Div(arrival_map(ctx, inc, lang), className="arrival")],
            className="detail-media",
            id="detail-media",
        ),  # fmt: skip
        html.Div([html.H3(t("sla_line", lang)), sla_line(ctx, inc, now, lang)], id="detail-sla"),
        html.Div(
            [html.H3(t("audit", lang)), audit_trail(ctx, inc.get("events", []), lang, inc.get("people"))],
            id="detail-audit",
        ),
        html.Div(verdict_box(inc, lang), id="detail-verdict"),
    ]


def verdict_box(inc: dict, lang: str) -> list:
    """A camera incident's verdicts and the 确认/误报 buttons (each carrying the incident's id)."""
    if inc.get("source") != "camera":
        return []
    given = [
        html.Li(
            f"{t('verdict.' + v['verdict'], lang)} · {person_label(v['actor'], inc.get('people'), lang)} · "
            f"{v['reason']}"
        )  # text, never HTML
        for v in inc.get("verdicts", [])
    ]
    iid = inc["id"]
    controls = html.Div(
        [
            dcc.Input(
                id={"type": "verdict-reason", "incident": iid},
                placeholder=t("verdict.reason", lang),
                maxLength=2000,
                className="field wide",
            ),
            *[
                html.Button(
                    f"{t('verdict.' + v, lang)} #{iid}",
                    id={"type": "console-verdict", "verdict": v.value, "incident": iid},
                    **press.on(PRESS, verdict=v.value, incident=iid),
                )
                for v in Verdict
            ],
        ],
        className="actions",
    )
    return [html.H3(t("verdict.title", lang)), html.Ul(given, className="verdicts", id="verdicts"), controls]


def action_buttons(inc: dict, lang: str) -> list:
    """One button per action the API allows now, each naming (and carrying) the incident's id."""
    acts = inc.get("actions") or []
    if not acts:
        return [html.Span(t("no_actions", lang), className="inc-meta")]
    return [
        html.Button(
            f"{t('action.' + a, lang)} #{inc['id']}",
            id={"type": "console-act", "action": a, "incident": inc["id"]},
            className="primary" if a in WITH_INPUT else "",
            **press.on(PRESS, action=a, incident=inc["id"]),
        )
        for a in acts
    ]


# -- callbacks (bound to their inputs and outputs in register) -------------------------------------
def token_of(auth) -> str | None:
    if isinstance(auth, dict):
        return auth.get("token")
    return auth or None


def login(ctx: DashContext, _c, _s, user, password, lang):
    got, message = staff_login(ctx.api, user, password, CONSOLE_ROLES, lang)
    return (
        {"token": got["token"], "user": user, "name": got.get("name") or user} if got else no_update
    ), message


def logout(ctx: DashContext, n, auth):
    end_login(ctx.api, n, token_of(auth))  # ends the login at the API, not just in this browser
    return None, ""


def show(auth, lang="zh-CN"):
    if not token_of(auth):
        return {}, {"display": "none"}, ""
    name = auth.get("name") if isinstance(auth, dict) else ""
    return {"display": "none"}, {}, f"{t('signed_in', lang)}: {name}" if name else ""


def recheck_ticks(ctx: DashContext) -> int:
    """With nothing new, still ask the API every few seconds: a login ended elsewhere shows up here."""
    return max(1, round(5000 / ctx.cfg.dashboard.refresh_ms))


def refresh(ctx: DashContext, n, auth, _bump, seen, selected, lang):
    """The table from the API when the live state moved; the radio button put back on the selected id."""
    keep = (no_update,) * 7
    token = token_of(auth)
    if not token:
        return keep
    version = ctx.live.version
    if version == seen and callback_context.triggered_id == "console-tick" and (n or 0) % recheck_ticks(ctx):
        return keep
    res = ctx.api.incidents(token, limit=500)
    if res.status == 401:  # logged out elsewhere, deactivated, role or password changed
        return [], -1, None, t("login_ended", lang), [], None, None
    if not res.ok:
        return keep
    now = datetime.now(UTC)
    data = rows(ctx, res.data, lang, now)
    sel_version = next((r["version"] for r in data if r["id"] == selected), None)
    return (
        data,
        version,
        no_update,
        no_update,
        index_of(data, selected),
        due_data(res.data, now, lang),
        sel_version,
    )


def select(row_ids, active_cell, current):
    """The incident the operator picked (its radio button or any cell of its row), by id."""
    trigger = callback_context.triggered_id
    prop = (callback_context.triggered or [{}])[0].get("prop_id", "")
    if prop.endswith("active_cell"):
        picked = (active_cell or {}).get("row_id")
    else:
        picked = (row_ids or [None])[0]
    if trigger is None or picked is None or picked == current:
        return no_update
    return picked


def mark_selected(selected):
    return highlight(selected)


def radio_follows(selected, data):
    """A row picked by a click on a cell gets its radio button too (by id, in the data as it is now)."""
    return index_of(data or [], selected)


def show_detail(ctx: DashContext, selected, _sel_version, _bump, auth, lang):
    """The selected incident's title, detail sections and action bar."""
    token = token_of(auth)
    if not token or selected is None:
        return t("select_incident", lang), [], []
    res = ctx.api.incident(token, selected)
    if not res.ok:
        return (
            f"#{selected}",
            html.Div(api_error(res, lang, incident_id=selected), className="message error"),
            [],
        )
    inc = res.data
    title = [html.Span(f"#{inc['id']} ", className="inc-id", id="detail-id"), t("type." + inc["type"], lang)]
    return title, detail(ctx, inc, lang), action_buttons(inc, lang)


def digest(part) -> str:
    return hashlib.blake2b(to_json_plotly(part).encode(), digest_size=12).hexdigest()


def draw_detail(ctx: DashContext, selected, sel_version, bump, auth, lang, shown):
    """:func:`show_detail`, sending only what changed since the page's last draw (``shown``: the
    incident, language and the digest of each section and of the action bar): the other sections
    and the buttons stay as they are in the page, so a press or a half-typed reason is never cut
    short and a clip keeps playing."""
    title, body, acts = show_detail(ctx, selected, sel_version, bump, auth, lang)
    if not isinstance(body, list) or not body:
        return title, body, acts, None
    now = {"key": [selected, lang], "parts": [digest(p) for p in body], "acts": digest(acts)}
    same = isinstance(shown, dict) and shown.get("key") == now["key"]
    if not same or len(shown.get("parts") or []) != len(body):
        return title, body, acts, now
    changed = [k for k, (old, new) in enumerate(zip(shown["parts"], now["parts"], strict=True)) if old != new]
    patch = Patch()
    for k in changed:
        patch[k] = body[k]
    return (
        title,
        patch if changed else no_update,
        no_update if shown.get("acts") == now["acts"] else acts,
        now,
    )


def on_press(ctx: DashContext, pressed, selected, assignee, merge_into, note, reasons, auth, bump, lang):
    """A pressed action or verdict button (its press, see dashboard/press.py): (message, bump)."""
    got = press.read(pressed)
    if not token_of(auth) or not got or not str(got.get("incident", "")).isdigit():
        return no_update, no_update
    incident_id = int(got["incident"])
    if got.get("verdict"):
        reason = next((r for r in reasons or [] if r), "")
        return submit_verdict(ctx, got["verdict"], incident_id, selected, reason, auth, bump, lang)
    if got.get("action"):
        return act(ctx, got["action"], incident_id, selected, assignee, merge_into, note, auth, bump, lang)
    return no_update, no_update


def act(ctx: DashContext, action, incident_id, selected, assignee, merge_into, note, auth, bump, lang):
    """``action`` on the incident its button names, which must be the selected one."""
    token = token_of(auth)
    if incident_id != selected:  # the button was drawn for another incident than the one selected now
        return t("selection_moved", lang), no_update
    into = None
    if action == "assign":
        if not assignee:
            return t("pick_assignee", lang), no_update
        res = ctx.api.act(token, incident_id, "assign", {"assignee": assignee, "note": note or ""})
    elif action == "merge":
        if not merge_into:
            return t("merge_into", lang), no_update
        into = int(merge_into)
        res = ctx.api.act(token, incident_id, "merge", {"into": into, "note": note or ""})
    else:
        res = ctx.api.act(token, incident_id, action, {"note": note or ""})
    if not res.ok:
        now = ctx.api.incident(token, incident_id)
        state = now.data["state"] if now.ok else None
        target = into if action == "merge" and res.status == 404 else incident_id
        text = api_error(res, lang, incident_id=target, action=action, state=state, into=into)
        return html.Span(f"✗ {text}", className="error", **{"data-incident": str(incident_id)}), bump + 1
    inc = res.data
    who = inc.get("assignee_name") or inc.get("assignee") or ""
    text = f"✓ #{incident_id} {t('action.' + action, lang)} · {t('state.' + inc['state'], lang)}" + (
        f" · {who}" if who else ""
    )
    return html.Span(text, className="ok", **{"data-incident": str(incident_id)}), bump + 1


def submit_verdict(ctx: DashContext, verdict: str, incident_id: int, selected, reason, auth, bump, lang):
    """``verdict`` (confirmed / false_alarm) with ``reason`` on the incident; (message, bump)."""
    token = token_of(auth)
    if incident_id != selected:
        return t("selection_moved", lang), no_update
    if verdict == Verdict.FALSE_ALARM and not (reason or "").strip():
        return t("verdict.needs_reason", lang), no_update
    res = ctx.api.act(token, incident_id, "verdict", {"verdict": verdict, "reason": reason or ""})
    if not res.ok:
        text = api_error(res, lang, incident_id=incident_id, action="verdict")
        return html.Span(f"✗ {text}", className="error", **{"data-incident": str(incident_id)}), bump + 1
    text = f"✓ #{incident_id} {t('verdict.' + verdict, lang)}"
    return html.Span(text, className="ok", **{"data-incident": str(incident_id)}), bump + 1


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
        Output("console-who", "children"),
        Input("console-token", "data"),
        State("console-lang", "data"),
    )(show)
    app.callback(
        Output("console-table", "data"),
        Output("console-version", "data"),
        Output("console-token", "data", allow_duplicate=True),
        Output("console-login-msg", "children", allow_duplicate=True),
        Output("console-table", "selected_rows"),
        Output("console-due", "data"),
        Output("console-selected-version", "data"),
        Input("console-tick", "n_intervals"),
        Input("console-token", "data"),
        Input("console-bump", "data"),
        State("console-version", "data"),
        State("console-selected", "data"),
        State("console-lang", "data"),
        prevent_initial_call="initial_duplicate",
    )(bind(refresh, ctx))
    app.callback(
        Output("console-selected", "data"),
        Input("console-table", "selected_row_ids"),
        Input("console-table", "active_cell"),
        State("console-selected", "data"),
        prevent_initial_call=True,
    )(select)
    app.callback(Output("console-table", "style_data_conditional"), Input("console-selected", "data"))(
        mark_selected
    )
    app.callback(
        Output("console-table", "selected_rows", allow_duplicate=True),
        Input("console-selected", "data"),
        State("console-table", "data"),
        prevent_initial_call=True,
    )(radio_follows)
    app.clientside_callback(
        COUNTDOWN_JS,
        Output("console-table", "data", allow_duplicate=True),
        Input("console-clock", "n_intervals"),
        State("console-due", "data"),
        State("console-table", "data"),
        prevent_initial_call=True,
    )
    app.callback(
        Output("detail-title", "children"),
        Output("detail-body", "children"),
        Output("console-actions", "children"),
        Output("console-detail-shown", "data"),
        Input("console-selected", "data"),
        Input("console-selected-version", "data"),
        Input("console-bump", "data"),
        State("console-token", "data"),
        State("console-lang", "data"),
        State("console-detail-shown", "data"),
    )(bind(draw_detail, ctx))
    app.callback(
        Output("action-msg", "children"),
        Output("console-bump", "data"),
        Input(PRESS, "value"),
        State("console-selected", "data"),
        State("assign-to", "value"),
        State("merge-into", "value"),
        State("action-note", "value"),
        State({"type": "verdict-reason", "incident": ALL}, "value"),
        State("console-token", "data"),
        State("console-bump", "data"),
        State("console-lang", "data"),
        prevent_initial_call=True,
    )(bind(on_press, ctx))
