"""Where the media named in messages live: a message's ``evidence`` (or an API answer's photo) is a
path relative to the data directory, under one of these folders.

- ``evidence/``: camera JPEGs and H.264 clips written by the vision worker, served by the board at
  ``/evidence/<path>``;
- ``photos/``: photos uploaded by citizens and staff through the API, served by the API at ``/<path>``.
"""

from __future__ import annotations

EVIDENCE_DIR = "evidence"
PHOTOS_DIR = "photos"


def is_evidence(rel: str | None) -> bool:
    return bool(rel) and rel.lstrip("/").startswith(EVIDENCE_DIR + "/")


def is_photo(rel: str | None) -> bool:
    return bool(rel) and rel.lstrip("/").startswith(PHOTOS_DIR + "/")
