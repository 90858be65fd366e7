"""The worker's side of the live view (see :mod:`streams.live_view`): publish a camera's annotated
frame at most ``max_fps`` times a second, and only while a viewer's mark exists in Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import cv2
import numpy as np
import redis

from streams.errors import is_transient
from streams.live_view import FRAME_TTL_S, frame_key, watch_key

log = logging.getLogger(__name__)


class LivePublisher:
    def __init__(self, r: redis.Redis, camera_id: str, max_fps: float, *, width: int = 640) -> None:
        self.r, self.camera_id, self.width = r, camera_id, width
        self.interval = 1.0 / max_fps
        self.next_at = 0.0  # monotonic time of the next look at the viewer mark
        self.published = 0

    def tick(self, now: float, image: Callable[[], np.ndarray]) -> bool:
        """At monotonic time ``now``: if a viewer watches and a frame is due, encode ``image()`` and
        publish it; returns whether it did. Asks Redis at most once per interval."""
        if now < self.next_at:
            return False
        self.next_at = now + self.interval
        try:
            if not self.r.exists(watch_key(self.camera_id)):
                return False
            img = image()
            h, w = img.shape[:2]
            if w > self.width:
                img = cv2.resize(img, (self.width, int(h * self.width / w)), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 75])
            if not ok:
                return False
            key = frame_key(self.camera_id)
            pipe = self.r.pipeline(transaction=True)
            at = datetime.now(UTC).isoformat()
            pipe.hset(key, mapping={"jpeg": buf.tobytes(), "at": at, "width": w, "height": h})
            pipe.expire(key, FRAME_TTL_S)
            pipe.execute()
        except redis.RedisError as exc:  # the view waits; the camera's analysis goes on
            if not is_transient(exc):
                log.warning("camera %s: live view frame not published: %s", self.camera_id, exc)
            return False
        self.published += 1
        return True
