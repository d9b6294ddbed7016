"""Several LiveKit nodes behind one setting: ``LIVEKIT_URL`` may list them, comma-separated.

A LiveKit cluster is several ``livekit-server`` nodes sharing one Redis. Usually a load balancer
puts them behind a single URL; where there is none (or to survive the balancer itself), the host
names the nodes: ``wss://a.example.com,wss://b.example.com``. Joining (and every rejoin after a
lost connection) tries them in that order and stays with the first that lets the host in. When
the node holding the room goes down, the next node takes the room over, so the session's rejoin
lands there.
"""

from __future__ import annotations

import logging

from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.room_session import DEFAULT_CONNECT_TIMEOUT_S, RoomSession

logger = logging.getLogger(__name__)

# Refusals that another node would repeat: trying the next one only delays the real message.
_SAME_EVERYWHERE = (SessionErrorCode.BAD_URL, SessionErrorCode.TOKEN_REFUSED)


def split_urls(value: str) -> tuple[str, ...]:
    """The node URLs in a ``LIVEKIT_URL``-style setting (one URL, or several comma-separated)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


async def connect_first(
    session: RoomSession,
    urls: str | tuple[str, ...],
    token: str,
    timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> str:
    """Join through the first node that lets the host in, trying them in order.

    Args:
        session: The session to connect (closed again after each failed try).
        urls: One URL, a comma-separated list, or a tuple of URLs.
        token: The access token (every node of a cluster accepts the same one).
        timeout_s: The timeout for each node.

    Returns:
        The URL the session joined through.

    Raises:
        SessionError: No node let the host in; the error of the last node tried, naming every
            node, or at once a refusal every node would repeat (a bad token or URL).
    """
    nodes = split_urls(urls) if isinstance(urls, str) else urls
    if not nodes:
        raise SessionError(
            SessionErrorCode.BAD_URL, "no LiveKit server URL", "set LIVEKIT_URL or pass --url"
        )
    failure: SessionError | None = None
    for url in nodes:
        try:
            await session.connect(url, token, timeout_s)
        except SessionError as error:
            if error.code in _SAME_EVERYWHERE or len(nodes) == 1:
                raise
            logger.warning("node %s did not let us in (%s); trying the next", url, error.detail)
            failure = error
            await session.aclose()
            continue
        return url
    assert failure is not None
    raise SessionError(
        failure.code,
        f"none of the LiveKit nodes let us in ({', '.join(nodes)}); the last said: "
        f"{failure.detail}",
        failure.hint,
    )
