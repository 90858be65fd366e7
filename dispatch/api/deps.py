"""What every route needs: the context (config, store, commands, Redis), the caller, errors."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from pathlib import Path

import redis
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import sessionmaker

from cityops.config import CityOpsConfig
from dispatch.accounts import AccountCheck, AuthError, Tokens, load_secret
from dispatch.api.addresses import (
    PROXY_HEADER,
    Network,
    board_key,
    client_address,
    proxy_key,
    trusted_networks,
)
from dispatch.api.throttle import LoginThrottle
from dispatch.commands import Actor, Commands
from dispatch.intake import Intake
from dispatch.lifecycle import ADMIN, DESK
from dispatch.outbox import flush_or_wait
from gis.grid import OUTSIDE, Grid
from streams.errors import Outage

log = logging.getLogger(__name__)
_OUTBOX_OUTAGE = Outage(log, "API: incident events (kept in the outbox)")


@dataclass
class ApiContext:
    cfg: CityOpsConfig
    sessions: sessionmaker  # writes (through Commands and Intake)
    readers: sessionmaker  # queries
    grid: Grid
    r: redis.Redis
    commands: Commands
    intake: Intake
    tokens: Tokens
    data_dir: Path
    accounts: AccountCheck = field(init=False)
    login_throttle: LoginThrottle = field(init=False)
    trusted: tuple[Network, ...] = field(init=False)
    proxy_key: str = field(init=False)
    board_key: str = field(init=False)  # what the board sends for its snapshot (api.board_feed)

    def __post_init__(self) -> None:
        d = self.cfg.dispatch
        self.accounts = AccountCheck(self.readers, self.tokens, d.account_check_s)
        self.login_throttle = LoginThrottle(
            self.r, d.login_failures_per_account, d.login_failures_per_address, d.login_window_s
        )
        self.trusted = trusted_networks(tuple(d.trusted_proxies))
        secret = load_secret(self.data_dir)
        self.proxy_key = proxy_key(secret)
        self.board_key = board_key(secret)

    def client_address(self, request: Request) -> str:
        return client_address(request, self.trusted, self.proxy_key)

    def publish(self) -> None:
        """Send the events the last command stored (the outbox) to the incidents stream."""
        try:  # while Redis cannot take it, it stays in the outbox; dispatch publishes it later
            flush_or_wait(self.sessions, self.r, _OUTBOX_OUTAGE, maxlen=self.cfg.redis.stream_maxlen)
        except redis.RedisError as exc:  # the change is stored; the caller must not see a 500
            log.error("incident events not published (%s); they stay in the outbox", exc)

    def check_in_district(self, lon: float, lat: float) -> str:
        cell = self.grid.locate(lon, lat)
        if cell == OUTSIDE:
            raise HTTPException(422, f"the location ({lon:.6f}, {lat:.6f}) is outside the district")
        return cell


def ctx(request: Request) -> ApiContext:
    return request.app.state.ctx


_bearer = HTTPBearer(auto_error=False)


def current_actor(
    creds: HTTPAuthorizationCredentials | None = Depends(_bearer), c: ApiContext = Depends(ctx)
) -> Actor:
    if creds is None:
        raise HTTPException(
            401, "log in first: send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        return c.accounts.actor(creds.credentials)
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


def admin_actor(actor: Actor = Depends(current_actor)) -> Actor:
    if actor.role != ADMIN:
        raise HTTPException(403, f"this needs an admin account, not {actor.role}")
    return actor


def desk_actor(actor: Actor = Depends(current_actor)) -> Actor:
    if actor.role not in DESK:
        raise HTTPException(403, f"this needs an operator, supervisor or admin account, not {actor.role}")
    return actor


def desk_or_board(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(_bearer),
    c: ApiContext = Depends(ctx),
) -> Actor | None:
    """A desk account, or the wall board itself (the key derived from the secret it shares with the
    API, :data:`PROXY_HEADER`): for the figures the board shows everyone in the room (综合评价)."""
    sent = request.headers.get(PROXY_HEADER, "")
    if creds is None and sent and hmac.compare_digest(sent.encode(), c.proxy_key.encode()):
        return None
    return desk_actor(current_actor(creds, c))


def citizen_rate_limit(request: Request, c: ApiContext = Depends(ctx)) -> None:
    """A fixed window (``dispatch.citizen_rate_window_s``) per client address, counted in Redis
    (shared by API instances)."""
    key = f"cityops:ratelimit:{c.client_address(request)}"
    try:
        pipe = c.r.pipeline()
        pipe.incr(key)
        pipe.expire(key, c.cfg.dispatch.citizen_rate_window_s, nx=True)
        count, _ = pipe.execute()
    except redis.RedisError:
        return  # fail open: reports matter more than the limit while Redis is away
    if count > c.cfg.dispatch.citizen_rate_per_min:
        raise HTTPException(
            429,
            "too many requests from this address; try again shortly",
            headers={"Retry-After": str(c.cfg.dispatch.citizen_rate_window_s)},
        )
