"""Who is calling: the client address behind trusted proxies (X-Forwarded-For, walked from the right).

A proxy is trusted when its address is configured (``dispatch.trusted_proxies``: a reverse proxy in
front of the API) or when it sends the board's proxy key (:data:`PROXY_HEADER`, derived from the
secret the API and the board share). The board therefore needs no trusted address: a local process
that is not the board cannot choose the address it is counted as, even from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PROXY_HEADER = "X-CityOps-Proxy"
BOARD_HEADER = "X-CityOps-Board"  # the board's key for its snapshot (dispatch.api.board_feed)


def proxy_key(secret: str) -> str:
    """The key the board sends with the addresses it forwards (not the secret itself)."""
    return hmac.new(secret.encode(), b"cityops board proxy v1", hashlib.sha256).hexdigest()


def board_key(secret: str) -> str:
    """The key the board sends to read its snapshot of open work (not the secret itself)."""
    return hmac.new(secret.encode(), b"cityops board snapshot v1", hashlib.sha256).hexdigest()


@lru_cache(maxsize=32)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Addresses and CIDRs (validated by the config model) as networks."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _trusted(addr: str, trusted: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False  # not an address (a test client, garbage in the header): never a proxy
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in trusted)


def client_address(request: Request, trusted: Iterable[Network], key: str | None = None) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy (by address, or by sending
    ``key`` in :data:`PROXY_HEADER`); then the rightmost address in ``X-Forwarded-For`` that is not a
    trusted proxy. Entries left of that one were written by the client (anyone can send
    ``X-Forwarded-For: 10.9.8.7``) and are never used."""
    trusted = tuple(trusted)
    peer = request.client.host if request.client else "unknown"
    sent = request.headers.get(PROXY_HEADER, "")
    by_key = bool(key) and hmac.compare_digest(sent.encode(), key.encode())
    if not by_key and not _trusted(peer, trusted):
        return peer
    chain = [a.strip() for h in request.headers.getlist("x-forwarded-for") for a in h.split(",")]
    chain = [a for a in chain if a]
    addr = peer
    for hop in reversed(chain):
        addr = hop[:64]
        if not _trusted(addr, trusted):
            break
    return addr
