"""Redis Streams adapter: connect, publish with a bounded length, consume through consumer groups.

Delivery is at least once: an entry is acknowledged only after its handler returned, entries left
pending by a dead consumer are claimed with XAUTOCLAIM by a live one, and handlers must be
idempotent (the dispatch intake keys on the detection id).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from streams.errors import Outage, is_transient
from streams.schemas import DEAD_LETTERS, MalformedMessage, Message, decode, encode

log = logging.getLogger(__name__)

Handler = Callable[[Message, str], None]


def connect(url: str, *, retries: int = 3) -> redis.Redis:
    """A client that retries a few times with backoff, then raises (the caller's loop reconnects)."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def publish(r: redis.Redis, stream: str, msg: Message, *, maxlen: int = 100_000) -> str:
    """Append one message; the stream is trimmed to about ``maxlen`` entries."""
    return r.xadd(stream, encode(msg), maxlen=maxlen, approximate=True)


def publish_many(r: redis.Redis, stream: str, msgs: Iterable[Message], *, maxlen: int = 100_000) -> list[str]:
    pipe = r.pipeline(transaction=False)
    for m in msgs:
        pipe.xadd(stream, encode(m), maxlen=maxlen, approximate=True)
    return pipe.execute()


def ensure_group(r: redis.Redis, stream: str, group: str, start: str = "0") -> None:
    try:
        r.xgroup_create(stream, group, id=start, mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class GroupConsumer:
    """One named consumer in a consumer group, calling ``handler(message, entry_id)`` per entry."""

    def __init__(
        self,
        r: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        batch: int = 100,
        dead_letters: str = DEAD_LETTERS,
        dead_letter_maxlen: int = 10_000,
        after_batch: Callable[[], object] | None = None,
        batch_handler: Callable[[list[tuple[Message, str]]], None] | None = None,
    ) -> None:
        self.r, self.stream, self.group, self.consumer = r, stream, group, consumer
        self.handler = handler
        self.claim_idle_ms, self.block_ms, self.batch = claim_idle_ms, block_ms, batch
        self.dead_letters, self.dead_letter_maxlen = dead_letters, dead_letter_maxlen
        self.after_batch = after_batch or (lambda: None)
        self.batch_handler = batch_handler
        self.processed = 0
        self.failed = 0
        self.dead = 0
        self._own_pending_done = False
        self._next_claim = 0.0  # monotonic time of the next XAUTOCLAIM (see poll_once)

    def setup(self) -> None:
        ensure_group(self.r, self.stream, self.group)

    def _dead_letter(self, entry_id: str, fields: dict, error: str) -> None:
        log.warning("dead-lettering %s %s: %s", self.stream, entry_id, error)
        self.r.xadd(
            self.dead_letters,
            {
                "stream": self.stream,
                "entry": entry_id,
                "error": error,
                **{f"f_{k}": v for k, v in fields.items()},
            },
            maxlen=self.dead_letter_maxlen,
            approximate=True,
        )
        self.dead += 1

    def _handle(self, entries: list[tuple[str, dict]]) -> int:
        """Decode, handle and acknowledge ``entries``; with a batch handler, one call for all of them
        (one database transaction), falling back to one at a time when the batch fails."""
        good: list[tuple[Message, str]] = []
        settled: list[str] = []  # trimmed or dead-lettered: acknowledged without handling
        for entry_id, fields in entries:
            if fields is None:  # trimmed away while pending
                settled.append(entry_id)
                continue
            try:
                good.append((decode(fields), entry_id))
            except MalformedMessage as exc:
                self._dead_letter(entry_id, fields, str(exc))
                settled.append(entry_id)
        done: list[str] = []
        if good and self.batch_handler is not None:
            try:
                self.batch_handler(good)
                done = [eid for _, eid in good]
                good = []
            except Exception:
                log.exception("batch of %d failed on %s; handling one at a time", len(good), self.stream)
        for msg, entry_id in good:
            try:
                self.handler(msg, entry_id)
            except Exception:  # left pending: retried here or claimed by another consumer
                log.exception("handler failed on %s %s; left pending", self.stream, entry_id)
                self.failed += 1
                continue
            done.append(entry_id)
        if done or settled:
            self.r.xack(self.stream, self.group, *done, *settled)
        self.processed += len(done)
        return len(done)

    def claim_stale(self) -> int:
        """Take over entries another consumer read but did not acknowledge within ``claim_idle_ms``."""
        start, total = "0-0", 0
        while True:
            res = self.r.xautoclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, start_id=start, count=self.batch
            )
            start, entries = res[0], res[1]
            entries = [(eid, f) for eid, f in entries]
            total += self._handle(entries)
            if start in ("0-0", b"0-0") or not entries:
                return total

    def poll_once(self, block_ms: int | None = None) -> int:
        total = 0
        if not self._own_pending_done:  # entries this consumer name read before a restart
            res = self.r.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=self.batch)
            entries = res[0][1] if res else []
            total += self._handle(entries)
            if not entries:
                self._own_pending_done = True
        if time.monotonic() >= self._next_claim:
            total += self.claim_stale()
            # while entries keep coming, look for stale ones a few times per claim_idle_ms (at most
            # once a second), not at every batch; after a poll that found nothing, at once
            self._next_claim = time.monotonic() + min(1.0, self.claim_idle_ms / 4000)
        res = self.r.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.batch,
            block=self.block_ms if block_ms is None else block_ms,
        )
        if res:
            total += self._handle(res[0][1])
        else:
            self._next_claim = 0.0
        return total

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set. Redis away, restarting, out of disk or memory (see
        :func:`streams.errors.is_transient`) is waited for with backoff, logged once per outage;
        any other Redis error (a wrong type, a missing ACL right) is raised."""
        delay = 0.2
        outage = Outage(log, f"consumer {self.consumer} on {self.stream}")
        while not stop.is_set():
            try:
                self.setup()
                self.after_batch()  # e.g. publish what a crashed run stored but did not send
                outage.ok()
                while not stop.is_set():
                    self.poll_once()
                    self.after_batch()
                    outage.ok()
                    delay = 0.2
            except redis.RedisError as exc:
                if not is_transient(exc):
                    raise
                outage.failed(exc)
                log.debug("redis unavailable (%s); retrying in %.1fs", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                self._own_pending_done = False


def wait_for_redis(url: str, timeout: float = 10.0) -> redis.Redis:
    deadline = time.monotonic() + timeout
    r = connect(url, retries=0)
    while True:
        try:
            r.ping()
            return r
        except redis.RedisError as exc:  # PING itself is refused while the disk is full (MISCONF)
            if not is_transient(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
