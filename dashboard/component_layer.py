"""The wall board's component layer (部件普查): the component registry (``gis.components``) over the
board's map, one trace per component type, each named in the board's language (井盖 / Manhole
cover), every point's hover naming its type, code, state and owning department (names, not codes).
Hidden at first: the header's 部件 toggle shows and hides it; ``?components=1`` opens the board with
it shown. A type with many components is clustered (plotly's ``cluster``), so thousands stay legible.

board.py adds :func:`traces` to its figure (each has its own ``uid``, through ``stacked`` like the
others; without points while hidden) and fills or empties them with :func:`show` in its one map
callback: the toggle only sets the
``comp-on`` store, so no second callback writes the map (Dash would drop one of two answers).

The registry is read from the data directory like the inspector's phone map does (no dispatch API
endpoint lists components yet), once per change of its file: the traces are cached per language.
"""

from __future__ import annotations

import threading
from html import escape

from dash import Input, Output, State, dcc, html

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.pages.component_report import department_name, owner_of
from gis.components import Component, registry_for, registry_path

#: the traces' uids (what the board's patches find them by) start with this, then the type code
PREFIX = "comp-"
CLUSTER_ABOVE = 100  # a type with more components than this is clustered
MARKER_PX = 9
#: one colour per type, in the order drawn: pale tones apart from the incidents' state colours, the
#: cameras' and overdue red (dashboard.theme), which share the board's map (the phone's palette does not)
PALETTE = ("#f5f5f5", "#a6b8ff", "#c9a27e", "#9ee6b8", "#ffe7ba", "#d6c8a8", "#b8c7d9", "#e8d5ff")

_lock = threading.Lock()
_cache: dict[tuple[str, tuple[int, int] | None, str], list[dict]] = {}


def uid(kind: str) -> str:
    return f"{PREFIX}{kind}"


def is_component(name: str) -> bool:
    return name.startswith(PREFIX)


def hover(ctx: DashContext, comp: Component, lang: str) -> str:
    """Type, code, state and owning department, by name."""
    parts = [
        t(f"type.{comp.type}", lang),
        comp.code,
        f"{t('comp.state', lang)}: {t(f'comp.state.{comp.state}', lang)}",
        f"{t('comp.owner', lang)}: {department_name(ctx, owner_of(ctx, comp), lang)}",
    ]
    if comp.name:
        parts.insert(2, comp.name)
    return escape(" · ".join(parts))


def build(ctx: DashContext, comps: list[Component], lang: str) -> list[dict]:
    """One scattermap trace per component type (sorted by code), named in ``lang``; the points carry
    their codes (``customdata``)."""
    by_type: dict[str, list[Component]] = {}
    for c in comps:
        by_type.setdefault(c.type, []).append(c)
    out = []
    for k, (kind, items) in enumerate(sorted(by_type.items())):
        colour = PALETTE[k % len(PALETTE)]
        out.append(
            {
                "type": "scattermap", "uid": uid(kind), "name": t(f"type.{kind}", lang), "mode": "markers",
                "lon": [c.lon for c in items], "lat": [c.lat for c in items],
                "text": [hover(ctx, c, lang) for c in items], "customdata": [c.code for c in items],
                "hoverinfo": "text",
                "marker": {"size": MARKER_PX, "color": colour},
                "cluster": {"enabled": len(items) > CLUSTER_ABOVE, "maxzoom": 16, "color": colour,
                            "opacity": 0.85},
            }
        )  # fmt: skip
    return out


def _stamp(ctx: DashContext) -> tuple[int, int] | None:
    try:
        st = registry_path(ctx.cfg.data).stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _built(ctx: DashContext, lang: str) -> list[dict]:
    """The registry's traces, read and built once per change of its file (and language)."""
    key = (str(ctx.cfg.data), _stamp(ctx), lang)
    with _lock:
        got = _cache.get(key)
    if got is None:
        got = build(ctx, list(registry_for(ctx.cfg.data).all().values()), lang) if key[1] is not None else []
        with _lock:
            for old in [k for k in _cache if k[0] == key[0] and k != key]:
                del _cache[old]
            _cache[key] = got
    return got


def traces(ctx: DashContext, lang: str, shown: bool = False) -> list[dict]:
    """The registry's traces, with their points when ``shown``, else none (the board's ``stacked``
    gives an empty trace its one empty point, so it keeps its layers)."""
    return [{**tr, **(POINTS(tr) if shown else EMPTY)} for tr in _built(ctx, lang)]


def show(ctx: DashContext, fig, traces_at: dict[str, int], shown: bool, lang: str) -> None:
    """Put the component traces' points on ``fig`` (a ``Patch`` or figure dict; traces by uid), or
    take them off. (Not ``visible``: plotly 7.1's map fails to show a scattermap trace that was
    hidden, "Cannot read properties of undefined (reading 'type')".) A type imported since the page
    loaded shows at its next load."""
    now = {tr["uid"]: tr for tr in _built(ctx, lang)}
    for name, k in traces_at.items():
        if is_component(name):
            tr = now.get(name)
            for key, value in (POINTS(tr) if shown and tr else EMPTY).items():
                fig["data"][k][key] = value


def POINTS(tr: dict) -> dict:  # noqa: N802 (the counterpart of EMPTY)
    return {"lon": tr["lon"], "lat": tr["lat"], "text": tr["text"], "customdata": tr["customdata"]}


EMPTY = {"lon": [None], "lat": [None], "text": [""], "customdata": [""]}


# -- pieces board.py places --------------------------------------------------------------------------
def toggle(lang: str, query: dict) -> html.Button:
    """The header's button that shows and hides the layer (pressed while it shows)."""
    cls = "drill eval-toggle" + (" on" if wanted(query) else "")
    return html.Button(t("board.components", lang), id="comp-toggle", className=cls, n_clicks=0)


def wanted(query: dict) -> bool:
    return str(query.get("components", "")).lower() in ("1", "true", "yes", "on")


def stores(query: dict) -> list:
    return [dcc.Store(id="comp-on", data=wanted(query))]


def flip(n, on):
    on = not on
    return on, "drill eval-toggle" + (" on" if on else "")


def register(app) -> None:
    app.callback(
        Output("comp-on", "data"),
        Output("comp-toggle", "className"),
        Input("comp-toggle", "n_clicks"),
        State("comp-on", "data"),
        prevent_initial_call=True,
    )(flip)
