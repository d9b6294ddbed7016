"""Where a program goes: RTMP/RTMPS destinations, their checks, and keeping keys out of words.

A destination is a server URL (the platform's ingest) plus a stream key kept apart from it, so
that the URL can be logged, saved and shown while the key lives only in the OS keyring and in
the one string handed to the muxer. Every message built here masks the key.
"""

from __future__ import annotations

import enum
import os
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

from desktop.media.errors import MediaError, MediaErrorCode
from spaces_contract.platforms import YOUTUBE, platform

DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}
PREFLIGHT_TIMEOUT_S = 5.0

_KEY_SAFE = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%/?-]+$")


class DestinationKind(enum.Enum):
    """Which platform a destination is, for its preset URL and its wording."""

    YOUTUBE = "youtube"
    TWITCH = "twitch"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        """The name a producer knows it by (the shared platform table's label)."""
        known = platform(self.value)
        return known.label if known is not None else "Custom RTMP"

    def preset_url(self) -> str:
        """The ingest URL of the preset: from the environment if set, else the platform's own.

        Both come from the one platform table (:mod:`spaces_contract.platforms`) the backend
        uses too: ``YOUTUBE_RTMP_URL`` and ``TWITCH_RTMP_URL`` point the presets elsewhere (a
        regional ingest, or a local server in tests). Custom destinations have no preset.
        """
        known = platform(self.value)
        return known.ingest_url() if known is not None else ""


@dataclass(frozen=True, slots=True)
class Destination:
    """A saved place to stream to. The stream key is not part of it (see the keyring)."""

    id: str
    """Stable id (``youtube``, ``twitch``, ``custom-1``…), also the keyring entry's name."""
    name: str
    """What the producer calls it."""
    kind: DestinationKind
    """Platform preset or custom."""
    url: str
    """Ingest URL without the key (``rtmp://host/app``); a custom URL may hold the key itself."""
    enabled: bool = True
    """Switched on: goes live with "Go Live" and stays on until switched off."""

    @property
    def needs_key(self) -> bool:
        """Platforms need a key (as their table row says); a custom URL may carry its stream
        name in its path."""
        known = platform(self.kind.value)
        return known.key_needed if known is not None else False


def mask_key(key: str) -> str:
    """Show that a key is set without showing it: ``••••ab12``."""
    if not key:
        return ""
    return "••••" + key[-4:] if len(key) > 8 else "••••"


def mask_url(url: str) -> str:
    """A URL safe for logs and messages: user info dropped, the stream-name segment masked.

    RTMP URLs carry the key as their last path segment (``rtmp://host/app/KEY``), so everything
    after the application name is replaced.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "<malformed URL>"
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    segments = [s for s in parts.path.split("/") if s]
    path = "/" + segments[0] if segments else ""
    if len(segments) > 1 or parts.query:
        path += "/••••"
    return f"{parts.scheme}://{host}{path}"


@dataclass(frozen=True, slots=True)
class RtmpTarget:
    """A checked RTMP URL split into what a connection needs."""

    scheme: str
    """``rtmp`` or ``rtmps``."""
    host: str
    """Host name or address."""
    port: int
    """TCP port (1935 for rtmp, 443 for rtmps unless given)."""
    publish_url: str
    """The full URL handed to the muxer, key included: never log it."""

    @property
    def masked(self) -> str:
        """The URL for words and logs."""
        return mask_url(self.publish_url)


def rtmp_target(url: str, key: str = "", *, key_required: bool = False) -> RtmpTarget:
    """Check an ingest URL and key and join them into the URL to publish to.

    Raises:
        MediaError: ``INVALID_ARGUMENT`` naming what is wrong with the URL or key (the key is
            never quoted back).
    """
    url = url.strip()
    key = key.strip()
    shown = mask_url(url) if url else "destination"
    if not url:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, "destination", "no server URL",
            "paste the RTMP server URL from the platform's stream settings",
        )  # fmt: skip
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, shown, "the URL is malformed (bad host or port)",
            "it should look like rtmp://host/app",
        ) from None  # fmt: skip
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        what = f"'{scheme}://'" if scheme else "no scheme"
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, shown,
            f"{what} is not a streaming URL; only rtmp:// and rtmps:// are supported",
            "copy the RTMP server URL from the platform (it starts with rtmp:// or rtmps://)",
        )  # fmt: skip
    if not parts.hostname:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, shown, "the URL has no host",
            "it should look like rtmp://host/app",
        )  # fmt: skip
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, shown, "the URL has no application path",
            f"it should look like rtmp://host/app (YouTube: {YOUTUBE.default_url})",
        )  # fmt: skip
    if key and (any(c.isspace() for c in key) or not _KEY_SAFE.match(key)):
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, shown,
            "the stream key has characters a key cannot have",
            "copy the key again from the platform, without spaces",
        )  # fmt: skip
    if not key and (key_required or len(segments) < 2):
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, shown, "the stream key is empty",
            "paste the stream key from the platform's stream settings",
        )  # fmt: skip
    publish_url = url.rstrip("/") + "/" + key if key else url
    return RtmpTarget(scheme, parts.hostname, port or DEFAULT_PORTS[scheme], publish_url)


RTMP_VERSION = 3
"""The only RTMP version servers speak (the handshake's first byte)."""
HANDSHAKE_SIZE = 1536


def preflight(target: RtmpTarget, timeout_s: float = PREFLIGHT_TIMEOUT_S,
              answer_timeout_s: float | None = None) -> None:  # fmt: skip
    """Check that the host resolves, accepts a TCP connection and answers an RTMP handshake.

    The handshake matters: FFmpeg's RTMP client waits without a timeout (and, under PyAV,
    while holding Python's GIL) for a server that takes the connection and stays silent, so
    such a server is found here, where waiting is bounded. Blocking; run it off the event loop.

    Args:
        target: Where to publish.
        timeout_s: For the TCP connection.
        answer_timeout_s: For the handshake's answer (default: ``timeout_s``).

    Raises:
        MediaError: ``OUTPUT_FAILED`` saying whether the name did not resolve, the port was
            refused, nothing answered in time, or what answered is not an RTMP server.
    """
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise MediaError(
            MediaErrorCode.OUTPUT_FAILED, target.masked,
            f"the server name {target.host!r} does not resolve",
            "check the URL for typos and that this computer is online",
        ) from None  # fmt: skip
    last: OSError | None = None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(address)
            except OSError as error:
                last = error
                continue
            _check_handshake(sock, target, answer_timeout_s or timeout_s)
            return
    if isinstance(last, ConnectionRefusedError):
        detail = f"{target.host} refused the connection on port {target.port}"
    elif isinstance(last, TimeoutError | socket.timeout):
        detail = f"{target.host} did not answer on port {target.port} within {timeout_s:g} s"
    else:
        detail = f"{target.host} cannot be reached on port {target.port}"
    raise MediaError(
        MediaErrorCode.OUTPUT_FAILED, target.masked, detail,
        "check the URL and port, and that a firewall does not block streaming",
    )  # fmt: skip


def _check_handshake(sock: socket.socket, target: RtmpTarget, timeout_s: float) -> None:
    """Send C0+C1 and read S0+S1: a live RTMP server answers at once (then we hang up)."""

    def not_rtmp(detail: str) -> MediaError:
        return MediaError(
            MediaErrorCode.OUTPUT_FAILED, target.masked, detail,
            "check that the URL is the platform's RTMP ingest (host, port and application)",
        )  # fmt: skip

    sock.settimeout(timeout_s)
    stream: socket.socket = sock
    try:
        if target.scheme == "rtmps":
            # Only liveness is checked here; FFmpeg makes the real TLS connection itself.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            stream = context.wrap_socket(sock, server_hostname=target.host)
        stream.sendall(bytes([RTMP_VERSION]) + bytes(8) + os.urandom(HANDSHAKE_SIZE - 8))
        answer = b""
        while len(answer) < 1 + HANDSHAKE_SIZE:
            chunk = stream.recv(1 + HANDSHAKE_SIZE - len(answer))
            if not chunk:
                break
            answer += chunk
    except TimeoutError:
        raise not_rtmp(
            f"{target.host} took the connection on port {target.port} but did not answer as an "
            f"RTMP server within {timeout_s:g} s"
        ) from None
    except ssl.SSLError as error:
        raise not_rtmp(f"the secure (RTMPS) connection failed ({error.reason or error})") from None
    except OSError as error:
        raise not_rtmp(f"the connection closed during the RTMP handshake ({error})") from None
    if len(answer) < 1 + HANDSHAKE_SIZE or answer[0] != RTMP_VERSION:
        raise not_rtmp(f"what answers on {target.host} port {target.port} is not an RTMP server")
