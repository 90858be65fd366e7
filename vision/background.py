"""The scene's background: two background models, where they start from, and where they are kept.

:class:`SceneBackground` runs two MOG2 models side by side on a small copy of each frame. The
long-memory model still shows an object that arrived and stopped minutes ago as foreground; the
short-memory model has already absorbed it. A blob of the long model that the short model no longer
sees is a *static new object*: something that was not part of the scene and has stayed.

What was there first matters, so the models do not have to learn it from the opening frames:

- :meth:`SceneBackground.seed` starts both models from an image of the scene (a camera's
  ``background:`` reference image of the empty scene, or the long model's image persisted by the
  last run), so an object present from the first frame is foreground;
- :class:`BackgroundStore` keeps the long model's image per camera under
  ``<data dir>/vision/background/<camera>.png`` (written atomically, periodically and on stop), so a
  vehicle already parked when a worker restarts is still found.

A whole-frame brightness change (auto-exposure, a cloud) must not become one blob covering most of
the frame: each frame's tone is compared with the background's (the median of per-pixel ratios on
a coarse grid, so a bus filling half the frame does not count); when it has shifted, the frame is
mapped back to the background's tone (a per-channel tone curve measured on the same grid) before
the models see it. Should the foreground still cover most of the frame (the scene itself changed,
e.g. lights switched on), both models re-learn quickly for a moment and report nothing meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: A frame whose tone differs from the background's by more than this factor is re-normalised.
TONE_SHIFT = 1.08
#: Foreground covering more than this fraction of the frame (after re-normalising) is a scene change.
SCENE_CHANGE_FRACTION = 0.4
#: Two static parts are one object when they line up (each spans most of the other's width across
#: the gap: :data:`PART_ALIGN`), the gap between them is at most this fraction of the pair's length
#: along it, and ...
PART_GAP = 0.1
PART_ALIGN = 0.6
#: ... they began standing still within this many seconds of each other (see :func:`merge_parts`).
PART_AGE_S = 2.0
#: A static part is still spreading — noise that keeps changing pixels (a re-exposed, upscaled
#: picture after a car drove through), not an object — when its pixels began standing still over a
#: wide span (the youngest tenth more than this many seconds after the median, and less than half
#: its age) and not all at one moment (the youngest quarter's ages differ too). A stopped car's
#: pixels stop together (a spread under 0.5 s); a part that an exposure step enlarged has its new
#: pixels all of one age; the noise lingering in lot-vertical-drive-throughs spreads 9-18 s.
SPREAD_S = 3.0
#: ... "not all at one moment": the youngest quarter and tenth differ by at least this (seconds).
STEP_S = 0.5
#: ... and the youngest tenth joined within this many seconds (pixels that stopped counting a while
#: ago, e.g. clipped by an exposure step, are not joining).
YOUNG_S = 4.0


class BackgroundError(ValueError):
    """A background image that cannot be used (missing, unreadable, not an image)."""


def read_image(path: str | Path) -> np.ndarray:
    """A BGR image from ``path``, or :class:`BackgroundError` saying why not."""
    p = Path(path)
    if not p.is_file():
        raise BackgroundError(f"background image {p} not found")
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise BackgroundError(f"background image {p} cannot be read ({exc.strerror or exc})") from exc
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise BackgroundError(f"background image {p} is not an image OpenCV can read (PNG, JPEG, ...)")
    return img


def write_image(path: Path, image: np.ndarray) -> Path:
    """Write ``image`` as PNG/JPEG (by suffix) atomically: a temporary file fsync'd and renamed."""
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise BackgroundError(f"cannot encode an image as {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(buf.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


@dataclass
class BackgroundStore:
    """One camera's persisted background image: ``<data dir>/vision/background/<camera>.png``."""

    data_dir: Path
    camera_id: str

    @property
    def path(self) -> Path:
        return Path(self.data_dir) / "vision" / "background" / f"{self.camera_id}.png"

    def load(self) -> np.ndarray | None:
        """The image kept by the last run, or None (none kept, or unreadable: logged)."""
        if not self.path.is_file():
            return None
        try:
            return read_image(self.path)
        except BackgroundError as exc:
            log.warning("camera %s: %s; starting without it", self.camera_id, exc)
            return None

    def save(self, image: np.ndarray) -> bool:
        """Keep ``image``; a failure (full disk) is logged and the camera goes on."""
        try:
            write_image(self.path, image)
            return True
        except (OSError, BackgroundError) as exc:
            log.warning("camera %s: background not saved to %s: %s", self.camera_id, self.path, exc)
            return False


def starting_image(store: BackgroundStore | None, reference: str | None) -> tuple[np.ndarray | None, str]:
    """The image to seed a camera's models from, and where it came from.

    The persisted image of the last run wins when it is newer than the reference image (it carries
    the scene as it was learnt since); a reference captured after it wins (someone chose it).
    """
    kept = store.path if store is not None and store.path.is_file() else None
    if reference:
        ref = Path(reference)
        if kept is None or ref.stat().st_mtime > kept.stat().st_mtime:
            return read_image(ref), f"reference image {ref}"
    if kept is not None and (img := store.load()) is not None:
        return img, f"background kept by the last run ({kept})"
    return None, "the first frames"


def _tone_curve(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """A monotone 256-entry LUT giving ``src`` the distribution of values of ``dst`` (histogram
    matching): exact for a change of gain, gamma or clipping of the same scene, and rank-based, so a
    few pixels that really changed move it little."""
    hs = np.bincount(src.ravel(), minlength=256).astype(np.float64)
    hd = np.bincount(dst.ravel(), minlength=256).astype(np.float64)
    cs, cd = np.cumsum(hs) / max(1.0, hs.sum()), np.cumsum(hd) / max(1.0, hd.sum())
    # each value goes to the reference value at the middle of its own rank range
    mid = cs - hs / max(1.0, hs.sum()) / 2
    return np.clip(np.searchsorted(cd, mid), 0, 255).astype(np.uint8)


class SceneBackground:
    """Long- and short-memory background models of one camera (see the module docstring)."""

    def __init__(
        self,
        *,
        fps: float = 5.0,
        long_memory_s: float = 600.0,
        short_memory_s: float = 3.0,
        width: int = 480,
        camera_id: str = "",
    ):
        # MOG2 takes a new colour as background once the old one's weight falls under its background
        # ratio (0.9): after about ln(0.9)/ln(1 - rate) frames. Rates are set from seconds of memory.
        self.fps = fps
        self.long_rate = -math.log(0.9) / (long_memory_s * fps)
        self.short_rate = -math.log(0.9) / (short_memory_s * fps)
        self.bootstrap = max(3, int(fps))  # unseeded: the first second learns the scene at full speed
        self.long = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=25, detectShadows=True)
        self.short = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=25, detectShadows=True)
        self.width, self.camera_id = width, camera_id
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.frames = 0
        self.scale = 1.0
        self.size: tuple[int, int] | None = None  # working (w, h)
        self.pending_seed: np.ndarray | None = None
        self.seeded_from = "the first frames"
        self._ref: np.ndarray | None = None  # the long model's image, refreshed about once a second
        self._clipped: np.ndarray | None = None  # pixels clipped by the camera in a re-normalised frame
        self.relearn_left = 0  # frames still re-learning after a scene change
        # what happened (for tests, the workbench and the docs)
        self.renormalised = 0
        self.scene_changes = 0
        self.long_mask: np.ndarray | None = None
        self.short_mask: np.ndarray | None = None
        self.still_for: np.ndarray | None = None  # frames each pixel has stood still as a new object
        self.ignore: np.ndarray | None = None  # frame-sized, 255 where motion is ignored (motion masks)
        self._ignore_small: np.ndarray | None = None
        self.static_frames = max(2, int(fps))  # a second standing still (after the short memory): static

    def set_ignore(self, mask: np.ndarray | None) -> None:
        """The motion masks (frame-sized, 255: ignored; None: none), e.g. after the zone editor saved."""
        self.ignore, self._ignore_small = mask, None

    # -- start ------------------------------------------------------------------------------------
    def seed(self, image: np.ndarray, origin: str = "an image") -> None:
        """Start both models from ``image`` (the scene without the objects to be found) on the first
        frame; an image of another aspect ratio than the camera's frames is ignored with a warning."""
        self.pending_seed, self.seeded_from = image, origin

    def _apply_seed(self, w: int, h: int) -> bool:
        img, self.pending_seed = self.pending_seed, None
        sh, sw = img.shape[:2]
        if abs(sw / sh - w / h) > 0.02 * (w / h):
            log.warning(
                "camera %s: %s is %dx%d, frames are %dx%d (another aspect ratio); not used",
                self.camera_id,
                self.seeded_from,
                sw,
                sh,
                w,
                h,
            )
            self.seeded_from = "the first frames"
            return False
        img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA) if (sw, sh) != self.size else img
        for sub in (self.long, self.short):
            sub.apply(img, learningRate=1)  # (re)initialise on this image
            for _ in range(4):
                sub.apply(img, learningRate=-1)
        self._ref = img.copy()
        log.info("camera %s: background models start from %s", self.camera_id, self.seeded_from)
        return True

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if self.size is None:
            self.scale = self.width / w if w > self.width else 1.0
            self.size = (int(w * self.scale), int(h * self.scale))
            if self.pending_seed is not None and self._apply_seed(w, h):
                self.frames = self.bootstrap  # no need to learn the opening frames
        return cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA) if self.scale != 1.0 else frame

    # -- tone -------------------------------------------------------------------------------------
    def tone_shift(self, small: np.ndarray) -> float:
        """How much brighter (>1) or darker (<1) this frame is than the background: the median of
        per-pixel ratios on a coarse grid (objects covering a minority of it do not move it)."""
        if self._ref is None:
            return 1.0
        f = cv2.cvtColor(small[::4, ::4], cv2.COLOR_BGR2GRAY).astype(np.float32)
        r = cv2.cvtColor(self._ref[::4, ::4], cv2.COLOR_BGR2GRAY).astype(np.float32)
        ok = (r > 16) & (r < 240) & (f > 4)
        if np.count_nonzero(ok) < 100:
            return 1.0
        return float(np.median(f[ok] / r[ok]))

    def _renormalise(self, small: np.ndarray) -> np.ndarray:
        """The frame in the background's tone when its tone has shifted (auto-exposure), else as is."""
        shift = self.tone_shift(small)
        if max(shift, 1 / max(shift, 1e-6)) < TONE_SHIFT:
            return small
        self.renormalised += 1
        # where the camera clipped (saturated, or crushed to black) what was there is lost: no
        # tone curve brings texture back, so those pixels say nothing about objects in this frame
        hi, lo = small.max(axis=2), small.min(axis=2)
        self._clipped = cv2.dilate(((hi >= 245) | (lo <= 4)).astype(np.uint8), self.kernel) > 0
        f, r = small[::4, ::4], self._ref[::4, ::4]
        luts = [_tone_curve(f[..., c], r[..., c]) for c in range(3)]
        return cv2.merge([cv2.LUT(small[..., c], luts[c]) for c in range(3)])

    # -- every frame ------------------------------------------------------------------------------
    def _mask(self, sub: cv2.BackgroundSubtractor, small: np.ndarray, rate: float) -> np.ndarray:
        m = sub.apply(small, learningRate=rate)
        m = np.where(m == 255, 255, 0).astype(np.uint8)  # drop shadows (127)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, self.kernel)
        return cv2.morphologyEx(m, cv2.MORPH_CLOSE, self.kernel, iterations=2)

    def update(self, frame: np.ndarray) -> bool:
        """Feed one frame; ``long_mask``/``short_mask`` then hold the foreground of each model at the
        working size. Returns False while the models re-learn after a scene change (trust nothing)."""
        small = self._small(frame)
        self.frames += 1
        learning = self.frames <= self.bootstrap
        self._clipped = None
        if not learning and self.relearn_left == 0:
            small = self._renormalise(small)
        if self.relearn_left > 0:
            self.relearn_left -= 1
            long_rate = short_rate = 0.3
        elif learning:
            long_rate = short_rate = -1  # MOG2's own schedule: 1/n, the opening frames at full speed
        else:
            long_rate, short_rate = self.long_rate, self.short_rate
        self.long_mask = self._mask(self.long, small, long_rate)
        self.short_mask = self._mask(self.short, small, short_rate)
        if self.ignore is not None:  # the camera's motion masks: no foreground there
            if self._ignore_small is None:
                self._ignore_small = cv2.resize(self.ignore, self.size, interpolation=cv2.INTER_NEAREST) > 0
            self.long_mask[self._ignore_small] = 0
            self.short_mask[self._ignore_small] = 0
        self._age(learning or self.relearn_left > 0)
        if self._clipped is not None:
            self.long_mask[self._clipped] = 0
            self.short_mask[self._clipped] = 0
        if self.frames % max(1, int(self.fps)) == 0 or self._ref is None:
            self._ref = self.long.getBackgroundImage()
        if learning or self.relearn_left > 0:
            return not self.relearn_left
        fg = np.count_nonzero(self.long_mask) / self.long_mask.size
        if fg > SCENE_CHANGE_FRACTION:
            self.scene_changes += 1
            self.relearn_left = max(3, int(self.fps))
            self.still_for[:] = 0
            log.info(
                "camera %s: %.0f%% of the frame changed at once (a scene change, not objects); "
                "re-learning the background for %d frames",
                self.camera_id,
                100 * fg,
                self.relearn_left,
            )
            return False
        return True

    def _age(self, reset: bool) -> None:
        """Count, per pixel, the frames it has stood still as a new object. Someone passing in front
        (the short model sees them) neither adds to nor resets the count, nor does the camera
        clipping a pixel of an object already static; only the scene showing through again (the long
        model's background) resets it."""
        if self.still_for is None or self.still_for.shape != self.long_mask.shape:
            self.still_for = np.zeros(self.long_mask.shape, np.uint16)
        if reset:
            self.still_for[:] = 0
            return
        back = self.long_mask == 0
        if self._clipped is not None:  # an object standing there stays; a passer-by's trace does not
            back &= ~(self._clipped & (self.still_for >= self.static_frames))
        self.still_for[back] = 0
        still = (self.long_mask > 0) & (self.short_mask == 0) & (self.still_for < 60000)
        if self._clipped is not None:
            still &= ~self._clipped  # clipped: nothing can be said about it in this frame
        self.still_for[still] += 1

    def image(self) -> np.ndarray | None:
        """The long model's background image (what the scene looks like without new objects)."""
        return None if self.size is None else self.long.getBackgroundImage()

    def static_mask(self) -> np.ndarray | None:
        """Pixels that have stood still as new objects for ``static_frames`` (working size), including
        those someone is passing in front of right now."""
        return None if self.still_for is None else self.still_for >= self.static_frames

    def boxes(self, mask: np.ndarray, min_area: float = 0) -> list[tuple[float, float, float, float]]:
        """Bounding boxes (frame pixels) of the connected parts of a working-size ``mask`` at least
        ``min_area`` frame pixels large."""
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
        inv = 1 / self.scale
        return [
            (float(x * inv), float(y * inv), float((x + bw) * inv), float((y + bh) * inv))
            for x, y, bw, bh, area in stats[1:]
            if area * inv * inv >= min_area
        ]

    def static_boxes(self, mask: np.ndarray, min_area: float = 0) -> list[tuple[float, float, float, float]]:
        """Like :meth:`boxes` for a mask of static pixels, with the parts of one object joined
        (:func:`merge_parts`, ages from the pixels' time standing still) before ``min_area`` applies."""
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
        if n <= 1:
            return []
        ages = self.still_for if self.still_for is not None else np.zeros(mask.shape, np.uint16)
        parts = []
        for i, (x, y, bw, bh, area) in enumerate(stats[1:], start=1):
            youngest, quarter, median = (
                float(a) / self.fps for a in np.percentile(ages[lab == i], (10, 25, 50))
            )
            if not spreading(youngest, quarter, median):
                parts.append(
                    (float(x), float(y), float(x + bw), float(y + bh), float(area), median * self.fps)
                )
        inv = 1 / self.scale
        return [
            (x1 * inv, y1 * inv, x2 * inv, y2 * inv)
            for x1, y1, x2, y2, area in merge_parts(parts, PART_AGE_S * self.fps)
            if area * inv * inv >= min_area
        ]

    def frame_mask(self, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
        """A working-size mask of the given frame-pixel boxes."""
        m = np.zeros(self.long_mask.shape, bool)
        k = self.scale
        for x1, y1, x2, y2 in boxes:
            m[max(0, int(y1 * k)) : int(math.ceil(y2 * k)), max(0, int(x1 * k)) : int(math.ceil(x2 * k))] = (
                True
            )
        return m

    def blobs(self, min_area: float = 0) -> list[tuple[float, float, float, float, bool]]:
        """Blobs in frame pixels, as ``(x1, y1, x2, y2, static)``: static blobs are the pixels of
        :meth:`static_mask` (so a passer-by neither merges with a left object nor changes its box);
        moving blobs the rest of the long model's foreground."""
        static = self.static_mask()
        if self.long_mask is None or static is None:
            return []
        still = cv2.morphologyEx(static.astype(np.uint8), cv2.MORPH_OPEN, self.kernel)
        moving = (self.long_mask > 0) & ~static
        return [(*b, True) for b in self.static_boxes(still, min_area)] + [
            (*b, False) for b in self.boxes(moving, min_area)
        ]


def spreading(youngest_s: float, quarter_s: float, median_s: float) -> bool:
    """Is a static part still spreading (see :data:`SPREAD_S`)? How long its pixels have stood still,
    in seconds: the youngest tenth's, the youngest quarter's and the median."""
    wide = median_s - youngest_s > SPREAD_S and youngest_s < min(median_s / 2, YOUNG_S)
    return wide and quarter_s - youngest_s >= STEP_S


def merge_parts(
    parts: list[tuple[float, float, float, float, float, float]], max_age_diff: float, gap: float = PART_GAP
) -> list[tuple[float, float, float, float, float]]:
    """Join the parts of one static object: ``parts`` are ``(x1, y1, x2, y2, area, age)`` (age: how
    long its pixels have stood still, any unit ``max_age_diff`` shares); returns ``(x1, y1, x2, y2,
    area)`` per object.

    A car seen from above whose dark windscreen matches the asphalt is two blobs, its bonnet and its
    roof: they line up, the gap between them is a small part of the car's length, and they stopped
    at the same moment, and they are about as wide as each other. Two parts are joined when their
    overlap across the gap is at least :data:`PART_ALIGN` of the wider one's extent there, the gap is
    at most ``gap`` x the pair's extent along it, and their ages differ by at most ``max_age_diff``.
    Two cars side by side are further apart than that; two parked nose to tail arrive separately
    (their ages differ) and keep their own boxes; a speck of changed pixels beside a car, or a small
    patch beside a wide one, does not span the other's width and is not joined to it.
    """
    objs = [list(p) for p in parts]
    joined = True
    while joined:
        joined = False
        for i in range(len(objs)):
            for j in range(i + 1, len(objs)):
                a, b = objs[i], objs[j]
                if abs(a[5] - b[5]) > max_age_diff or not _aligned(a, b, gap):
                    continue
                area = a[4] + b[4]
                objs[i] = [
                    min(a[0], b[0]),
                    min(a[1], b[1]),
                    max(a[2], b[2]),
                    max(a[3], b[3]),
                    area,
                    (a[5] * a[4] + b[5] * b[4]) / max(area, 1e-9),
                ]
                del objs[j]
                joined = True
                break
            if joined:
                break
    return [(o[0], o[1], o[2], o[3], o[4]) for o in objs]


def _aligned(a, b, gap: float) -> bool:
    """Do boxes ``a`` and ``b`` (x1, y1, x2, y2, ...) line up with at most a small gap between them?"""
    for lo, hi in ((0, 2), (1, 3)):  # across x (parts stacked in y), then across y (side by side in x)
        olo, ohi = 1 - lo, 3 - lo  # the other axis
        across = min(a[hi], b[hi]) - max(a[lo], b[lo])
        if across < PART_ALIGN * max(a[hi] - a[lo], b[hi] - b[lo]):
            continue
        between = max(a[olo], b[olo]) - min(a[ohi], b[ohi])  # < 0: they overlap along it
        if between <= gap * (max(a[ohi], b[ohi]) - min(a[olo], b[olo])):
            return True
    return False


def parse_clip_at(spec: str) -> tuple[str, float]:
    """``CLIP@SECONDS`` -> (clip, seconds); :class:`BackgroundError` for anything else."""
    clip, sep, at = spec.rpartition("@")
    try:
        seconds = float(at)
    except ValueError:
        seconds = -1.0
    if not sep or not clip or not (seconds >= 0 and math.isfinite(seconds)):
        raise BackgroundError(f"--from {spec!r}: give CLIP@SECONDS, e.g. street.mp4@12.5 (seconds >= 0)")
    return clip, seconds


def capture(clip: str, at_s: float, median_s: float = 0.0) -> np.ndarray:
    """The frame of ``clip`` (video file or image folder) at ``at_s`` seconds, or with ``median_s``
    the per-pixel median of the frames from ``at_s`` over that many seconds (2 a second), in which
    people walking through vanish and the empty scene remains."""
    from vision.sources import SourceError, VideoSource

    fps = 2.0 if median_s > 0 else 1000.0
    picked: list[np.ndarray] = []
    try:
        for frame, t in VideoSource(clip, fps=fps):
            if t + 1e-6 < at_s:
                continue
            if t > at_s + median_s + 1e-6:
                break
            picked.append(frame)
            if median_s <= 0:
                break
    except SourceError as exc:
        raise BackgroundError(str(exc)) from exc
    if not picked:
        raise BackgroundError(f"{clip} has no frame at {at_s:g} s (it is shorter)")
    return picked[0] if len(picked) == 1 else np.median(np.stack(picked), axis=0).astype(np.uint8)
