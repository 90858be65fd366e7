"""Login throttling: failed attempts counted per account and per client address in Redis (shared by
every API process), a fixed window each; over the limit, logins are refused with 429 and Retry-After.

An attempt is counted *before* the password is checked and given back when it succeeds, so a flood of
concurrent guesses gets exactly the allowed number of password checks, not one per thread in flight.
A successful login clears its account's count and gives back its own attempt to the address's count:
it never clears the address's failures against other accounts.

Redis unavailable: the counts fall back to this process's memory (logged once), so logins keep working
during a Redis outage and guessing is still throttled per API process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis

log = logging.getLogger("cityops.api.login")
PREFIX = "cityops:login:fail"


@dataclass
class Verdict:
    allowed: bool
    retry_after: int = 0
    reason: str = ""


class LoginThrottle:
    def __init__(self, r: redis.Redis, per_account: int, per_address: int, window_s: int) -> None:
        self.r, self.window_s = r, window_s
        self.limits = {"account": per_account, "address": per_address}
        self._local: dict[str, tuple[float, int]] = {}  # key -> (window end, count), Redis away
        self._lock = threading.Lock()
        self._redis_down = False

    def _keys(self, username: str, address: str) -> dict[str, str]:
        return {"account": f"{PREFIX}:account:{username}", "address": f"{PREFIX}:address:{address}"}

    # -- counting (Redis, else process memory) ------------------------------------------------------
    def _incr(self, keys: list[str]) -> list[tuple[int, int]]:
        """Count one attempt on each key: [(count, seconds left in its window)]."""
        try:
            pipe = self.r.pipeline()
            for k in keys:
                pipe.incr(k)
                pipe.expire(k, self.window_s, nx=True)
                pipe.ttl(k)
            res = pipe.execute()
            if self._redis_down:
                self._redis_down = False
                log.warning("login throttle: Redis is back; counting failed logins there again")
            return [(res[i * 3], max(int(res[i * 3 + 2]), 1)) for i in range(len(keys))]
        except redis.RedisError as exc:
            if not self._redis_down:
                self._redis_down = True
                log.warning("login throttle: Redis unavailable (%s); counting in this process only", exc)
            return self._incr_local(keys)

    def _incr_local(self, keys: list[str]) -> list[tuple[int, int]]:
        now, out = time.monotonic(), []
        with self._lock:
            if len(self._local) > 100_000:
                self._local = {k: v for k, v in self._local.items() if v[0] > now}
            for k in keys:
                end, n = self._local.get(k, (0.0, 0))
                if end <= now:
                    end, n = now + self.window_s, 0
                self._local[k] = (end, n + 1)
                out.append((n + 1, max(int(end - now), 1)))
        return out

    def _forgive(self, account_key: str, address_key: str) -> None:
        try:
            pipe = self.r.pipeline()
            pipe.delete(account_key)
            pipe.decr(address_key)
            pipe.expire(address_key, self.window_s, nx=True)  # never an immortal key, even at a window's end
            pipe.execute()
        except redis.RedisError:
            with self._lock:
                self._local.pop(account_key, None)
                end, n = self._local.get(address_key, (0.0, 0))
                if n > 0:
                    self._local[address_key] = (end, n - 1)

    # -- the API ------------------------------------------------------------------------------------
    def attempt(self, username: str, address: str) -> Verdict:
        """Count a login attempt; refuse it when the account or the address is over its limit."""
        keys = self._keys(username, address)
        counts = dict(zip(keys, self._incr(list(keys.values())), strict=True))
        over = [(kind, counts[kind][1]) for kind in keys if counts[kind][0] > self.limits[kind]]
        if not over:
            return Verdict(True)
        kind, retry = max(over, key=lambda o: o[1])
        for k, left in over:
            if counts[k][0] == self.limits[k] + 1:  # log the crossing, not every refused retry
                what = f"account {username!r}" if k == "account" else f"address {address}"
                log.warning(
                    "login throttled: %s had %d failed logins within %d s (last from %s for %r); "
                    "refusing its logins for %d s",
                    what, self.limits[k], self.window_s, address, username, left,
                )  # fmt: skip
        who = "this account" if kind == "account" else "your address"
        return Verdict(False, retry, f"too many failed logins for {who}; try again in {retry} s")

    def succeeded(self, username: str, address: str) -> None:
        """The password was right: the account's count starts again, and the address gives back this
        one attempt (its failures against other accounts stay counted)."""
        keys = self._keys(username, address)
        self._forgive(keys["account"], keys["address"])

    def failed(self, username: str, address: str) -> None:
        log.info("failed login for account %r from %s", username, address)
