"""Photo uploads: size-checked, really an image (decoded by Pillow), stored atomically."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

ALLOWED = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded


class UploadError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_image(data: bytes, max_bytes: int) -> str:
    """The file extension for ``data`` if it is an acceptable image; raises UploadError otherwise."""
    if len(data) > max_bytes:
        raise UploadError(
            f"the photo is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB", 413
        )
    if not data:
        raise UploadError("the photo is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if fmt not in ALLOWED:
                raise UploadError(f"photos must be JPEG, PNG or WebP, not {fmt}", 415)
            if img.width * img.height > MAX_PIXELS:
                raise UploadError(
                    f"the photo has {img.width}x{img.height} pixels; the limit is {MAX_PIXELS:,}"
                )
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # verify() does not decode pixel data; a truncated file fails here
    except UploadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise UploadError(f"the file is not a readable image ({exc.__class__.__name__})", 415) from exc
    return ALLOWED[fmt]


def store_photo(data: bytes, data_dir: Path, max_bytes: int) -> str:
    """Check and store; returns the path relative to ``data_dir`` (``photos/YYYYMMDD/<uuid>.<ext>``)."""
    ext = check_image(data, max_bytes)
    rel = f"photos/{datetime.now(UTC):%Y%m%d}/{uuid.uuid4().hex}{ext}"
    path = data_dir / rel
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:  # disk full, photo folder unwritable: the server's fault, said plainly
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise UploadError(
            f"the photo could not be stored on the server ({exc.strerror or exc})", 507
        ) from exc
    return rel
