"""Who is calling: the client address behind trusted proxies (X-Forwarded-For, walked from the right)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def client_address(request: Request, trusted: Iterable[Network]) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy; then the rightmost address
    in ``X-Forwarded-For`` that is not a trusted proxy. Entries left of that one were written by the
    client (anyone can send ``X-Forwarded-For: 10.9.8.7``) and are never used."""
    trusted = tuple(trusted)
    peer = request.client.host if request.client else "unknown"
    if not _trusted(peer, trusted):
        return peer
    chain = [a.strip() for h in request.headers.getlist("x-forwarded-for") for a in h.split(",")]
    chain = [a for a in chain if a]
    addr = peer
    for hop in reversed(chain):
        addr = hop[:64]
        if not _trusted(addr, trusted):
            break
    return addr
