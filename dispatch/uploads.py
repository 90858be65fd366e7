"""Photo uploads: size-checked, really an image (decoded by Pillow), re-encoded without any metadata
(GPS position, camera make and model, anything appended after the image), stored atomically."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

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


_SAVE = {"JPEG": {"quality": 90}, "PNG": {}, "WEBP": {"quality": 90}}


def _to_srgb(img: Image.Image) -> Image.Image:
    """Pixels in sRGB, so that dropping an embedded colour profile does not change the colours."""
    icc = img.info.get("icc_profile")
    if not icc:
        return img
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out = "RGBA" if "A" in img.getbands() else "RGB"
        return ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode=out)
    except Exception:  # noqa: BLE001 - a broken or mismatched profile, no LittleCMS: pixels as they are
        return img


def reencode(data: bytes, fmt: str) -> bytes:
    """The image drawn afresh: EXIF orientation applied, then saved with no metadata at all (no EXIF,
    XMP, ICC profile or comments) and nothing from the upload's bytes but its pixels."""
    with Image.open(io.BytesIO(data)) as src:
        img = _to_srgb(ImageOps.exif_transpose(src))
        if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit grey: scaled, not clipped, to 8 bits
            import numpy as np

            grey = np.clip(np.asarray(img, dtype=np.float64) / 257.0, 0, 255).astype(np.uint8)
            img = Image.fromarray(grey)
        alpha = "A" in img.getbands() or "transparency" in img.info
        if fmt == "JPEG":
            mode = "L" if img.mode in ("1", "L") else "RGB"
        else:
            mode = img.mode if img.mode in ("L", "RGB", "RGBA") else ("RGBA" if alpha else "RGB")
        img = img.convert(mode) if img.mode != mode else img
        fresh = Image.frombytes(mode, img.size, img.tobytes())  # pixels only: img.info is left behind
    buf = io.BytesIO()
    fresh.save(buf, fmt, **_SAVE[fmt])
    return buf.getvalue()


def store_photo(data: bytes, data_dir: Path, max_bytes: int) -> str:
    """Check, re-encode and store; returns the path relative to ``data_dir``
    (``photos/YYYYMMDD/<uuid>.<ext>``)."""
    ext = check_image(data, max_bytes)
    fmt = next(f for f, e in ALLOWED.items() if e == ext)
    try:
        data = reencode(data, fmt)
    except (OSError, ValueError) as exc:  # check_image decoded it already; still, never store the original
        raise UploadError(f"the photo could not be re-encoded ({exc.__class__.__name__})", 415) from exc
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
