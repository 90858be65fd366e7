"""Publish messages that must not be lost: spool first, send in the background, forget once durable.

:meth:`DurableProducer.submit` writes the message to the :class:`streams.spool.Spool` and returns at
once (the camera loop never waits for Redis). A sender thread XADDs everything unconfirmed and asks
the server, on the same connection, ``WAITAOF 1 0 <timeout>``: once the append-only file holding the
entries is fsync'd they are confirmed and leave the spool. Entries that are not confirmed (disk full,
server restarted, timeout) are sent again later; the consumers are idempotent by message id, so a
repeat is harmless. A server without WAITAOF (before Redis 7.2) or without an append-only file cannot
say when an entry is durable (nor can an ACL user without the right to run WAITAOF): there an entry
is confirmed once every consumer group on the stream has read and acknowledged it, and sent again if
it has vanished before that; a user that may not even look at the groups confirms on acceptance.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from redis.exceptions import NoPermissionError

from streams.errors import Outage, is_transient
from streams.spool import Fields, Spool

log = logging.getLogger(__name__)


def _sid(entry_id: str) -> tuple[int, int]:
    ms, _, seq = str(entry_id).partition("-")
    return int(ms), int(seq or 0)


class DurableProducer:
    def __init__(
        self,
        r: redis.Redis,
        stream: str,
        spool: Spool,
        *,
        maxlen: int = 100_000,
        confirm_timeout_ms: int = 2000,
        batch: int = 200,
        name: str = "producer",
    ) -> None:
        self.r, self.stream, self.spool = r, stream, spool
        self.maxlen, self.confirm_timeout_ms, self.batch = maxlen, confirm_timeout_ms, batch
        self.name = name
        self.mode = "waitaof"  # or "processed" (no WAITAOF / no append-only file), or "accepted"
        self.sent: dict[str, str] = {}  # processed mode: key -> entry id awaiting the consumer groups
        self.sends = 0
        self.confirmed = 0
        self.outage = Outage(log, f"{name}: sending to {stream}")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_adopt = 0.0

    # -- the caller's side ---------------------------------------------------------------------------
    def submit(self, key: str, fields: Fields) -> None:
        """Keep ``fields`` (spooled, fsync'd) and have it sent; never raises, never waits for Redis."""
        self.spool.add(key, fields)
        self.start()
        self._wake.set()

    @property
    def unconfirmed(self) -> int:
        return len(self.spool)

    def start(self) -> DurableProducer:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=f"{self.name}-sender", daemon=True)
                self._thread.start()
        return self

    def stop(self, drain_s: float = 2.0) -> None:
        """Try for up to ``drain_s`` to get the rest confirmed, then stop; what is left stays in the
        spool file for the next run (or another producer) to send."""
        end = time.monotonic() + drain_s
        while len(self.spool) and time.monotonic() < end and self._thread and self._thread.is_alive():
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=self.confirm_timeout_ms / 1000 + 5)
        if len(self.spool):
            log.warning(
                "%s: %d message(s) not confirmed yet stay in %s", self.name, len(self.spool), self.spool.path
            )
        self.spool.close()

    # -- the sender thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if self._stop.is_set() and not len(self.spool):
                return
            try:
                self._housekeeping()
                while len(self.spool) and not self._stop.is_set():
                    if not self.send_once():
                        break  # waiting for the consumer groups, or nothing confirmed this round
                self.outage.ok()
                delay = 0.2
            except redis.RedisError as exc:
                if is_transient(exc):
                    self.outage.failed(exc)
                else:  # a setup mistake (ACL, wrong type): loud, and the messages stay spooled
                    log.error(
                        "%s: cannot send to %s (%s); kept in the spool, retrying", self.name, self.stream, exc
                    )
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
            except Exception:  # never let the thread die with messages in the spool
                log.exception("%s: sender failed; retrying", self.name)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _housekeeping(self) -> None:
        self.spool.flush_memory()
        now = time.monotonic()
        if now - self._last_adopt > 30:
            self._last_adopt = now
            if self.spool.adopt_orphans():
                self._wake.set()

    def send_once(self) -> bool:
        """Send (or check) one batch of unconfirmed entries; True when some were confirmed."""
        todo = [(k, f) for k, f in self.spool.items() if k not in self.sent][: self.batch]
        if self.mode == "accepted":
            if todo:
                self._xadd(todo, wait=False)
            done = list(self.sent)
            self.sent.clear()
            self.spool.confirm(done)
            self.confirmed += len(done)
            return bool(done)
        if self.mode == "processed":
            confirmed = self._check_processed()
            if todo:
                self._xadd(todo, wait=False)
            return confirmed > 0
        if not todo:
            return False
        return self._xadd(todo, wait=True) > 0

    def _xadd(self, todo: list[tuple[str, Fields]], *, wait: bool) -> int:
        pipe = self.r.pipeline(transaction=False)
        for _, fields in todo:
            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        if wait:
            pipe.execute_command("WAITAOF", 1, 0, self.confirm_timeout_ms)
        res = pipe.execute(raise_on_error=False)
        self.sends += len(todo)
        ids = res[: len(todo)]
        errors = [e for e in ids if isinstance(e, Exception)]
        if errors:  # e.g. MISCONF: nothing durable here; the loop waits and sends all again
            raise errors[0]
        if not wait:
            for (k, _), eid in zip(todo, ids, strict=True):
                self.sent[k] = eid
            return 0
        ack = res[-1]
        if isinstance(ack, Exception):
            text = str(ack).lower()
            if isinstance(ack, NoPermissionError) or "unknown command" in text or "appendonly" in text:
                log.warning(
                    "%s: the server cannot confirm durability with WAITAOF (%s); confirming entries "
                    "once the consumer groups have processed them",
                    self.name,
                    ack,
                )
                self.mode = "processed"
                for (k, _), eid in zip(todo, ids, strict=True):
                    self.sent[k] = eid
                return 0
            raise ack
        if int(ack[0]) >= 1:
            self.spool.confirm([k for k, _ in todo])
            self.confirmed += len(todo)
            return len(todo)
        # accepted but not on disk (full disk, slow fsync): the loop waits, then sends them again
        raise redis.ResponseError(
            f"NOTREADY {len(todo)} entries accepted but the append-only file was not fsync'd within "
            f"{self.confirm_timeout_ms} ms"
        )

    def _check_processed(self) -> int:
        """Processed mode: confirm entries every group has delivered and acknowledged; forget the
        entry id of those that vanished (server restarted without them) so they are sent again."""
        if not self.sent:
            return 0
        try:
            groups = self.r.xinfo_groups(self.stream)
            last = _sid(self.r.xinfo_stream(self.stream)["last-generated-id"])
        except NoPermissionError as exc:  # an ACL user that may only XADD: acceptance is all we know
            log.warning(
                "%s: cannot see the consumer groups (%s); entries count as kept once Redis accepted them",
                self.name,
                exc,
            )
            self.mode = "accepted"
            done = list(self.sent)
            self.sent.clear()
            self.spool.confirm(done)
            self.confirmed += len(done)
            return len(done)
        except redis.ResponseError as exc:
            if "no such key" not in str(exc).lower():
                raise
            groups, last = [], (0, 0)
        done, again = [], []
        for key, eid in list(self.sent.items()):
            sid = _sid(eid)
            if sid > last:
                again.append(key)  # the stream was lost (or recreated) after we sent it
                continue
            ok = bool(groups)
            for g in groups:
                if _sid(g["last-delivered-id"]) < sid:
                    ok = False
                    if not self.r.xrange(self.stream, min=eid, max=eid):
                        again.append(key)  # trimmed or lost before it was read
                    break
                if self.r.xpending_range(self.stream, g["name"], min=eid, max=eid, count=1):
                    ok = False
                    break
            if ok:
                done.append(key)
        for k in done + again:
            self.sent.pop(k, None)
        if done:
            self.spool.confirm(done)
            self.confirmed += len(done)
        return len(done)
