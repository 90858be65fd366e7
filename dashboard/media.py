"""Browser URLs for the media named in incidents (paths relative to the data dir, streams.media)."""

from __future__ import annotations

from urllib.parse import urlsplit

from streams.media import is_evidence, is_photo


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
