"""The board's IoT parts (issue 14): the device layer, the flashing alarm cards, the alarm count.

Pure functions of the live state; ``pages/board.py`` only places them. Device hover text names the
kind and state, never the resident it protects (the board may face a public room).
"""

from __future__ import annotations

from dash import html

from dashboard.i18n import t
from dispatch.lifecycle import OPEN_STATES
from iot.kinds import ALARM_TYPES
from streams.schemas import DeviceHealth, IncidentEvent

DEVICES = "devices"  #: the map trace's name
DEVICE_COLOURS = {"ok": "#52c41a", "alarm": "#ff3b30", "offline": "#8c8c8c"}
#: Card order: the most urgent first (then the newest).
URGENCY = {"sos_call": 0, "gas_leak": 1, "smoke_alarm": 1, "water_leak": 2, "manhole_cover_alarm": 2}


def active_alarms(incidents: list[IncidentEvent]) -> list[IncidentEvent]:
    live = [i for i in incidents if i.type in ALARM_TYPES and i.state in OPEN_STATES]
    live.sort(key=lambda i: i.at.timestamp(), reverse=True)
    return sorted(live, key=lambda i: URGENCY.get(i.type, 9))


def device_trace(devices: list[DeviceHealth], lang: str) -> dict:
    return {
        "type": "scattermap",
        "name": DEVICES,
        "uid": DEVICES,
        "mode": "markers",
        "lon": [d.lon for d in devices],
        "lat": [d.lat for d in devices],
        "text": [device_text(d, lang) for d in devices],
        "marker": {"size": 8, "color": [DEVICE_COLOURS.get(d.state, "#8c8c8c") for d in devices]},
        "hoverinfo": "text",
    }


def device_text(d: DeviceHealth, lang: str) -> str:
    from html import escape

    return escape(
        f"{t('devkind.' + d.device_kind, lang)} {d.device_id} · {t('dev.' + d.state, lang)}", quote=False
    )


def alarm_cards(incidents: list[IncidentEvent], tz, lang: str, limit: int = 3) -> list:
    """Sound-free flashing cards for the open device alarms, the most urgent first."""
    cards = []
    for i in active_alarms(incidents)[:limit]:
        cleared = " · " + t("alarm_cleared", lang) if i.action == "device_clear" else ""
        cards.append(
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(t("alarm", lang), className="alarm-badge"),
                            " ",
                            html.Span(f"#{i.incident_id} ", className="inc-id"),
                            t(f"type.{i.type}", lang),
                        ],
                        className="inc-title",
                    ),  # fmt: skip
                    html.Div(
                        f"{t('state.' + i.state, lang)}{cleared} · {t('cell', lang)} {i.cell or '-'} · "
                        f"{t('assignee', lang)} {i.assignee or t('unassigned', lang)} · "
                        f"{i.opened_at.astimezone(tz):%H:%M:%S}",
                        className="inc-meta",
                    ),
                ],
                className=f"alarm-card alarm-{i.type}",
                id=f"alarm-{i.incident_id}",
                role="alert",
            )
        )
    return cards
