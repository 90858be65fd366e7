"""Build the labelled vision eval clips from the real footage in ../shared/media.

    .venv/bin/python bench/eval_clips/build.py [--out test-output/eval-clips] [--only NAME,NAME]

Every clip is made of real frames: cut (time ranges), cropped and scaled to a vertical 9:16 frame,
brightness-stepped (auto-exposure), or with a car that really drove in kept standing: its real
pixels (cut out of the frame where it stopped) blended onto real frames of the empty lot brought to
that frame's exposure, so sensor noise and compression go on around it. Nothing is drawn. ``labels.yaml`` beside this script says what
really happens in each clip (checked frame by frame; docs/vision.md, "Eval set"); run it with

    cityops vision eval bench/eval_clips/labels.yaml --clips test-output/eval-clips \
        [--detector bench/eval_clips/detectors/yolo11n.yaml]

Sources (see docs/vision.md for licences): car-detection.mp4 (overhead parking lot, 768x432,
12.5 fps), vtest.avi (elevated campus crossing, 768x576, 10 fps), one-by-one-person-detection.mp4
(people standing at a high table one by one, 768x432, 10 fps). The clips are written as H.264 MP4
under --out, never into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vision.clips import write_clip  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
SHA256 = {  # the footage these recipes and labels were made on (../shared/README.md)
    "car-detection.mp4": "d31e0ebf194cc16e50eea784e7c3b0b1bb7976a4fb9b3fec26cb92a6704cca34",
    "one-by-one-person-detection.mp4": "a5964aa259099a482a8b360ffc2c57b5a30f84d5919236a4dad01f8e929ac07c",
    "vtest.avi": "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
}
LOT_FPS = 12.5


class FootageError(RuntimeError):
    pass


def read(name: str, start: int = 0, stop: int | None = None) -> list[np.ndarray]:
    path = MEDIA / name
    if not path.is_file():
        raise FootageError(f"{path} is missing (the eval clips are built from ../shared/media)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256[name]:
        raise FootageError(f"{path}: sha256 {digest} is not the footage the labels describe")
    cap, out, i = cv2.VideoCapture(str(path)), [], 0
    while (got := cap.read())[0]:
        if i >= start and (stop is None or i < stop):
            out.append(got[1])
        i += 1
    cap.release()
    return out


# -- the overhead lot ---------------------------------------------------------------------------------
_lot: list[np.ndarray] = []


def lot() -> list[np.ndarray]:
    if not _lot:
        _lot.extend(read("car-detection.mp4"))
    return _lot


def quiet(seconds: float) -> list[np.ndarray]:
    """``seconds`` of the real empty lot (frames 114-177, forward and back: noise, no motion)."""
    empty = lot()[114:178]
    seq, out = empty + empty[::-1], []
    while len(out) < seconds * LOT_FPS:
        out += seq
    return [f.copy() for f in out[: round(seconds * LOT_FPS)]]


# Real cars where they stood: (frame, y1, y2, x1, x2) around each car, asphalt margin included.
WHITE = (80, 60, 345, 262, 442)  # the white car that drives in from the bottom, frame 80
GREY = (208, 80, 415, 78, 255)  # the grey car, frame 208
RED = (208, 110, 400, 308, 482)  # the red car beside it, frame 208


def cutout(m: np.ndarray, close: int = 31) -> np.ndarray:
    """Feathered alpha (0-1) of the largest part of mask ``m`` (holes closed): the object alone."""
    m = m.astype(np.uint8) * 255
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m)
    if n > 1:  # the object: the largest part (specks of changed asphalt dropped)
        m = np.where(lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), 255, 0).astype(np.uint8)
    m = cv2.dilate(m, np.ones((5, 5), np.uint8))
    return (cv2.GaussianBlur(m, (9, 9), 0).astype(np.float32) / 255)[..., None]


def paste(frames: list[np.ndarray], p: np.ndarray, alpha: np.ndarray, x: int, y: int) -> list[np.ndarray]:
    out = []
    for f in frames:
        f = f.copy()
        roi = f[y : y + p.shape[0], x : x + p.shape[1]].astype(np.float32)
        f[y : y + p.shape[0], x : x + p.shape[1]] = (alpha * p + (1 - alpha) * roi).astype(np.uint8)
        out.append(f)
    return out


def _exposure(car) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The car's pixels, the empty lot at the same place, and the camera's per-channel gain on that
    frame relative to the empty lot (from the asphalt at the patch's border): a white car in view
    makes the camera's auto-exposure darken the whole picture (to about 0.6)."""
    i, y1, y2, x1, x2 = car
    p = lot()[i][y1:y2, x1:x2].astype(np.float32)
    empty = np.median(np.stack([f[y1:y2, x1:x2] for f in lot()[114:178:4]]), axis=0)
    ring = np.ones(p.shape[:2], bool)
    ring[8:-8, 8:-8] = False
    return p, empty, np.median(p[ring], axis=0) / np.median(empty[ring], axis=0)


def stand(frames: list[np.ndarray], *cars, at: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The cars kept standing on every frame: the empty lot's frames at the exposure of the darkest
    car's frame (as the camera exposes with that car in view), each car's real pixels cut out
    against the empty lot and blended in at its own place (or the last one with its top-left at
    ``at``)."""
    gain0 = min((_exposure(c)[2] for c in cars), key=np.mean)  # the darkest: no car brightened past white
    out = [np.clip(f.astype(np.float32) * gain0, 0, 255).astype(np.uint8) for f in frames]
    for k, car in enumerate(cars):
        p, empty, gain = _exposure(car)
        alpha = cutout(np.abs(p - empty * gain).max(axis=2) > 35)
        p = np.clip(p * gain0 / gain, 0, 255).astype(np.uint8)
        x, y = (car[3], car[1]) if at is None or k < len(cars) - 1 else at
        out = paste(out, p, alpha, x, y)
    return out


def white_stops(stay_s: float, *, before_s: float = 3.0, after_s: float = 5.0) -> list[np.ndarray]:
    """The white car drives in (real frames 55-79), stands ``stay_s`` seconds, drives off (80-124)."""
    f = lot()
    return quiet(before_s) + f[55:80] + stand(quiet(stay_s), WHITE) + f[80:125] + quiet(after_s)


def gain(frames: list[np.ndarray], steps: list[tuple[float, float]], fps: float) -> list[np.ndarray]:
    """Auto-exposure: from each ``(t, g)`` on, pixel values are multiplied by ``g`` (a 0.4 s ramp)."""
    out = []
    for i, fr in enumerate(frames):
        t, g = i / fps, 1.0
        for ts, gs in steps:
            if t >= ts:
                g = g + (gs - g) * min(1.0, (t - ts) / 0.4)
        out.append(np.clip(fr.astype(np.float32) * g, 0, 255).astype(np.uint8) if g != 1.0 else fr)
    return out


def vertical(frames: list[np.ndarray], x1: int) -> list[np.ndarray]:
    """A 9:16 crop (243x432 from ``x1``) scaled to 720x1280: footage from a phone held upright."""
    return [cv2.resize(f[:, x1 : x1 + 243], (720, 1280), interpolation=cv2.INTER_CUBIC) for f in frames]


# -- recipes: name -> (frames, fps); events are in labels.yaml --------------------------------------------
def lot_drive_throughs():
    return lot(), LOT_FPS  # the original: four cars drive through the aisle, none stays


def lot_drive_throughs_quiet():
    f, out = lot(), []
    for a, b in [(55, 130), (178, 265), (295, 355)]:
        out += f[a:b] + quiet(25)
    return out, LOT_FPS


def lot_stop():
    return white_stops(35), LOT_FPS


def lot_stop_short():
    return white_stops(10), LOT_FPS


def lot_parked_at_start():
    f = lot()
    return stand(quiet(40), WHITE) + f[80:125] + quiet(10), LOT_FPS


def lot_two_stop():
    f = lot()
    both = stand(quiet(35), GREY, RED)
    return quiet(3) + f[178:208] + both + f[208:265] + quiet(5), LOT_FPS


def lot_parking_row():
    """Grey and red drive into the parking row (left) and stay; the white car stands in the
    no-parking part on the right (its real pixels moved 300 px right) from 10 s to 45 s."""
    head = quiet(3) + lot()[178:208]
    r10 = round(10 * LOT_FPS) - len(head)
    row = stand(quiet(r10 / LOT_FPS), GREY, RED) + stand(
        quiet(50 - r10 / LOT_FPS), GREY, RED, WHITE, at=(560, 60)
    )
    return head + row, LOT_FPS


def lot_exposure_empty():
    return gain(
        lot_drive_throughs_quiet()[0][: round(60 * LOT_FPS)], [(8, 1.35), (30, 0.75), (45, 1.0)], LOT_FPS
    ), LOT_FPS


def lot_exposure_stop():
    return gain(white_stops(35), [(15, 1.35), (30, 0.8)], LOT_FPS), LOT_FPS


def lot_vertical_stop():
    return vertical(white_stops(35), 230), LOT_FPS


def lot_vertical_drive_throughs():
    return vertical(lot_drive_throughs_quiet()[0][: round(60 * LOT_FPS)], 230), LOT_FPS


def rotated(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Turned a quarter (432x768): upright video at the footage's own resolution (an overhead view
    has no 'up'), where the 9:16 crop above has to be scaled up almost 3x."""
    return [cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE) for f in frames]


def lot_rotated_stop():
    return rotated(white_stops(35)), LOT_FPS


def lot_rotated_drive_throughs():
    return rotated(lot_drive_throughs_quiet()[0][: round(60 * LOT_FPS)]), LOT_FPS


def vtest_driveway():
    return read("vtest.avi"), 10.0  # a white van and a car stand in the driveway all along


def vtest_left_item():
    """A copy of the real yellow litter from the grass appears at 10 s on the grass further right."""
    f = read("vtest.avi")
    item = f[0][490:540, 60:160].copy()  # the yellow item and the grass around it
    bright = cv2.cvtColor(item, cv2.COLOR_BGR2GRAY) > 150  # the yellow cloth; the grass is darker
    return f[:100] + paste(f[100:], item, cutout(bright, close=5), 300, 400), 10.0


def person_table_a():
    return read("one-by-one-person-detection.mp4", 0, 720), 10.0


def person_table_b():
    return read("one-by-one-person-detection.mp4", 700, 1394), 10.0


RECIPES: dict[str, Callable[[], tuple[list[np.ndarray], float]]] = {
    name.replace("_", "-"): fn
    for name, fn in list(globals().items())
    if name.startswith(("lot_", "vtest_", "person_")) and callable(fn) and name != "lot"
}


def references(out: Path) -> None:
    """The cameras' reference images of the empty scene (a camera's ``background:``), as an operator
    captures them once ('cityops vision background'): the median of the empty lot (frames 114-177),
    the same cropped upright, and the empty room with its table (the first 3 s of that clip)."""
    lot_empty = np.median(np.stack(lot()[114:178:4]), axis=0).astype(np.uint8)
    cv2.imwrite(str(out / "lot-empty.png"), lot_empty)
    cv2.imwrite(str(out / "lot-empty-vertical.png"), vertical([lot_empty], 230)[0])
    cv2.imwrite(str(out / "lot-empty-rotated.png"), rotated([lot_empty])[0])
    room = read("one-by-one-person-detection.mp4", 0, 30)
    cv2.imwrite(str(out / "table-empty.png"), np.median(np.stack(room), axis=0).astype(np.uint8))


def build(out: Path, only: list[str] | None = None) -> list[Path]:
    unknown = sorted(set(only or []) - set(RECIPES))
    if unknown:
        raise SystemExit(f"unknown clip(s) {unknown}; known: {', '.join(RECIPES)}")
    out.mkdir(parents=True, exist_ok=True)
    references(out)
    made = []
    for name, recipe in RECIPES.items():
        if only and name not in only:
            continue
        frames, fps = recipe()
        path = write_clip(out / f"{name}.mp4", frames, fps)
        print(
            f"{path}  {len(frames)} frames, {len(frames) / fps:.1f} s, {frames[0].shape[1]}x{frames[0].shape[0]}"
        )
        made.append(path)
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "test-output" / "eval-clips"))
    ap.add_argument("--only", help="comma-separated clip names (default: all)")
    args = ap.parse_args()
    try:
        build(Path(args.out), args.only.split(",") if args.only else None)
    except FootageError as exc:
        raise SystemExit(f"build.py: {exc}") from exc


if __name__ == "__main__":
    main()
