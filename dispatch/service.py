"""The dispatch service: consume detections, write incidents, publish incident events."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from sqlalchemy.exc import OperationalError

from cityops.config import CityOpsConfig
from dispatch.admission import admit
from dispatch.intake import Intake
from dispatch.outbox import flush_outbox
from dispatch.store import open_store
from gis.default import load_grid
from streams.bus import GroupConsumer, connect
from streams.schemas import DETECTIONS, Detection, Message, encode

log = logging.getLogger(__name__)
GROUP = "dispatch"


class DispatchService:
    def __init__(self, cfg: CityOpsConfig, redis_url: str, consumer: str | None = None) -> None:
        self.cfg = cfg
        self.r = connect(redis_url)
        self.engine, self.sessions = open_store(cfg.store_url)
        self.intake = Intake(cfg, load_grid(cfg.grid, cfg.data), self.sessions)
        self.commands = self.intake.commands
        self._last_sweep = -1e9
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

    def publish_events(self) -> int:
        """After each batch: check SLA deadlines when due, then publish what was stored.

        A store that is locked or whose connection was cut is waited for, not fatal: the events stay
        in the outbox and the sweep is due again, both retried after the next batch."""
        now = time.monotonic()
        try:
            if now - self._last_sweep >= self.cfg.dispatch.sla_sweep_s:
                for incident_id, stage in self.commands.sweep_sla():
                    log.warning("incident %s breached its %s SLA; escalated", incident_id, stage)
                self._last_sweep = now
            return flush_outbox(self.sessions, self.r, maxlen=self.cfg.redis.stream_maxlen)
        except OperationalError as exc:
            log.warning("store unavailable (%s); events kept in the outbox, retrying", exc.orig or exc)
            time.sleep(0.5)
            return 0

    def step(self, block_ms: int | None = None) -> int:
        """Consume one batch, then publish what it stored; returns messages handled."""
        n = self.consumer.poll_once(block_ms)
        self.publish_events()
        return n

    def run(self, stop: threading.Event) -> None:
        try:
            self.consumer.run(stop)
        finally:
            self.engine.dispose()
