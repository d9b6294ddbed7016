"""Where the backend lets an egress push: the destination policy.

Only ``rtmp://`` and ``rtmps://`` URLs of bounded length, with a host and an application path,
no user info and no control characters. The host is resolved, and every address it resolves to
must be a public one: loopback, private, link-local, multicast, reserved and unspecified
addresses are refused unless the host (or ``host:port``) is listed in the service's config
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

from backend.contract import ApiError

MAX_URL_CHARS = 1024
"""No ingest URL is longer (YouTube's and Twitch's are under 120 characters with the key)."""
URL_PATTERN = r"rtmps?://[A-Za-z0-9.:\[\]-]+/[!-~]+"
"""The shape of a custom destination URL (the schema's pattern; the policy checks more)."""
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
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise _refuse(where, REFUSED_WORDS)
