"""Browser URLs for the media named in incidents (paths relative to the data dir, streams.media), and
the board's ``/photos/`` route.

Every picture a page shows comes from the board's own origin: camera evidence JPEGs from
``/evidence`` (app.py), citizen and inspector photos from ``/photos/<day>/<name>``, which the board
reads from the shared data folder or, when the API keeps them elsewhere, fetches from the API. (A
wall screen or a phone is another machine: an ``http://127.0.0.1:8060/photos/...`` URL pointed the
browser at itself, and the thumbnails stayed empty.)

Camera evidence (clips and pictures: faces, number plates) is for staff only: an ``<img>`` or
``<video>`` element cannot send the API login, so the pages (which fetched the incident with that
login) hand the browser a link signed with the board's key (:func:`signed_evidence`), and the
board's ``/evidence`` route serves a file only with a valid, unexpired signature
(:func:`clip_allowed`)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

from dash import html
from flask import Flask, Response, abort, request, send_from_directory

from cityops.config import CityOpsConfig
from dashboard.i18n import t
from streams.media import PHOTOS_DIR, is_evidence, is_photo

log = logging.getLogger(__name__)
_DAY = re.compile(r"^\d{8}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}\.(?:jpg|jpeg|png|webp)$", re.IGNORECASE)

#: A signed clip link stays valid for one to two of these (links are stable within one, so a page
#: that refreshes keeps the same link and a playing video is not reloaded).
CLIP_LINK_S = 4 * 3600


def media_url(rel: str | None, key: bytes | None = None, now: float | None = None) -> str | None:
    """A browser URL on the board for stored media: camera evidence JPEGs at ``/evidence/...``
    (staff only: signed with the board's ``key`` like a clip; None without a key), citizen and
    inspector photos at ``/photos/...``; None for anything else."""
    if not rel:
        return None
    if rel.startswith(("http://", "https://")):  # the API's absolute media_url: shown only if a photo
        path = urlsplit(rel).path
        return rel if is_photo(path) and ".." not in path else None
    rel = rel.lstrip("/")
    if is_evidence(rel) and rel.lower().endswith(".jpg"):
        return signed_evidence(rel, key, now) if key else None
    if is_photo(rel):
        return f"/{rel}"
    return None


def install_photos(server: Flask, cfg: CityOpsConfig) -> None:
    """``/photos/<day>/<name>``: from the data folder when the board shares it with the API, else
    from the API (``cfg.api_url``, as the board reaches it)."""
    root = (cfg.data / PHOTOS_DIR).resolve()

    @server.route("/photos/<day>/<name>")
    def photo(day: str, name: str):
        if not _DAY.match(day) or not _NAME.match(name):
            abort(404)
        if (root / day / name).is_file():
            resp = send_from_directory(root / day, name, max_age=86_400)
        else:
            try:
                with urllib.request.urlopen(f"{cfg.api_url}/photos/{day}/{name}", timeout=10) as got:  # noqa: S310
                    resp = Response(got.read(), mimetype=got.headers.get_content_type())
            except urllib.error.HTTPError as exc:
                abort(404 if exc.code == 404 else 502)
            except OSError as exc:
                log.warning("photo %s/%s: the API did not answer (%s)", day, name, exc)
                abort(502)
            resp.headers["Cache-Control"] = "private, max-age=86400"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp.make_conditional(request)


def media_key(secret: str) -> bytes:
    """The key clip links are signed with (derived from the deployment's secret, not the secret)."""
    return hmac.new(secret.encode(), b"cityops clip links v1", hashlib.sha256).digest()


def _sign(rel: str, exp: int, key: bytes) -> str:
    return hmac.new(key, f"{rel}\n{exp}".encode(), hashlib.sha256).hexdigest()


EVIDENCE_KINDS = (".jpg", ".mp4")  # the camera evidence the board serves: pictures and clips


def is_evidence_file(rel: str | None, kinds: tuple[str, ...] = EVIDENCE_KINDS) -> bool:
    """A camera evidence picture's or clip's path: under ``evidence/``, one of ``kinds``, no ``..``,
    backslash or NUL in it."""
    if not rel or not is_evidence(rel) or not rel.lower().endswith(kinds):
        return False
    return "\\" not in rel and ".." not in rel.split("/") and "\x00" not in rel


def is_clip(rel: str | None) -> bool:
    """An evidence clip's path (see :func:`is_evidence_file`)."""
    return is_evidence_file(rel, (".mp4",))


def signed_evidence(rel: str, key: bytes, now: float | None = None) -> str | None:
    """``/evidence/<rel>`` signed with the board's key, valid 4 to 8 hours (one link per 4-hour
    slot, so a page redrawn meanwhile keeps the same URL and the browser's cached copy)."""
    rel = rel.lstrip("/")
    if not is_evidence_file(rel):
        return None
    now = time.time() if now is None else now
    exp = (int(now) // CLIP_LINK_S + 2) * CLIP_LINK_S
    return f"/evidence/{quote(rel)}?exp={exp}&sig={_sign(rel, exp, key)}"


def clip_url(rel: str | None, key: bytes, now: float | None = None) -> str | None:
    """A signed board URL for the evidence clip ``rel``; None if ``rel`` is not one."""
    return signed_evidence(rel, key, now) if is_clip(rel) else None


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
