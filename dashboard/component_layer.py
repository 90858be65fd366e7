"""The wall board's component layer (部件普查): the component registry (``gis.components``) over the
board's map, one trace per component type, each named in the board's language (井盖 / Manhole
cover), every point's hover naming its type, code, state and owning department (names, not codes).
Hidden at first: the header's 部件 toggle shows and hides it; ``?components=1`` opens the board with
it shown. A type with many components is clustered (plotly's ``cluster``), so thousands stay legible.

board.py adds :func:`traces` to its figure (each has its own ``uid``, through ``stacked`` like the
others) and flips them with :func:`show` in its one map callback: the toggle only sets the
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
from dashboard.pages.component_report import PALETTE, department_name, owner_of
from gis.components import Component, load_components, registry_path

#: the traces' uids (what the board's patches find them by) start with this, then the type code
PREFIX = "comp-"
CLUSTER_ABOVE = 100  # a type with more components than this is clustered
MARKER_PX = 9

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


def build(ctx: DashContext, comps: list[Component], lang: str, shown: bool = False) -> list[dict]:
    """One scattermap trace per component type (sorted by code), named in ``lang``, hidden unless
    ``shown``; the points carry their codes (``customdata``)."""
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
                "hoverinfo": "text", "visible": True if shown else "legendonly",
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


def traces(ctx: DashContext, lang: str, shown: bool = False) -> list[dict]:
    """The registry's traces, read and built once per change of its file (and language)."""
    key = (str(ctx.cfg.data), _stamp(ctx), lang)
    with _lock:
        got = _cache.get(key)
    if got is None:
        got = build(ctx, list(load_components(ctx.cfg.data).values()), lang) if key[1] is not None else []
        with _lock:
            for old in [k for k in _cache if k[0] == key[0] and k != key]:
                del _cache[old]
            _cache[key] = got
    visible = True if shown else "legendonly"
    return [{**tr, "visible": visible} for tr in got]


def show(fig, traces_at: dict[str, int], shown: bool) -> None:
    """Show or hide the component traces of ``fig`` (a figure dict or a ``Patch``; traces by uid)."""
    for name, k in traces_at.items():
        if is_component(name):
            fig["data"][k]["visible"] = True if shown else "legendonly"


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
