"""Camera health at fleet scale: the latest state per camera in a hash, the stream for news only.

Every camera reports every ``vision.health_interval_s`` (2 s): 7,803 cameras are ~3,900 reports a
second. Appending each to a capped stream made a restarted reader see only the newest few thousand
(a camera whose last report fell off the cap was unknown) and woke every reader 3,900 times a second
for figures that had not changed. Now a report overwrites the camera's field in the hash
``cityops:camera-state`` (what readers need: the latest of each, read in one sweep), and only
*news* — a camera's first report, a change of state or error — is appended to the
``cityops:camera-health`` stream, so a board hears of an outage at once.
"""

from __future__ import annotations

import logging

from streams.bus import publish
from streams.schemas import (
    CAMERA_HEALTH,
    CAMERA_STATE,
    SCHEMA_VERSIONS,
    CameraHealth,
    MalformedMessage,
    decode,
    encode,
)

log = logging.getLogger(__name__)
_V = str(SCHEMA_VERSIONS["camera_health"])  # a newer version only adds optional fields


class HealthReporter:
    """Writes one camera's (or a fleet's) reports; remembers what was last announced as news."""

    def __init__(self, *, maxlen: int) -> None:
        self.maxlen = maxlen
        self._announced: dict[str, tuple[str, str | None]] = {}

    def report(self, r, msg: CameraHealth) -> bool:
        """Record ``msg`` (``r`` may be a pipeline: then nothing is sent until it executes); returns
        whether it was news. A report that failed to send must be followed by :meth:`forget`."""
        key = (msg.state, msg.error)
        news = self._announced.get(msg.camera_id) != key
        r.hset(CAMERA_STATE, msg.camera_id, encode(msg)["data"])
        if news:
            publish(r, CAMERA_HEALTH, msg, maxlen=self.maxlen)
            self._announced[msg.camera_id] = key
        return news

    def forget(self, camera_id: str | None = None) -> None:
        """The last report may not have arrived: announce the next one as news again."""
        if camera_id is None:
            self._announced.clear()
        else:
            self._announced.pop(camera_id, None)


def latest(r, batch: int = 2000) -> dict[str, CameraHealth]:
    """The latest report of every camera (a malformed field is logged and left out)."""
    out: dict[str, CameraHealth] = {}
    for cam, data in r.hscan_iter(CAMERA_STATE, count=batch):
        try:
            msg = decode({"kind": "camera_health", "v": _V, "data": data})
        except MalformedMessage as exc:
            log.warning("camera state of %r unreadable: %s", cam, exc)
            continue
        out[msg.camera_id] = msg
    return out
