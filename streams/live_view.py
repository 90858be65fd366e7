"""The live view's contract between the vision worker and the board (issue 12 item 1).

While a viewer watches a camera, the board keeps :func:`watch_key` alive (a short expiry, renewed
while the stream is open). A worker publishes the camera's annotated frame (a JPEG) to
:func:`frame_key` (fields ``jpeg``, ``at``, ISO time, and ``width`` and ``height``: the camera frame's own size,
before the JPEG was scaled down) at most ``vision.live_max_fps`` times a
second, and only while that key exists: with nobody watching it encodes nothing. The last frame
stays (a day) so that an offline camera still shows what it saw last, and when.
"""

from __future__ import annotations

#: How long a viewer's mark lasts unless the board renews it (it does every frame it sends).
WATCH_TTL_MS = 3000
#: How long the last frame of a camera is kept after its worker stopped publishing.
FRAME_TTL_S = 86400


def watch_key(camera_id: str) -> str:
    return f"cityops:live:watch:{camera_id}"


def frame_key(camera_id: str) -> str:
    return f"cityops:live:frame:{camera_id}"
