"""Camera leases in Redis, so several vision worker processes share the cameras.

A worker holds a camera while its lease key exists with the worker's id as value: taken with
``SET key id NX PX ttl``, renewed (compare-and-``PEXPIRE``) every third of the TTL, released
(compare-and-``DEL``) on a clean stop. A worker that dies stops renewing; its leases expire after
at most ``ttl`` and another worker takes the cameras on its next round. Each live worker also keeps
a heartbeat key, so the others know how many share the cameras (a fair share each).
"""

from __future__ import annotations

import os
import socket
import uuid

import redis

PREFIX = "cityops:vision"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def lease_key(camera_id: str) -> str:
    return f"{PREFIX}:lease:{camera_id}"


def fair_share(cameras: int, workers: int, cap: int = 0) -> int:
    """How many cameras one of ``workers`` live workers should hold (``cap`` > 0 bounds it)."""
    share = -(-cameras // max(1, workers))
    return min(share, cap) if cap else share


class Leases:
    def __init__(self, r: redis.Redis, worker_id: str, ttl_s: float) -> None:
        self.r, self.worker_id, self.ttl_ms = r, worker_id, int(ttl_s * 1000)
        self._renew = r.register_script(_RENEW)
        self._release = r.register_script(_RELEASE)

    def heartbeat(self) -> None:
        self.r.set(f"{PREFIX}:worker:{self.worker_id}", "1", px=self.ttl_ms)

    def live_workers(self) -> int:
        return max(1, sum(1 for _ in self.r.scan_iter(match=f"{PREFIX}:worker:*", count=1000)))

    def acquire(self, camera_id: str) -> bool:
        return bool(self.r.set(lease_key(camera_id), self.worker_id, nx=True, px=self.ttl_ms))

    def renew(self, camera_id: str) -> bool:
        return bool(self._renew(keys=[lease_key(camera_id)], args=[self.worker_id, self.ttl_ms]))

    def release(self, camera_id: str) -> None:
        self._release(keys=[lease_key(camera_id)], args=[self.worker_id])

    def holder(self, camera_id: str) -> str | None:
        v = self.r.get(lease_key(camera_id))
        return v.decode() if isinstance(v, bytes) else v

    def leave(self) -> None:
        self.r.delete(f"{PREFIX}:worker:{self.worker_id}")
