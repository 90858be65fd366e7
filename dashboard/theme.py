"""The look every page shares: state and camera colours, the map style, chart fonts and colours.

Pages import these from here (never from one another), so a page can change or go without the
others noticing."""

from __future__ import annotations

from dispatch.lifecycle import (
    ACCEPTED,
    CHECKING,
    DISPATCHED,
    ESCALATED,
    FILED,
    NEW,
    ON_SITE,
    OPEN_STATES,
    RETURNED,
)

STATE_COLOURS = {  # the open states (dispatch.lifecycle.OPEN_STATES)
    NEW: "#b37feb",  # not red: red is kept for overdue
    DISPATCHED: "#faad14",
    ACCEPTED: "#40a9ff",
    ON_SITE: "#36cfc9",
    ESCALATED: "#f759ab",
    CHECKING: "#ff7a45",
    FILED: "#ffc53d",
    RETURNED: "#9254de",
}
OVERDUE_COLOUR = "#ff1f1f"  # an open incident past an SLA stage: red whatever its state
UNKNOWN_STATE_COLOUR = "#fff"  # a state without a colour of its own (final states)
CAMERA_COLOURS = {
    "online": "#52c41a",
    "offline": "#ff4d4f",
    "error": "#ff4d4f",
    "starting": "#8c8c8c",
    "stopped": "#8c8c8c",
}
# Plotly's built-in "white-bg" style loads nothing from the network; the dark background (or an
# intranet tile layer) is a map layer below the traces (dashboard.maps.background_layers). (A custom
# MapLibre style object breaks Plotly's style diffing on every update: "Map error.")
MAP_STYLE = "white-bg"
MAP_BACKGROUND = "#0b1526"  # the map's paper and the offline background layer
CELL_LINE = "#3a5a7a"  # cell outlines on the board's and the console's maps
STREET_LINE = "#9fd0ff"  # street outlines over the cells (the board, the evaluation overlay)
COMMUNITY_LINE = "#5f8fbf"  # community outlines on the board
IDLE_CELL = "#12304f"  # a board cell without open incidents
IDLE_CELL_OVER_BASEMAP = "rgba(18,48,79,0.25)"  # the same, the basemap showing through it
#: a board cell with 1, 2 and 4 or more open incidents (the map's colour scale runs through them)
CELL_COUNT_COLOURS = ("#f0a020", "#ff7a1a", "#ff3b30")
TEXT = "#cfe3ff"  # chart text and table headers
GRID_LINE = "#1d3b5f"  # chart grid lines

CHART_LAYOUT = {
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"color": TEXT, "size": 15},
    "margin": {"l": 10, "r": 10, "t": 6, "b": 30},
}
#: the charts' type scales with the wall (CHART_LAYOUT's size at 1920x1080) but never below this: a
#: phone's board (scale 0.5) still reads its axes
CHART_MIN_FONT_PX = 12


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state, UNKNOWN_STATE_COLOUR)


def incident_colour(state: str, overdue: bool) -> str:
    """A marker's colour: red when the incident is open and overdue, else its state's colour."""
    return OVERDUE_COLOUR if overdue and state in OPEN_STATES else state_colour(state)
