"""Live state for the board, folded from the incidents and camera-health streams.

Cameras: the latest report of each is read from the camera-state hash at start and every
``CAMERA_SWEEP_S`` (fps and frame counts change there without news); the camera-health stream
brings state changes (offline, error, back online) as they happen.

A background thread reads both streams (then blocks for new entries) and keeps the newest version of
every incident; a replayed event with an old version changes nothing.

Incidents start from a snapshot, not from the stream's start: the incidents stream is capped
(``redis.stream_maxlen``), so an incident opened long ago whose events fell off it would be missing
after a restart. ``seed`` (the dispatch API's board snapshot: open incidents and those changed within
``retention_s``, each as its latest event) is taken once the stream's last id is read, and the stream
is then followed from that id: what changed in between comes again and is applied or ignored by
version. When the API does not answer, the stream is followed from its start (as before), and the
snapshot is asked for again every ``SEED_RETRY_S`` until it comes.
``version`` counts changes so page callbacks can skip ticks where nothing happened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from dispatch.lifecycle import FINAL_STATES, OPEN_STATES
from streams.bus import connect
from streams.camera_state import latest as latest_camera_states
from streams.errors import Outage, is_transient
from streams.schemas import (
    CAMERA_HEALTH,
    DEVICE_HEALTH,
    INCIDENTS,
    CameraHealth,
    DeviceHealth,
    IncidentEvent,
    MalformedMessage,
    decode,
)

log = logging.getLogger(__name__)
CAMERA_SWEEP_S = 5.0
SEED_RETRY_S = 10.0

#: The board's snapshot: rows ``{"event": <IncidentEvent as JSON>, "stamps": {state: ISO time}}``;
#: raises :class:`SeedUnavailable` when it cannot be had.
Seed = Callable[[], list[dict]]


class SeedUnavailable(Exception):
    """The snapshot could not be taken (the API is down, refused, or answered nonsense)."""


class LiveState:
    def __init__(self, redis_url: str, retention_s: float = 86_400, seed: Seed | None = None) -> None:
        self.r = connect(redis_url)
        self.seed = seed
        self.seeded = seed is None  # True once the snapshot was applied (or when there is none)
        self._seed_at = 0.0  # monotonic time of the next try (0: the first, which sets the cursor)
        self.retention_s = retention_s  # finished incidents leave the live state after this long
        self.incidents: OrderedDict[int, IncidentEvent] = OrderedDict()
        self.cameras: dict[str, CameraHealth] = {}
        self.devices: dict[str, DeviceHealth] = {}  # IoT devices (the board's device layer)
        self.devices_version = 0  # bumped when a device's state or position changes
        self.changed: dict[int, int] = {}  # incident id -> self.version when it last changed
        self.stamps: dict[int, dict[str, datetime]] = {}  # incident id -> first time in each state
        self.version = 0
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)  # notified on every version change
        self._stop = threading.Event()
        self._cursor = {INCIDENTS: "0-0", CAMERA_HEALTH: "0-0", DEVICE_HEALTH: "0-0"}
        self._thread: threading.Thread | None = None

    def apply(self, fields: dict) -> bool:
        try:
            msg = decode(fields)
        except MalformedMessage as exc:
            log.warning("skipping malformed entry: %s", exc)
            return False
        return self.apply_message(msg)

    def apply_message(self, msg) -> bool:
        with self.lock:
            if isinstance(msg, IncidentEvent):
                old = self.incidents.get(msg.incident_id)
                if old is not None and old.version >= msg.version:
                    return False
                self.incidents[msg.incident_id] = msg
                self.incidents.move_to_end(msg.incident_id)
                self.stamps.setdefault(msg.incident_id, {}).setdefault(msg.state, msg.at)
                self.changed[msg.incident_id] = self.version + 1
            elif isinstance(msg, CameraHealth):
                old_cam = self.cameras.get(msg.camera_id)
                if old_cam is not None and old_cam.at > msg.at:
                    return False  # the hash already gave a newer report
                self.cameras[msg.camera_id] = msg
            elif isinstance(msg, DeviceHealth):
                old = self.devices.get(msg.device_id)
                self.devices[msg.device_id] = msg
                if old is not None and (old.state, old.lon, old.lat) == (msg.state, msg.lon, msg.lat):
                    return False  # a snapshot repeating what the board shows
                self.devices_version += 1
            else:
                return False
            self.version += 1
            self._changed.notify_all()
            return True

    def take_seed(self) -> bool:
        """Apply the snapshot; on the first try, first read the incidents stream's last id and
        follow the stream from there once the snapshot is in. Returns whether it was applied."""
        first = self._seed_at == 0.0
        position = None
        if first:
            last = self.r.xrevrange(INCIDENTS, count=1)
            position = last[0][0] if last else "0-0"
        try:
            rows = self.seed()
            events = [(IncidentEvent.model_validate(row["event"]), row.get("stamps") or {}) for row in rows]
            stamps = [{st: datetime.fromisoformat(at) for st, at in s.items()} for _, s in events]
        except Exception as exc:  # noqa: BLE001 (the API down, refusing, or a bad answer: all the same here)
            self._seed_at = time.monotonic() + SEED_RETRY_S
            log.warning(
                "live state: no snapshot of open incidents from the API (%s); %s, asking again in %.0f s",
                exc,
                "following the incidents stream from its start" if first else "still following the stream",
                SEED_RETRY_S,
            )
            return False
        if first:
            self._cursor[INCIDENTS] = position
        for (msg, _), st in zip(events, stamps, strict=True):
            self.apply_message(msg)
            with self.lock:
                mine = self.stamps.setdefault(msg.incident_id, {})
                for state, at in st.items():
                    if state not in mine or at < mine[state]:
                        mine[state] = at
        self.seeded = True
        log.info("live state: %d open or recent incidents from the API's snapshot", len(events))
        return True

    def prune(self, now: datetime) -> int:
        """Forget incidents that finished (closed, rejected, merged) more than ``retention_s`` ago,
        so a board that runs for months holds the open work and the recent past, not all history."""
        cutoff = now.timestamp() - self.retention_s
        with self.lock:
            gone = [
                i
                for i, inc in self.incidents.items()
                if inc.state in FINAL_STATES and inc.at.timestamp() < cutoff
            ]
            for i in gone:
                del self.incidents[i]
                self.stamps.pop(i, None)
                self.changed.pop(i, None)
            return len(gone)

    def sweep_cameras(self) -> bool:
        """Take every camera's latest report from the hash; the version moves only when what a page
        shows changed (state, error, whole frames per second)."""
        got = latest_camera_states(self.r)
        shown = lambda c: (c.state, c.error, round(c.fps))  # noqa: E731
        with self.lock:
            changed = False
            for cam, msg in got.items():
                old = self.cameras.get(cam)
                if old is not None and old.at > msg.at:
                    continue  # the stream already brought something newer
                if old is None or shown(old) != shown(msg):
                    changed = True
                self.cameras[cam] = msg
            if changed:
                self.version += 1
            return changed

    def poll(self, block_ms: int = 1000) -> int:
        res = self.r.xread(dict(self._cursor), count=1000, block=block_ms)
        n = 0
        for stream, entries in res or []:
            for entry_id, fields in entries:
                self._cursor[stream] = entry_id
                n += self.apply(fields)
        return n

    def _run(self) -> None:
        """Follow the streams until stopped: Redis away, loading or refusing (see
        :func:`streams.errors.is_transient`) is waited for, logged once per outage; any other error is
        logged in full each time and retried more slowly, so the board never goes silently stale."""
        delay, last_prune, last_sweep = 0.2, 0.0, 0.0
        outage = Outage(log, "live state")
        while not self._stop.is_set():
            try:
                if not self.seeded and time.monotonic() >= self._seed_at:
                    self.take_seed()
                if time.monotonic() - last_sweep > CAMERA_SWEEP_S:
                    last_sweep = time.monotonic()
                    self.sweep_cameras()
                self.poll()
                outage.ok()
                delay = 0.2
                if time.monotonic() - last_prune > 60:
                    last_prune = time.monotonic()
                    self.prune(datetime.now(UTC))
            except redis.RedisError as exc:
                if is_transient(exc):
                    outage.failed(exc)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 5.0)
                else:
                    log.error("live state: reading the streams failed (%s); retrying in 30 s", exc)
                    self._stop.wait(30)
            except Exception:
                log.exception("live state: folding the streams failed; retrying in 5 s")
                self._stop.wait(5)

    def start(self) -> LiveState:
        self._thread = threading.Thread(target=self._run, name="live-state", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait_change(self, version: int, timeout_s: float) -> int:
        """The version once it differs from ``version``, or after ``timeout_s`` (the board's push)."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout_s)
            return self.version

    # -- views ------------------------------------------------------------------------------------
    def snapshot(self) -> tuple[int, list[IncidentEvent], list[CameraHealth]]:
        with self.lock:
            return self.version, list(self.incidents.values()), list(self.cameras.values())

    def changes_since(self, version: int) -> tuple[int, list[IncidentEvent], list[CameraHealth]]:
        """Incidents changed after ``version`` (and all cameras): what a page must patch."""
        with self.lock:
            changed = [self.incidents[i] for i, v in self.changed.items() if v > version]
            return self.version, changed, list(self.cameras.values())

    def device_list(self) -> tuple[int, list[DeviceHealth]]:
        with self.lock:
            return self.devices_version, sorted(self.devices.values(), key=lambda d: d.device_id)

    def all_stamps(self) -> dict[int, dict[str, datetime]]:
        with self.lock:
            return {i: dict(st) for i, st in self.stamps.items()}

    def stamps_of(self, incident_id: int) -> dict[str, datetime]:
        with self.lock:
            return dict(self.stamps.get(incident_id, {}))

    @staticmethod
    def open_by_cell(incidents: list[IncidentEvent]) -> dict[str, int]:
        out: dict[str, int] = {}
        for inc in incidents:
            if inc.state in OPEN_STATES and inc.cell:
                out[inc.cell] = out.get(inc.cell, 0) + 1
        return out
