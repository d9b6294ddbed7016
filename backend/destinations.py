"""Where the backend lets an egress push: the destination policy.

Only ``rtmp://`` and ``rtmps://`` URLs of bounded length, with a host and an application path,
no user info and no control characters. The host is resolved, and every address it resolves to
must be a public one: loopback, private, link-local, site-local, multicast, reserved and
unspecified addresses are refused (an IPv6 form that embeds an IPv4 address, such as NAT64's
``64:ff9b::/96``, 6to4's ``2002::/16`` or ``::ffff:0:a.b.c.d``, is judged by that address)
unless the host (or ``host:port``) is listed in the service's config
(``BROADCASTER_RTMP_ALLOWED_HOSTS``), which is how a self-hosted ingest server is allowed.
Refusals are worded from the URL alone, never from a connection attempt, so the answer says
nothing about which ports of which hosts are open.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from collections.abc import Iterable

from spaces_contract.codec import ApiError
from spaces_contract.outputs import MAX_URL_CHARS

RESOLVE_TIMEOUT_S = 3.0
DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}
REFUSED_WORDS = (
    "its host is not a public address (loopback, private, link-local or multicast hosts are "
    "refused unless the operator lists them in BROADCASTER_RTMP_ALLOWED_HOSTS)"
)
FAILED_WORDS = "the destination did not take the stream; check its URL and stream key"
"""The only words a caller sees about a failed destination (never the egress's own error)."""


def normalise_allowed(entries: Iterable[str]) -> frozenset[str]:
    """``Host``, ``host:port`` and ``[v6]:port`` entries, lower-cased, brackets removed."""
    result: set[str] = set()
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            result.add(f"{host}{rest}" if rest.startswith(":") else host)
        else:
            result.add(entry)
    return frozenset(result)


def _refuse(where: str, words: str) -> ApiError:
    return ApiError(400, "destination_refused", f"{where}: {words}")


async def check_destination(
    url: str,
    where: str,
    allowed: frozenset[str],
    resolve_timeout_s: float = RESOLVE_TIMEOUT_S,
) -> None:
    """Refuse a URL the policy does not allow.

    Args:
        url: The full ``rtmp(s)://host[:port]/app/key`` URL.
        where: How to name it in the answer (``destinations[1]``).
        allowed: Hosts and ``host:port`` pairs the operator allows although not public.
        resolve_timeout_s: How long resolving the host may take.

    Raises:
        ApiError: 400 ``destination_refused`` with words that depend on the URL only.
    """
    if len(url) > MAX_URL_CHARS:
        raise _refuse(where, f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise _refuse(where, "the URL contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse(where, "the URL is not a valid rtmp:// or rtmps:// URL") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise _refuse(where, "only rtmp:// and rtmps:// URLs are supported")
    if parts.username is not None or parts.password is not None:
        raise _refuse(where, "user names and passwords in the URL are not supported")
    host = (parts.hostname or "").lower()
    if not host:
        raise _refuse(where, "the URL has no host")
    if len(parts.path.strip("/")) == 0:
        raise _refuse(where, "the URL needs an application path (rtmp://host/app/key)")
    port = port or DEFAULT_PORTS[parts.scheme]
    if port == 0:
        raise _refuse(where, "the URL's port is not valid")
    if host in allowed or f"{host}:{port}" in allowed:
        return
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), resolve_timeout_s
            )
        except (OSError, TimeoutError, UnicodeError):
            raise _refuse(where, "its host name could not be resolved") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if not is_public(address):
            raise _refuse(where, REFUSED_WORDS)


NAT64_NETWORKS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)
"""NAT64 prefixes (RFC 6052 well-known, RFC 8215 local-use): the last 32 bits are an IPv4
address the translator reaches."""
SIIT_NETWORK = ipaddress.IPv6Network("::ffff:0:0:0/96")
"""IPv4-translated addresses (RFC 2765, ``::ffff:0:a.b.c.d``)."""
COMPATIBLE_NETWORK = ipaddress.IPv6Network("::/96")
"""Deprecated IPv4-compatible addresses (``::a.b.c.d``)."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, translated, NAT64, compatible, 6to4).

    Python's ``is_global`` judges these by their IPv6 prefix, so ``[64:ff9b::a9fe:a9fe]`` (a
    NAT64 path to the link-local 169.254.169.254) reads as global: the embedded address is
    what a translator or tunnel on the egress host would reach.
    """
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in SIIT_NETWORK or any(address in net for net in NAT64_NETWORKS):
        return low
    if address in COMPATIBLE_NETWORK and int(address) > 1:  # not :: and ::1 themselves
        return low
    return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether egress may push to this address without the operator allowing it."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:  # fec0::/10: deprecated, but routed inside some sites
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast
