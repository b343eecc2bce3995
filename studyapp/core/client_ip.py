"""The address a request came from, seen through the proxies we trust.

`REMOTE_ADDR` is the direct peer. Only when that peer is one of `settings.TRUSTED_PROXIES`
(addresses or networks; default loopback, where nginx runs in front of uvicorn) do we read
X-Forwarded-For, from the right: each trusted proxy appended the address it saw, so the
first untrusted address from the right is the client. Anything further left was written
by the client itself and proves nothing. Without X-Forwarded-For, X-Real-IP (which nginx
sets to the peer it saw) is used the same way.

Note: uvicorn rewrites the peer from these headers itself when `--proxy-headers` is on
and the peer is in its `--forwarded-allow-ips`; then REMOTE_ADDR is already the client,
which is not a trusted proxy, and it is returned as it is.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """Parse the configured proxies ("127.0.0.1", "10.0.0.0/8", "::1"); fails loudly."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]" or "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(address, networks: Iterable[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_ip_from(meta: Mapping[str, str], proxies: Iterable[str]) -> str:
    """The client's address from request headers (`meta` is request.META); '' if unknown."""
    networks = trusted_networks(tuple(proxies))
    peer = _parse(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    if not _is_trusted(peer, networks):
        return str(peer)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "") or meta.get("HTTP_X_REAL_IP", "")
    nearest = peer  # the nearest address we know, as long as every hop so far is trusted
    for hop in reversed([h for h in forwarded.split(",") if h.strip()]):
        address = _parse(hop)
        if address is None:
            # A malformed hop: nothing to its left can be trusted; the proxy that passed
            # it on is the best we know.
            return str(nearest)
        if not _is_trusted(address, networks):
            return str(address)
        nearest = address
    # Every hop is one of our proxies (a request made from the proxy host itself).
    return str(nearest)


def client_ip(request: HttpRequest) -> str:
    """The client's address for `request` under settings.TRUSTED_PROXIES."""
    return client_ip_from(request.META, getattr(settings, "TRUSTED_PROXIES", ()))
