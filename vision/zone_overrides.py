"""Per-camera zone overrides: the zones and motion masks the zone editor saves for one camera, in
``<data dir>/zones/<camera>.yaml``, used instead of that camera's ``zones`` and ``motion_masks`` in
the config file. The vision worker looks at the file every few seconds (:class:`OverrideWatcher`)
and swaps the new zones in without a restart; a file that does not validate is refused with its
reason logged, and the zones in use stay.

The file holds ``camera`` (its id), ``zones`` and ``motion_masks`` and nothing else. It is validated
as the config file is: the camera with these zones goes through :class:`cityops.config.CameraConfig`
and the problems are worded by :func:`cityops.config.format_errors` (the same lines as ``cityops
config check``); with a frame size known, zones outside the picture are refused as the worker
refuses them (:func:`vision.zones.check_zones`). Writes are atomic (a temporary file renamed over
the old one) and keep the previous version under ``zones/history/``.

Two desks editing one camera: the editor notes the file's :func:`revision` when it reads the zones
and saves with :func:`save_checked`, which refuses (:class:`Conflict`, naming who saved and when)
when the file changed since; the check and the write hold a lock on the zones folder, so of two
saves from the same revision, in any processes, exactly one is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from cityops.config import CameraConfig, DetectorConfig, format_errors

log = logging.getLogger(__name__)

ZONES_DIR = "zones"
HISTORY_DIR = "history"
KEEP_HISTORY = 20  # earlier versions kept per camera
FIELDS = ("zones", "motion_masks")
MAX_BYTES = 1_000_000


class OverrideError(ValueError):
    """An override file (or the editor's zones) that cannot be used; ``str()`` says why, per line."""


class Conflict(OverrideError):
    """The camera's override file changed after the editor read it: saved by ``who`` (as its first
    line says; empty when unknown) at ``when`` (the file's time, UTC), or removed (``removed``).
    ``revision`` is the file's revision now."""

    def __init__(self, camera_id: str, revision: str, who: str = "", when: datetime | None = None) -> None:
        self.camera_id, self.revision, self.who, self.when = camera_id, revision, who, when
        self.removed = revision == ""
        if self.removed:
            what = "was removed"
        else:
            at = f" at {when:%Y-%m-%d %H:%M:%S} UTC" if when else ""
            what = f"was saved{f' by {who}' if who else ''}{at}"
        super().__init__(f"the zones of camera {camera_id} {what} after they were read")


#: the first line :func:`save` writes: who saved (and when, in the server's local time)
HEAD = re.compile(r"^# zones of camera .*, saved by the zone editor(?: \((?P<who>.*)\))? at \d{8}T\d{6}$")


def override_path(data_dir: Path, camera_id: str) -> Path:
    return Path(data_dir) / ZONES_DIR / f"{camera_id}.yaml"


def apply(camera: CameraConfig, doc: object, default_detector: DetectorConfig | None = None) -> CameraConfig:
    """``camera`` with the override ``doc``'s zones and motion masks, validated as the config file
    is; :class:`OverrideError` lists the problems (``zones[0].polygon: value ... -- reason``)."""
    if not isinstance(doc, dict):
        raise OverrideError(f"the top level must be a mapping, got {type(doc).__name__}")
    other = sorted(str(k) for k in doc if k not in (*FIELDS, "camera"))
    if other:
        raise OverrideError(
            f"{', '.join(other)}: not an override field; a zone file holds {', '.join(FIELDS)}"
        )
    if doc.get("camera", camera.id) != camera.id:
        raise OverrideError(f"camera: value {doc['camera']!r} -- this file is for camera {camera.id!r}")
    data = {**camera.model_dump(exclude_unset=True), **{k: doc.get(k) or [] for k in FIELDS}}
    try:
        cam = CameraConfig.model_validate(data)
    except ValidationError as exc:
        raise OverrideError(f"{exc.error_count()} problem(s)\n{format_errors(exc, data)}") from exc
    # the resolved paths (source, background, detector files) are the config's, unchanged
    cam = camera.model_copy(update={"zones": cam.zones, "motion_masks": cam.motion_masks})
    if default_detector is not None:
        from vision.classes import camera_class_errors

        bad = camera_class_errors(cam, default_detector)
        if bad:
            raise OverrideError(f"{len(bad)} problem(s)\n" + "\n".join(bad))
    return cam


def check_frame(camera: CameraConfig, size: tuple[int, int] | None) -> None:
    """Refuse zones or masks outside a ``(width, height)`` picture, as the worker does."""
    from vision.zones import ZoneError, check_zones

    if size is None:
        return
    try:
        check_zones(camera.zones, size[0], size[1], camera.motion_masks)
    except ZoneError as exc:
        raise OverrideError(str(exc)) from exc


def read(path: Path) -> dict:
    """The override file's YAML (not yet validated: see :func:`apply`)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise OverrideError(f"{path}: larger than {MAX_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OverrideError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise OverrideError(f"{path}: not a text file in UTF-8") from exc
    try:
        doc = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise OverrideError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise OverrideError(f"{path}: the top level must be a mapping, got {type(doc).__name__}")
    return doc


def load(
    data_dir: Path,
    camera: CameraConfig,
    default_detector: DetectorConfig | None = None,
    size: tuple[int, int] | None = None,
) -> CameraConfig | None:
    """The camera with its override applied; None when it has no override file; OverrideError
    (naming the file) when the file cannot be used."""
    path = override_path(data_dir, camera.id)
    if not path.exists():
        return None
    doc = read(path)
    try:
        cam = apply(camera, doc, default_detector)
        check_frame(cam, size)
    except OverrideError as exc:
        raise OverrideError(f"{path}: {exc}") from exc
    return cam


def document(camera: CameraConfig) -> dict:
    """The override file's content for ``camera``'s zones and masks (the fields as given)."""
    return {
        "camera": camera.id,
        "zones": [z.model_dump(mode="json", exclude_unset=True) for z in camera.zones],
        "motion_masks": [m.model_dump(mode="json", exclude_unset=True) for m in camera.motion_masks],
    }


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def revision(data_dir: Path, camera_id: str) -> str:
    """The camera's override file as it is now: a digest of its bytes; "" when it has none."""
    try:
        return digest(override_path(data_dir, camera_id).read_bytes())
    except FileNotFoundError:
        return ""


def saved_by(path: Path) -> tuple[str, datetime | None]:
    """Who saved an override file (its first line, as the editor wrote it; "" when unknown) and when
    (its modification time, UTC; None when there is no file)."""
    try:
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        with open(path, encoding="utf-8", errors="replace") as f:
            m = HEAD.match(f.readline().rstrip("\n"))
    except OSError:
        return "", None
    return (m["who"] or "") if m else "", when


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold the lock of the zones folder (flock on the folder itself: every process, no lock file
    left behind; one camera's save waits for another's, which takes milliseconds)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock across processes
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def save(data_dir: Path, camera: CameraConfig, *, who: str = "") -> Path:
    """Write ``camera``'s (validated) zones and masks as its override file, atomically; the previous
    version is kept under ``zones/history/``. Returns the file's path."""
    return save_checked(data_dir, camera, who=who)[0]


def save_checked(
    data_dir: Path, camera: CameraConfig, *, who: str = "", expect: str | None = None
) -> tuple[Path, str]:
    """:func:`save`, refused with :class:`Conflict` when the file's :func:`revision` is no longer
    ``expect`` (None: whatever it is); the check and the write under one lock. Returns the file's
    path and the revision written."""
    path = override_path(data_dir, camera.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    head = f"# zones of camera {camera.id}, saved by the zone editor{f' ({who})' if who else ''} at {stamp}\n"
    text = head + yaml.safe_dump(document(camera), allow_unicode=True, sort_keys=False)
    with _locked(path.parent):
        now = revision(data_dir, camera.id)
        if expect is not None and now != expect:
            raise Conflict(camera.id, now, *saved_by(path))
        _write(path, text, stamp)
    return path, digest(text.encode("utf-8"))


def _write(path: Path, text: str, stamp: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:  # the bytes digest() saw
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            _keep(path, stamp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:  # the rename itself is durable once the folder is
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _keep(path: Path, stamp: str) -> None:
    hist = path.parent / HISTORY_DIR
    hist.mkdir(exist_ok=True)
    # '@' is in no camera id: camera 'a' never counts camera 'a.1''s versions as its own
    dest = hist / f"{path.stem}@{stamp}.{time.time_ns() % 1_000_000_000:09d}.yaml"
    dest.write_bytes(path.read_bytes())
    old = sorted(hist.glob(f"{path.stem}@*.yaml"))
    for p in old[:-KEEP_HISTORY]:
        p.unlink(missing_ok=True)


@dataclass
class OverrideWatcher:
    """One camera's override file, looked at every ``interval_s``: :meth:`poll` returns the camera
    to use when the file changed (appeared, was rewritten or removed) and validates; a bad file is
    logged once and ignored (the zones in use stay)."""

    data_dir: Path
    camera: CameraConfig  # as the config file gives it
    default_detector: DetectorConfig | None = None
    interval_s: float = 2.0

    def __post_init__(self) -> None:
        self.path = override_path(self.data_dir, self.camera.id)
        self._seen: tuple | None = None
        self._next = 0.0
        self.refused: str | None = None  # why the file on disk is not in use (None: it is, or none)

    def _signature(self) -> tuple | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def initial(self, size: tuple[int, int] | None = None) -> CameraConfig:
        """The camera to start with: its override when the file validates, else the config's."""
        self._seen = self._signature()
        return self._read(size) or self.camera

    def poll(self, now: float, size: tuple[int, int] | None = None) -> CameraConfig | None:
        """At monotonic time ``now``: the camera to swap in, or None (nothing changed, not due, or
        the new file is refused)."""
        if now < self._next:
            return None
        self._next = now + self.interval_s
        sig = self._signature()
        if sig == self._seen:
            return None
        self._seen = sig
        if sig is None:
            log.info(
                "camera %s: zone override %s removed; using the config's zones", self.camera.id, self.path
            )
            self.refused = None
            return self.camera
        return self._read(size)

    def _read(self, size: tuple[int, int] | None) -> CameraConfig | None:
        try:
            cam = load(self.data_dir, self.camera, self.default_detector, size)
        except OverrideError as exc:
            self.refused = str(exc)
            log.error("camera %s: zone override refused, the zones in use stay: %s", self.camera.id, exc)
            return None
        if cam is not None:
            self.refused = None
            log.info(
                "camera %s: zones from %s (%d zone(s), %d motion mask(s))",
                self.camera.id,
                self.path,
                len(cam.zones),
                len(cam.motion_masks),
            )
        return cam
