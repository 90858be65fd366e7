"""Browser URLs for the media named in incidents (paths relative to the data dir, streams.media).

Evidence clips are for staff only: a ``<video>`` element cannot send the API login, so the pages
(which fetched the incident with that login) hand the browser a link signed with the board's key
(:func:`clip_url`), and the board's ``/evidence`` route serves an ``.mp4`` only with a valid,
unexpired signature (:func:`clip_allowed`)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit

from dash import html

from dashboard.i18n import t
from streams.media import is_evidence, is_photo

#: A signed clip link stays valid for one to two of these (links are stable within one, so a page
#: that refreshes keeps the same link and a playing video is not reloaded).
CLIP_LINK_S = 4 * 3600


def media_url(rel: str | None, api_url: str) -> str | None:
    """A browser URL for stored media: camera evidence JPEGs from the board's ``/evidence`` route,
    citizen and inspector photos from the API at ``api_url``; None for anything else."""
    if not rel:
        return None
    if rel.startswith(("http://", "https://")):  # the API's absolute media_url: shown only if a photo
        path = urlsplit(rel).path
        return rel if is_photo(path) and ".." not in path else None
    rel = rel.lstrip("/")
    if is_evidence(rel) and rel.lower().endswith(".jpg"):
        return f"/evidence/{rel}"
    if is_photo(rel):
        return f"{api_url.rstrip('/')}/{rel}"
    return None


def media_key(secret: str) -> bytes:
    """The key clip links are signed with (derived from the deployment's secret, not the secret)."""
    return hmac.new(secret.encode(), b"cityops clip links v1", hashlib.sha256).digest()


def _sign(rel: str, exp: int, key: bytes) -> str:
    return hmac.new(key, f"{rel}\n{exp}".encode(), hashlib.sha256).hexdigest()


def is_clip(rel: str | None) -> bool:
    """An evidence clip's path: under ``evidence/``, an ``.mp4``, no ``..`` or backslash in it."""
    if not rel or not is_evidence(rel) or not rel.lower().endswith(".mp4"):
        return False
    return "\\" not in rel and ".." not in rel.split("/") and "\x00" not in rel


def clip_url(rel: str | None, key: bytes, now: float | None = None) -> str | None:
    """A signed board URL for the evidence clip ``rel``; None if ``rel`` is not one."""
    if not is_clip(rel):
        return None
    rel = rel.lstrip("/")
    now = time.time() if now is None else now
    exp = (int(now) // CLIP_LINK_S + 2) * CLIP_LINK_S
    return f"/evidence/{quote(rel)}?exp={exp}&sig={_sign(rel, exp, key)}"


def live_url(camera_id: str, key: bytes, now: float | None = None) -> str:
    """A signed board URL for a camera's live view (MJPEG)."""
    rel = f"live/{camera_id}"
    now = time.time() if now is None else now
    exp = (int(now) // CLIP_LINK_S + 2) * CLIP_LINK_S
    return f"/{quote(rel)}.mjpg?exp={exp}&sig={_sign(rel, exp, key)}"


def clip_allowed(rel: str, exp: str | None, sig: str | None, key: bytes, now: float) -> bool:
    """Whether the link's signature is the board's own for ``rel`` and has not expired."""
    if not exp or not sig or not exp.isdigit() or len(exp) > 12 or len(sig) > 128:
        return False
    if int(exp) < now:
        return False
    return hmac.compare_digest(sig.encode(), _sign(rel, int(exp), key).encode())


def live_panel(camera_id: str, health, key: bytes, tz, lang: str) -> html.Div:
    """A camera's live view (MJPEG) with its state; an offline camera says so, with the time of the
    last frame it sent (``health``: its CameraHealth, or None when not yet heard of)."""
    state = health.state if health else "starting"
    words = [t("live", lang), camera_id, t(f"cam.{state}", lang)]
    if state != "online" and health and health.last_frame_at:
        words.append(f"{t('last_frame', lang)} {health.last_frame_at.astimezone(tz):%m-%d %H:%M:%S}")
    return html.Div(
        [
            html.Img(src=live_url(camera_id, key), className="live-view", alt=t("live", lang)),
            html.Div(" · ".join(words), className=f"live-state {state}", id="live-state"),
        ],
        className="live-panel",
    )


def clip_player(url: str, lang: str) -> html.Video:
    """A ``<video controls>`` for a signed clip link (loads only its header until played)."""
    return html.Video(
        src=url,
        controls=True,
        preload="metadata",
        muted=True,
        playsInline=True,
        className="clip-video",
        title=t("clip", lang),
        children=html.A(t("clip", lang), href=url),  # browsers that cannot play it offer the file
    )
