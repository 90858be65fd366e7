"""The dispatch service: consume detections, write incidents, publish incident events."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis
from sqlalchemy.exc import OperationalError

from cityops.config import CityOpsConfig
from dispatch.admission import admit
from dispatch.outbox import flush_or_wait, republish_lost
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.bus import GroupConsumer, connect
from streams.errors import Outage, is_transient
from streams.schemas import DETECTIONS, Detection, Message, encode

log = logging.getLogger(__name__)
GROUP = "dispatch"


class DispatchService:
    def __init__(self, cfg: CityOpsConfig, redis_url: str, consumer: str | None = None) -> None:
        self.cfg = cfg
        self.r = connect(redis_url)
        self.parts = build_dispatch(cfg, load_grid(cfg.grid, cfg.data))
        self.sessions, self.intake, self.commands = (
            self.parts.sessions,
            self.parts.intake,
            self.parts.commands,
        )
        self.outbox_outage = Outage(log, "incident events (kept in the outbox)")
        self._redis_run_id: str | None = None
        self.consumer = GroupConsumer(
            self.r,
            DETECTIONS,
            GROUP,
            consumer or f"{socket.gethostname()}-{os.getpid()}",
            self._on_message,
            claim_idle_ms=cfg.redis.claim_idle_ms,
            after_batch=self.publish_events,
            batch_handler=self._on_batch,
        )

    def _admit(self, det: Detection) -> tuple[Detection | None, str]:
        """``det`` as intake should take it (its time clamped if need be), or None and the reason."""
        rules = self.cfg.dispatch
        verdict = admit(
            det,
            self.commands.clock(),
            max_future_skew_s=rules.max_clock_skew_s,
            max_age_s=rules.max_detection_age_s,
        )
        return verdict.detection, verdict.reason

    def _refuse(self, det: Detection, entry_id: str, reason: str) -> None:
        self.consumer._dead_letter(entry_id, encode(det), f"refused: {reason}")

    def _on_batch(self, batch: list[tuple[Message, str]]) -> None:
        dets, refused = [], []
        for msg, entry_id in batch:
            if isinstance(msg, Detection):
                det, reason = self._admit(msg)
                if det is None:
                    refused.append((msg, entry_id, reason))
                else:
                    dets.append(det)
        results = self.intake.handle_many(dets) if dets else []
        for msg, entry_id, reason in refused:  # after intake: a failed batch is retried one by one
            self._refuse(msg, entry_id, reason)
        created = sum(r.created for r in results)
        log.info(
            "%d detection(s) -> %d new incident(s), %d merged or replayed, %d refused",
            len(dets) + len(refused),
            created,
            len(dets) - created,
            len(refused),
        )

    def _on_message(self, msg: Message, entry_id: str) -> None:
        if not isinstance(msg, Detection):
            log.warning("ignoring %s on %s (%s)", msg.kind, DETECTIONS, entry_id)
            return
        det, reason = self._admit(msg)
        if det is None:
            self._refuse(msg, entry_id, reason)
            return
        res = self.intake.handle(det)
        log.info(
            "detection %s -> incident %s%s",
            det.id,
            res.incident_id,
            " (replay)" if res.duplicate_message else "",
        )

    def sweep_sla(self) -> int:
        """Record breached SLA stages and escalate them (needs the store only, not Redis: the events
        wait in the outbox). A store that is away is logged and tried again at the next sweep."""
        try:
            breaches = self.commands.sweep_sla()
        except OperationalError as exc:
            log.warning("store unavailable (%s); SLA deadlines checked again shortly", exc.orig or exc)
            return 0
        for incident_id, stage in breaches:
            log.warning("incident %s breached its %s SLA; escalated", incident_id, stage)
        return len(breaches)

    def run_sla_clock(self, stop: threading.Event) -> None:
        """Sweep every ``dispatch.sla_sweep_s`` until ``stop``, on its own timer (a thread)."""
        while not stop.is_set():
            self.sweep_sla()
            stop.wait(self.cfg.dispatch.sla_sweep_s)

    def publish_events(self) -> int:
        """After each batch: publish what was stored.

        A store that is locked or whose connection was cut is waited for, not fatal: the events stay
        in the outbox, retried after the next batch."""
        try:
            self._after_redis_restart()  # before anything is published to a new server
            return flush_or_wait(
                self.sessions, self.r, self.outbox_outage, maxlen=self.cfg.redis.stream_maxlen
            )
        except OperationalError as exc:
            log.warning("store unavailable (%s); events kept in the outbox, retrying", exc.orig or exc)
            time.sleep(0.5)
            return 0

    def _after_redis_restart(self) -> None:
        """When Redis is a new process (or at our start), republish the events it lost. Checked
        before every flush: events published to the new server first would hide the gap."""
        if self._redis_run_id == "off":
            return
        try:
            run_id = self.r.info("server").get("run_id")
            if run_id != self._redis_run_id:
                republish_lost(self.sessions, self.r)
                self._redis_run_id = run_id
        except redis.RedisError as exc:
            if not is_transient(exc):  # e.g. an ACL user without INFO: keep going without the check
                log.warning("cannot check the incidents stream after Redis restarts (%s)", exc)
                self._redis_run_id = "off"

    def step(self, block_ms: int | None = None) -> int:
        """Consume one batch, then publish what it stored; returns messages handled."""
        n = self.consumer.poll_once(block_ms)
        self.publish_events()
        return n

    def run(self, stop: threading.Event) -> None:
        sla = threading.Thread(target=self.run_sla_clock, args=(stop,), name="sla-clock", daemon=True)
        sla.start()
        try:
            self.consumer.run(stop)
        finally:
            stop.set()
            sla.join(timeout=10)
            self.parts.close()
