"""The camera fleet as people see it: each configured camera placed in its street and community (its
position's cell in the grid), its health from the live state, and the summaries built from them —
counts per street or community, worst first — for the camera wall page (dashboard.pages.cameras) and
the board's compact camera panel, whose size does not grow with the number of cameras.

Placing 7,803 cameras is one vectorised grid lookup, done once per camera list (cached)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from dash import dcc, html

from dashboard.i18n import t
from dashboard.media import media_url
from gis.grid import OUTSIDE, Grid

#: Health as the wall counts it: a camera that is starting, stopped or not heard of is "other".
COUNTED = ("online", "offline", "error")
PROBLEMS = ("offline", "error")
FILTERS = ("all", "problems", "offline", "error")


@dataclass(frozen=True)
class Place:
    """Where a camera is, by name: its cell, street and community (codes, and names in both languages)."""

    camera_id: str
    name: str
    cell: str
    street: str
    community: str
    street_zh: str
    street_en: str
    community_zh: str
    community_en: str

    def street_name(self, lang: str) -> str:
        return (self.street_zh if lang == "zh-CN" else self.street_en) or self.street

    def community_name(self, lang: str) -> str:
        return (self.community_zh if lang == "zh-CN" else self.community_en) or self.community


@functools.lru_cache(maxsize=4)
def _placed(grid: Grid, cams: tuple[tuple[str, str, float, float], ...]) -> tuple[Place, ...]:
    lons = np.array([c[2] for c in cams], dtype=float)
    lats = np.array([c[3] for c in cams], dtype=float)
    codes = grid.locate_many(lons, lats) if cams else []
    out = []
    for (cid, name, _, _), code in zip(cams, codes, strict=True):
        cell = grid.by_code.get(code) if code != OUTSIDE else None
        if cell is None:
            out.append(Place(cid, name, "", "", "", "", "", "", ""))
        else:
            out.append(Place(cid, name, cell.code, cell.street, cell.community, cell.street_zh,
                             cell.street_en, cell.community_zh, cell.community_en))  # fmt: skip
    return tuple(out)


def places(cfg, grid: Grid) -> tuple[Place, ...]:
    """Every configured camera's place, in the config's order."""
    return _placed(grid, tuple((c.id, c.name or c.id, c.lon, c.lat) for c in cfg.cameras))


def health_states(live) -> dict[str, object]:
    """Each camera's latest CameraHealth (a copy: the live state keeps changing)."""
    with live.lock:
        return dict(live.cameras)


def state_of(health: dict, camera_id: str) -> str:
    h = health.get(camera_id)
    return h.state if h is not None else "starting"


def kind(state: str) -> str:
    return state if state in COUNTED else "other"


@dataclass
class Group:
    code: str  # the street's or community's code ("" outside the grid)
    name: str
    online: int = 0
    offline: int = 0
    error: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.online + self.offline + self.error + self.other

    @property
    def bad(self) -> int:
        return self.offline + self.error

    def add(self, state: str) -> None:
        setattr(self, kind(state), getattr(self, kind(state)) + 1)


def worst_first(groups) -> list[Group]:
    """Most cameras offline or in error first (errors break ties), then by name."""
    return sorted(groups, key=lambda g: (-g.bad, -g.error, -g.other, g.name))


def summarise(placed, health: dict, by: str, lang: str) -> tuple[Group, list[Group]]:
    """The district's totals and one group per street (``by="street"``) or community, worst first."""
    total = Group("", t("district_all", lang))
    groups: dict[str, Group] = {}
    for p in placed:
        state = state_of(health, p.camera_id)
        total.add(state)
        code = p.street if by == "street" else p.community
        g = groups.get(code)
        if g is None:
            name = (p.street_name(lang) if by == "street" else p.community_name(lang)) or t("outside", lang)
            g = groups[code] = Group(code, name)
        g.add(state)
    return total, worst_first(groups.values())


def wanted(state: str, what: str) -> bool:
    """Whether a camera in ``state`` passes the filter ``what`` (one of :data:`FILTERS`)."""
    if what == "problems":
        return state in PROBLEMS
    if what in PROBLEMS:
        return state == what
    return True


def selected(placed, health: dict, what: str, by: str, group: str | None) -> list[Place]:
    """The cameras the wall shows, in order: street, community, name (the filter and group applied)."""
    out = [
        p
        for p in placed
        if wanted(state_of(health, p.camera_id), what)
        and (group is None or (p.street if by == "street" else p.community) == group)
    ]
    return sorted(out, key=lambda p: (p.street == "", p.street, p.community, p.name, p.camera_id))


def newest_evidence(incidents) -> dict[str, str]:
    """Each camera's newest evidence (its path in the data folder) among the live incidents, by the
    events' ``camera_id`` and ``evidence`` (the contract; never the evidence files' names)."""
    latest: dict[str, tuple] = {}
    for inc in incidents:
        if inc.camera_id and inc.evidence:
            if inc.camera_id not in latest or latest[inc.camera_id][0] < inc.at:
                latest[inc.camera_id] = (inc.at, inc.evidence)
    return {cam: evidence for cam, (_, evidence) in latest.items()}


def latest_pictures(incidents, key: bytes) -> dict[str, str]:
    """Each camera's newest evidence picture among the live incidents, as a signed board URL."""
    out = {}
    for cam, evidence in newest_evidence(incidents).items():
        url = media_url(evidence, key)
        if url:
            out[cam] = url
    return out


def counts_line(g: Group, lang: str, cls: str = "cam-counts") -> html.Span:
    """``● 120 online ● 3 offline ● 1 error`` (the zero ones too: a wall reads them as all clear)."""
    parts = []
    for state in COUNTED:
        n = getattr(g, state)
        parts.append(html.Span([html.Span("●", className=f"dot cam-{state}"), f" {n} {t('cam.' + state, lang)}"],
                               className=f"count {state}" + (" zero" if n == 0 else "")))  # fmt: skip
    if g.other:
        parts.append(html.Span(f"{g.other} {t('cam.other', lang)}", className="count other"))
    return html.Span(parts, className=cls)


def board_summary(ctx, cameras, lang: str, rows: int = 6) -> list:
    """The board's camera panel: the district's counts and the ``rows`` worst streets, with a link to
    the camera wall; the same size for 2 cameras as for 7,803."""
    placed = places(ctx.cfg, ctx.grid)
    if not placed:
        return [html.Div(t("no_cameras", lang), className="empty")]
    health = {c.camera_id: c for c in cameras}
    total, streets = summarise(placed, health, "street", lang)
    shown = streets[:rows]
    lines = [html.Div([html.Span(t("district_all", lang), className="cam-sum-name"), counts_line(total, lang)],
                      className="cam-sum-row total", id="cam-sum-total")]  # fmt: skip
    lines += [
        html.Div(
            [html.Span(g.name, className="cam-sum-name"), counts_line(g, lang)],
            className="cam-sum-row" + (" bad" if g.bad else ""),
        )  # fmt: skip
        for g in shown
    ]
    more = f"{t('cam.wall_link', lang)} ({len(placed)})"
    if len(streets) > len(shown):
        more = f"+{len(streets) - len(shown)} {t('level.street', lang)} · " + more
    lines.append(dcc.Link(more, href=f"/cameras?lang={lang}", className="cam-sum-link", id="cam-wall-link",
                          refresh=True))  # fmt: skip
    return lines


def tile(p: Place, health: dict, picture: str | None, lang: str, tz) -> html.Div:
    """One camera on the wall: its picture (the newest evidence, if any), name, state, place; a click
    opens its live view (dashboard.pages.cameras)."""
    h = health.get(p.camera_id)
    state = state_of(health, p.camera_id)
    img = (
        html.Img(src=picture, className="cam-img", alt=p.name)
        if picture
        else html.Div(t("no_frame", lang), className="cam-img empty")
    )
    status = t("cam." + state, lang)
    if h is not None and state == "online":
        status += f" · {h.fps:.1f} {t('fps', lang)}"
    elif h is not None and h.last_frame_at:
        status += f" · {t('last_frame', lang)} {h.last_frame_at.astimezone(tz):%m-%d %H:%M}"
    place = " · ".join(x for x in (p.street_name(lang), p.community_name(lang)) if x) or t("outside", lang)
    return html.Div(
        [
            img,
            html.Div([html.Span("●", className=f"dot cam-{state}"), " ", p.name], className="cam-caption"),
            html.Div(status, className="cam-status"),
            html.Div(place, className="cam-place"),
        ],
        className=f"cam-tile state-{state}",
        id={"type": "cam-tile", "camera": p.camera_id},
        n_clicks=0,
        title=p.name,
        **{"data-camera": p.camera_id},
    )
