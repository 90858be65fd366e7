"""An on-disk spool of messages a producer has not yet seen made durable by Redis.

One append-only JSON-lines file per producer process in the spool directory: ``{"add": key,
"fields": {...}}`` (flushed and fsync'd before :meth:`Spool.add` returns) and ``{"done": key}`` once
the message is confirmed. Opening a spool replays the file; a torn or corrupt line (a crash in the
middle of a write) is skipped with a warning. The file is held under ``flock``: a producer that died
leaves its file unlocked, and the next producer on the same directory adopts what is still in it
(:meth:`Spool.adopt_orphans`).

The spool never raises into the producer: when its own disk is full (or unwritable) it keeps the
messages in memory, logs loudly once, and writes them as soon as the disk takes writes again. It is
bounded: beyond ``max_entries`` the oldest message is dropped with an error in the log.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

Fields = dict[str, str]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_entries(path: Path) -> tuple[OrderedDict[str, Fields], int]:
    """The unconfirmed entries of a spool file, oldest first, and the number of unreadable lines."""
    pending: OrderedDict[str, Fields] = OrderedDict()
    bad = 0
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return pending, 0
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if "add" in rec:
                fields = rec["fields"]
                if not isinstance(fields, dict):
                    raise ValueError("fields is not an object")
                pending[str(rec["add"])] = {str(k): str(v) for k, v in fields.items()}
            elif "done" in rec:
                pending.pop(str(rec["done"]), None)
            else:
                raise ValueError("neither add nor done")
        except (ValueError, KeyError, TypeError, AttributeError):
            bad += 1
    return pending, bad


class Spool:
    """``Spool(directory, name, max_entries)``: ``add`` before sending, ``confirm`` once durable."""

    def __init__(self, directory: Path, name: str, max_entries: int = 10_000) -> None:
        self.dir = Path(directory)
        self.name = name
        self.max_entries = max_entries
        self.path = self.dir / f"{name}.jsonl"
        self.lock = threading.RLock()
        self.pending: OrderedDict[str, Fields] = OrderedDict()
        self.memory_only: set[str] = set()  # added while the disk refused writes
        self.dropped = 0
        self.corrupt_lines = 0
        self.disk_error: str | None = None
        self._fd: int | None = None
        self._lines = 0
        self._open()

    # -- file handling ------------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # our own name: only a stale adopter holds it
                st = os.fstat(fd)
                try:
                    same = os.stat(self.path).st_ino == st.st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)  # adopted and removed between open and lock: make a new one
            self._fd = fd
            _fsync_dir(self.dir)
            size = st.st_size
            if size:  # cut a torn last line, so the next record starts on a line of its own
                os.lseek(fd, max(0, size - 65536), os.SEEK_SET)
                tail = os.read(fd, 65536)
                if not tail.endswith(b"\n"):
                    cut = tail.rfind(b"\n")
                    keep = size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail))
                    os.ftruncate(fd, keep)
                    self.corrupt_lines += 1
                    log.warning("spool %s: cut a torn last line (%d bytes)", self.path, size - keep)
        except OSError as exc:
            self._disk_failed(exc)
            return
        pending, bad = read_entries(self.path)
        self.corrupt_lines += bad
        if bad:
            log.warning("spool %s: skipped %d unreadable line(s) (a torn write)", self.path, bad)
        for key, fields in pending.items():
            self._remember(key, fields)
        self._compact()
        if self.pending:
            log.warning(
                "spool %s: %d message(s) from an earlier run to send again", self.path, len(self.pending)
            )

    def _disk_failed(self, exc: OSError) -> None:
        if self.disk_error is None:
            log.error(
                "spool %s cannot be written (%s): keeping unconfirmed messages in memory only "
                "(lost if this process dies) until the disk takes writes again",
                self.path,
                exc,
            )
        self.disk_error = str(exc)

    def _write(self, records: list[dict], *, sync: bool) -> bool:
        if self._fd is None:
            try:
                self._open_fd_only()
            except OSError as exc:
                self._disk_failed(exc)
                return False
        data = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        size = None
        try:
            size = os.fstat(self._fd).st_size
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(28, "short write")
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            if size is not None:
                try:  # leave no torn line behind
                    os.ftruncate(self._fd, size)
                except OSError:
                    pass
            self._disk_failed(exc)
            return False
        self._lines += len(records)
        if self.disk_error is not None and not self.memory_only:
            self.disk_error = None  # the next failure is a new episode, logged again
        return True

    def _open_fd_only(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd = fd

    def _compact(self) -> None:
        """Rewrite the file with only the unconfirmed entries (atomic rename, same lock)."""
        if self._fd is None:
            return
        tmp = self.dir / f".{self.name}.compact"
        recs = [{"add": k, "fields": f} for k, f in self.pending.items() if k not in self.memory_only]
        try:
            with open(tmp, "wb") as f:
                for r in recs:
                    f.write(json.dumps(r, separators=(",", ":")).encode() + b"\n")
                f.flush()
                os.fsync(f.fileno())
            new_fd = os.open(tmp, os.O_RDWR | os.O_APPEND)
            fcntl.flock(new_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(tmp, self.path)
            _fsync_dir(self.dir)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            log.warning("spool %s: not compacted (%s); it stays valid as it is", self.path, exc)
            return
        os.close(self._fd)
        self._fd = new_fd
        self._lines = len(recs)

    # -- the producer's side ------------------------------------------------------------------------
    def _remember(self, key: str, fields: Fields) -> None:
        self.pending[key] = fields
        while len(self.pending) > self.max_entries:
            old, _ = self.pending.popitem(last=False)
            self.memory_only.discard(old)
            self.dropped += 1
            log.error(
                "spool %s is full (%d messages, vision.spool_max_entries): dropped the oldest, %s",
                self.path,
                self.max_entries,
                old,
            )
            self._write([{"done": old}], sync=False)

    def add(self, key: str, fields: Fields) -> bool:
        """Keep ``fields`` until :meth:`confirm`; True when it is on disk, False when only in memory."""
        with self.lock:
            if key in self.pending:
                return key not in self.memory_only
            self._remember(key, fields)
            if key not in self.pending:  # max_entries 0
                return False
            if self._write([{"add": key, "fields": fields}], sync=True):
                if self.memory_only:
                    self.flush_memory()
                return True
            self.memory_only.add(key)
            return False

    def flush_memory(self) -> int:
        """Write what the disk refused earlier; returns how many are still only in memory."""
        with self.lock:
            if not self.memory_only:
                return 0
            keys = [k for k in self.pending if k in self.memory_only]
            if self._write([{"add": k, "fields": self.pending[k]} for k in keys], sync=True):
                log.warning(
                    "spool %s: the disk takes writes again; %d message(s) kept in memory are on disk now",
                    self.path,
                    len(keys),
                )
                self.memory_only.clear()
                self.disk_error = None
            return len(self.memory_only)

    def confirm(self, keys: list[str]) -> None:
        """Forget ``keys``: Redis has them durably."""
        with self.lock:
            done = [k for k in keys if self.pending.pop(k, None) is not None]
            for k in done:
                self.memory_only.discard(k)
            if not done:
                return
            if not self.pending:
                self._truncate()
            else:  # a lost "done" line only means one more (idempotent) send after a crash
                self._write([{"done": k} for k in done], sync=False)
                if self._lines > 4 * max(len(self.pending), 256):
                    self._compact()

    def _truncate(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            self._lines = 0
        except OSError as exc:
            log.warning("spool %s: not truncated (%s)", self.path, exc)

    def items(self) -> list[tuple[str, Fields]]:
        with self.lock:
            return list(self.pending.items())

    def __len__(self) -> int:
        return len(self.pending)

    def adopt_orphans(self) -> int:
        """Take over the entries of spool files in the same directory whose producer is gone (their
        file is not locked): they are written to this spool, then the orphan file is removed."""
        taken = 0
        try:
            candidates = [p for p in self.dir.glob("*.jsonl") if p != self.path]
        except OSError:
            return 0
        for path in candidates:
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    raise OSError("replaced meanwhile")
            except OSError:
                os.close(fd)
                continue  # its producer is alive (or it just rewrote it)
            try:
                entries, bad = read_entries(path)
                if bad:
                    log.warning("spool %s: skipped %d unreadable line(s)", path, bad)
                with self.lock:
                    new = [(k, f) for k, f in entries.items() if k not in self.pending]
                    for k, f in new:
                        self._remember(k, f)
                    ok = self._write([{"add": k, "fields": f} for k, f in new], sync=True) if new else True
                    if not ok:
                        self.memory_only.update(k for k, _ in new)
                if ok:  # only once the entries are safe here
                    path.unlink()
                    taken += len(new)
                    if new:
                        log.warning("spool %s: adopted %d message(s) from %s", self.path, len(new), path.name)
            except OSError as exc:
                log.warning("spool %s: could not adopt %s (%s)", self.path, path, exc)
            finally:
                os.close(fd)
        return taken

    def close(self) -> None:
        with self.lock:
            if self.memory_only:
                log.error(
                    "spool %s: %d unconfirmed message(s) only in memory are lost at shutdown (disk full)",
                    self.path,
                    len(self.memory_only),
                )
            if self._fd is not None:
                if not self.pending:
                    try:
                        self.path.unlink()
                    except OSError:
                        pass
                os.close(self._fd)
                self._fd = None
