"""The ``cityops iot`` bridge: MQTT alarms -> typed detections on "cityops:detections".

It subscribes to ``cityops/devices/+/alarm`` and ``cityops/devices/+/heartbeat`` with QoS 1 on a
persistent session (``clean_session=False`` under a fixed client id) and acknowledges a message only
once what it became is in Redis (XADD, then ``WAITAOF`` where the server can say it is on disk):
a bridge killed mid-burst gets every unacknowledged alarm again from the broker when it is back, and
dispatch stores a repeated one once (the detection id is the device's message id).

A bad payload (not JSON, unknown kind or device, too large, a device id that is not the topic's)
is refused with the reason in the log and in the dead-letter stream; the bridge goes on. A second
thread watches heartbeats: a device silent longer than its ``heartbeat_s`` raises one low-severity
"device offline" finding per silence.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import redis
from paho.mqtt import client as mqtt

from cityops.config import CityOpsConfig
from iot import devices as registry
from iot.alarms import AlarmRefused, DeviceInfo, check_device, offline_detection, parse_alarm, to_detection
from iot.kinds import ALARM_TOPIC, HEARTBEAT_TOPIC, TOPIC_PREFIX
from streams.bus import connect
from streams.errors import Outage, is_transient
from streams.schemas import DEAD_LETTERS, DETECTIONS, DEVICE_HEALTH, Detection, DeviceHealth, encode

log = logging.getLogger(__name__)
STATES = "cityops:iot:state"  # hash: device id -> ok | alarm | offline (what the board's layer shows)
SEEN = "cityops:iot:seen"  # hash: device id -> last contact (ISO), or registration as the bridge saw it
OFFLINE = "cityops:iot:offline"  # hash: device id -> the last contact its offline finding was for
DEAD_PAYLOAD_BYTES = 2048


@dataclass
class Inbound:
    mid: int
    qos: int
    topic: str
    payload: bytes
    at: datetime


@dataclass
class Stats:
    received: int = 0
    published: int = 0
    refused: int = 0
    heartbeats: int = 0
    offline: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def mqtt_params(url: str, cfg: CityOpsConfig) -> dict:
    """Host, port, TLS and login from ``url`` and the ``iot`` section (the URL's login wins)."""
    import os

    u = urlsplit(url)
    tls = u.scheme == "mqtts"
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or (8883 if tls else 1883),
        "tls": tls,
        "username": unquote(u.username) if u.username else cfg.iot.username,
        "password": unquote(u.password)
        if u.password
        else (cfg.iot.password or os.environ.get("CITYOPS_MQTT_PASSWORD")),
    }


def make_client(client_id: str, params: dict, ca_file: str | None = None, *, persistent: bool = True):
    """A paho-mqtt 2.x client (MQTT 3.1.1) set up for ``params``; not yet connected."""
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=persistent,
    )
    c.max_queued_messages_set(0)
    c.max_inflight_messages_set(1000)
    c.reconnect_delay_set(0.2, 5)
    if params["username"]:
        c.username_pw_set(params["username"], params["password"])
    if params["tls"]:
        c.tls_set(ca_certs=ca_file)
    return c


class Bridge:
    def __init__(self, cfg: CityOpsConfig, redis_url: str, mqtt_url: str) -> None:
        from dispatch.store import open_store

        self.cfg = cfg
        self.r = connect(redis_url)
        self.engine, self.sessions = open_store(cfg.store_url, pool_size=2, max_overflow=2)
        self.params = mqtt_params(mqtt_url, cfg)
        self.inbox: queue.Queue[Inbound] = queue.Queue()
        self.stats = Stats()
        self.devices: dict[str, DeviceInfo] = {}
        self.states: dict[str, str] = {}  # device id -> ok | alarm | offline (kept in Redis: STATES)
        self._loaded_at = 0.0
        self.waitaof = True
        self.outage = Outage(log, f"iot bridge: sending to {DETECTIONS}")
        self.connected = threading.Event()
        self.client = make_client(cfg.iot.client_id, self.params, cfg.iot.ca_file)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # -- MQTT callbacks (the network thread: keep them short) ------------------------------------------
    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        client.subscribe([(ALARM_TOPIC, 1), (HEARTBEAT_TOPIC, 1)])
        log.info(
            "connected to the broker %s:%s (session %s); subscribed to %s and %s",
            self.params["host"],
            self.params["port"],
            "resumed" if flags.session_present else "new",
            ALARM_TOPIC,
            HEARTBEAT_TOPIC,
        )

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error("the broker refused the subscription: %s", reason_codes)
            return
        self.connected.set()  # subscribed: from now on the broker keeps every alarm for us

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.connected.clear()
        log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, _client, _userdata, msg) -> None:
        self.inbox.put(Inbound(msg.mid, msg.qos, msg.topic, bytes(msg.payload), datetime.now(UTC)))

    # -- the registry --------------------------------------------------------------------------------
    def reload_devices(self, *, min_age_s: float = 2.0) -> None:
        if time.monotonic() - self._loaded_at < min_age_s:
            return
        self.devices = registry.load(self.sessions)
        self._loaded_at = time.monotonic()

    def device(self, device_id: str) -> DeviceInfo | None:
        dev = self.devices.get(device_id)
        if dev is None:  # added since the last load? (at most one reload per 2 s)
            self.reload_devices()
            dev = self.devices.get(device_id)
        return dev

    # -- turning messages into detections ---------------------------------------------------------------
    def translate(
        self, items: list[Inbound]
    ) -> tuple[list[Detection], list[dict], dict[str, str], dict[str, str]]:
        """Detections, dead letters, last contact per device and device state changes."""
        dets, dead, seen, changes = [], [], {}, {}
        for it in items:
            parts = it.topic.split("/")
            prefix, leaf = "/".join(parts[:-2]), parts[-1]
            topic_device = parts[-2] if len(parts) >= 3 else ""
            if prefix != TOPIC_PREFIX or leaf not in ("alarm", "heartbeat"):
                continue  # not ours (a broker-side ACL or a wildcard mistake); nothing to do
            if leaf == "heartbeat":
                self.stats.heartbeats += 1
                if self.device(topic_device):
                    seen[topic_device] = it.at.isoformat()
                    if self.states.get(topic_device) == "offline":
                        changes[topic_device] = "ok"
                continue
            self.stats.received += 1
            try:
                alarm = parse_alarm(
                    it.payload, max_bytes=self.cfg.iot.max_payload_bytes, topic_device=topic_device
                )
                dev = check_device(alarm, self.device(alarm.device_id))
                dets.append(to_detection(alarm, dev))
                seen[dev.id] = it.at.isoformat()
                changes[dev.id] = "alarm" if alarm.state == "alarm" else "ok"
            except AlarmRefused as exc:
                reason = str(exc)
                self.stats.refused += 1
                key = reason.split(" (")[0].split(":")[0]
                self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
                log.warning("refused alarm on %s (%d bytes): %s", it.topic[:200], len(it.payload), reason)
                body = it.payload[:DEAD_PAYLOAD_BYTES]
                dead.append(
                    {
                        "stream": "mqtt",
                        "entry": it.topic[:200],
                        "error": f"refused: {reason}",
                        "f_payload": body
                        if len(it.payload) <= DEAD_PAYLOAD_BYTES
                        else f"<{len(it.payload)} bytes>",
                    }
                )
        return dets, dead, seen, {d: st for d, st in changes.items() if self.states.get(d) != st}

    def health(self, device_ids, states: dict[str, str]) -> list[DeviceHealth]:
        out = []
        for d in device_ids:
            dev = self.devices.get(d)
            if dev is not None:
                out.append(DeviceHealth(device_id=d, device_kind=dev.kind, lon=dev.lon, lat=dev.lat,
                                        state=states.get(d, "ok")))  # fmt: skip
        return out

    def send(
        self,
        dets: list[Detection],
        dead: list[dict] = (),
        seen: dict[str, str] | None = None,
        changes: dict[str, str] | None = None,
    ) -> None:
        """XADD everything in one round trip and wait until Redis has it on disk (WAITAOF, where the
        server can say so); raises on failure (the caller keeps the MQTT messages unacknowledged)."""
        if not (dets or dead or seen or changes):
            return
        maxlen = self.cfg.redis.stream_maxlen
        pipe = self.r.pipeline(transaction=False)
        for d in dets:
            pipe.xadd(DETECTIONS, encode(d), maxlen=maxlen, approximate=True)
        for f in dead:
            pipe.xadd(DEAD_LETTERS, f, maxlen=self.cfg.redis.dead_letter_maxlen, approximate=True)
        if seen:
            pipe.hset(SEEN, mapping=seen)
        news = self.health(changes or {}, changes or {})
        for h in news:
            pipe.xadd(DEVICE_HEALTH, encode(h), maxlen=self.cfg.redis.health_maxlen, approximate=True)
        if news:
            pipe.hset(STATES, mapping={h.device_id: h.state for h in news})
        if self.waitaof:
            pipe.execute_command("WAITAOF", 1, 0, self.cfg.vision.confirm_timeout_ms)
        res = pipe.execute(raise_on_error=False)
        n = len(dets) + len(dead) + (1 if seen else 0) + (len(news) + 1 if news else 0)
        errors = [e for e in res[:n] if isinstance(e, Exception)]
        if errors:
            raise errors[0]
        if self.waitaof:
            ack = res[-1]
            if isinstance(ack, Exception):
                text = str(ack).lower()
                if "unknown command" in text or "appendonly" in text or "permission" in text:
                    log.warning(
                        "Redis cannot confirm durability (%s); alarms count as kept once accepted", ack
                    )
                    self.waitaof = False
                else:
                    raise ack
            elif int(ack[0]) < 1:
                raise redis.ResponseError("NOTREADY the append-only file was not fsync'd in time")
        self.stats.published += len(dets)
        self.states.update({h.device_id: h.state for h in news})

    def _send_until_done(self, stop: threading.Event, dets, dead, seen, changes) -> bool:
        delay = 0.2
        while True:
            try:
                self.send(dets, dead, seen, changes)
                self.outage.ok()
                return True
            except redis.RedisError as exc:
                if is_transient(exc):
                    self.outage.failed(exc)
                else:
                    log.error("cannot send to %s (%s); alarms stay unacknowledged, retrying", DETECTIONS, exc)
            if stop.wait(delay):
                return False
            delay = min(delay * 2, 5.0)

    def step(self, stop: threading.Event, max_batch: int = 500) -> int:
        """Take what arrived (waiting up to 0.5 s for the first), publish it, then acknowledge it."""
        try:
            items = [self.inbox.get(timeout=0.5)]
        except queue.Empty:
            return 0
        while len(items) < max_batch:
            try:
                items.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        dets, dead, seen, changes = self.translate(items)
        if not self._send_until_done(stop, dets, dead, seen, changes):
            return 0  # stopping: not acknowledged, the broker sends them again to the next bridge
        for it in items:
            if it.qos > 0:
                self.client.ack(it.mid, it.qos)
        return len(items)

    # -- heartbeats ------------------------------------------------------------------------------------
    def check_offline(self, now: datetime | None = None) -> list[Detection]:
        """One 'device offline' detection per device silent past its heartbeat (once per silence)."""
        now = now or datetime.now(UTC)
        self.reload_devices(min_age_s=0)
        watched = [d for d in self.devices.values() if d.heartbeat_s > 0]
        if not watched:
            return []
        for d in watched:  # first sight of a device: its silence counts from now
            self.r.hsetnx(SEEN, d.id, now.isoformat())
        seen = self.r.hgetall(SEEN)
        reported = self.r.hgetall(OFFLINE)
        out = []
        for d in watched:
            raw = seen.get(d.id.encode()) or seen.get(d.id)
            last = datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
            if (now - last).total_seconds() <= d.heartbeat_s:
                continue
            mark = str(int(last.timestamp()))
            done = reported.get(d.id.encode()) or reported.get(d.id)
            if done is not None and (done.decode() if isinstance(done, bytes) else done) == mark:
                continue
            out.append(offline_detection(d, last, now))
            log.warning(
                "device %s silent since %s (heartbeat %d s): offline", d.id, last.isoformat(), d.heartbeat_s
            )
        if out:
            self.send(out, changes={det.device_id: "offline" for det in out})
            self.r.hset(OFFLINE, mapping={det.device_id: det.id.rsplit(":", 1)[1] for det in out})
            self.stats.offline += len(out)
        return out

    def publish_snapshot(self) -> int:
        """Every registered device's state on the device-health stream (a board that starts later,
        or after the stream was trimmed, learns them all)."""
        self.reload_devices(min_age_s=0)
        self.states = {**{d: "ok" for d in self.devices}, **self.r.hgetall(STATES)}
        news = self.health(sorted(self.devices), self.states)
        for k in range(0, len(news), 1000):
            pipe = self.r.pipeline(transaction=False)
            for h in news[k : k + 1000]:
                pipe.xadd(DEVICE_HEALTH, encode(h), maxlen=self.cfg.redis.health_maxlen, approximate=True)
            pipe.execute()
        return len(news)

    def _watch(self, stop: threading.Event) -> None:
        snapshot = 0.0
        while True:
            try:
                if time.monotonic() - snapshot > 300:
                    snapshot = time.monotonic()
                    self.publish_snapshot()
                self.check_offline()
            except Exception as exc:  # a Redis or store outage: try again at the next check
                log.warning(
                    "heartbeat check failed (%s); trying again in %.0f s", exc, self.cfg.iot.offline_check_s
                )
            if stop.wait(self.cfg.iot.offline_check_s):
                return

    # -- run -------------------------------------------------------------------------------------------
    def start(self) -> Bridge:
        self.reload_devices(min_age_s=0)
        self.client.connect_async(self.params["host"], self.params["port"], keepalive=30)
        self.client.loop_start()
        return self

    def run(self, stop: threading.Event) -> None:
        self.start()
        log.info("iot bridge: %d device(s) registered", len(self.devices))
        watcher = threading.Thread(target=self._watch, args=(stop,), name="iot-heartbeats", daemon=True)
        watcher.start()
        last_report = time.monotonic()
        try:
            while not stop.is_set():
                self.step(stop)
                if time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    s = self.stats
                    log.info(
                        "alarms received %d, published %d, refused %d %s; heartbeats %d; offline %d",
                        s.received, s.published, s.refused, s.reasons or "", s.heartbeats, s.offline,
                    )  # fmt: skip
        finally:
            self.close()

    def close(self) -> None:
        self.client.loop_stop()
        try:
            self.client.disconnect()
        except Exception:  # already gone
            pass
        self.engine.dispose()
        self.r.close()
