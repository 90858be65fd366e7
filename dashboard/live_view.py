"""The board's side of the live view (see :mod:`streams.live_view`): an MJPEG stream per viewer
(``multipart/x-mixed-replace``) of the frames a worker publishes, at most ``max_fps`` a second;
while it is open the viewer's mark is renewed, so the worker publishes only while someone watches.
A camera that stopped shows its last frame (its time is in each part's ``X-Frame-At``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import redis

from streams.live_view import WATCH_TTL_MS, frame_key, watch_key

BOUNDARY = "frame"


class Viewers:
    """Open streams of this board process, capped (each holds a server thread)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def bytes_client(r: redis.Redis) -> redis.Redis:
    """A client on the same server as ``r`` whose answers stay bytes (the JPEGs)."""
    pool = r.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def mjpeg(
    r: redis.Redis,
    camera_id: str,
    max_fps: float,
    *,
    max_s: float = 600.0,
    keepalive_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """The parts of one viewer's stream, at most one per ``1 / max_fps`` seconds, for at most
    ``max_s`` seconds (the page opens a new stream when it refreshes); ends when Redis fails.

    Each new frame is sent, then once more on the next look (a browser shows a part only when the
    next one starts), then again every ``keepalive_s`` while unchanged (a stopped camera's last
    frame stays; a viewer who left is noticed when the write fails)."""
    interval, end = 1.0 / max_fps, clock() + max_s
    last, sent_at, echoed = None, float("-inf"), True
    yield f"--{BOUNDARY}\r\n".encode()  # each part ends with the next boundary: browsers show it at once
    while clock() < end:
        try:
            r.set(watch_key(camera_id), b"1", px=WATCH_TTL_MS)
            jpeg, at = r.hmget(frame_key(camera_id), "jpeg", "at")
        except redis.RedisError:
            return
        now = clock()
        if jpeg and (at != last or not echoed or now - sent_at >= keepalive_s):
            echoed = at == last  # the frame just sent, again
            last, sent_at = at, now
            head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\nX-Frame-At: {at.decode()}\r\n\r\n"
            yield head.encode() + jpeg + f"\r\n--{BOUNDARY}\r\n".encode()
        sleep(interval)
