"""Presses that reach their callback even when a live update redraws the button (assets/press.js).

A button inside a redrawn part carries ``**press.on(SINK, action=..., incident=...)``; the page
holds ``press.sink(SINK)`` outside that part, and the callback takes ``Input(SINK, "value")`` and
reads it with :func:`read`. The fields come back as strings, as the DOM keeps them.
"""

from __future__ import annotations

import json

from dash import html


def on(sink_id: str, **fields) -> dict:
    """The attributes that send a press of this element, with ``fields``, to ``sink_id``."""
    attrs = {"data-press": sink_id}
    for key, value in fields.items():
        attrs[f"data-{key.replace('_', '-')}"] = str(value)
    return attrs


def sink(sink_id: str) -> html.Data:
    """The element that receives the presses (keep it outside every part a callback redraws)."""
    return html.Data(id=sink_id, value=None)


def read(value) -> dict | None:
    """The press as a dict of its fields (``data-merge-into`` comes back as ``mergeInto``)."""
    if not value:
        return None
    try:
        got = json.loads(value)
    except (TypeError, ValueError):
        return None
    return got if isinstance(got, dict) else None
