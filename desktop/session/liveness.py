"""Noticing a server that stopped answering, which the SDK does not notice for a long time.

The LiveKit SDK finds out about a lost server from its signalling pings (every 5 s, timing out
after 15 s: ``PingIntervalSeconds``/``PingTimeoutSeconds`` in livekit-server v1.13.5) or from
ICE failing (tens of seconds). A server frozen for 10 s (an overloaded host, a VM paused, a
``SIGSTOP``) passes unnoticed: measured here, the SDK stayed "connected" through the whole
freeze. Yet while the host publishes, the server answers every few hundred milliseconds
(RTCP receiver reports, congestion feedback), so the peer connection's received-packet counter
stops moving the moment the server does. :class:`SilenceDetector` turns that counter into a
verdict; :func:`watch` applies it to the session's state: ``reconnecting`` while the server is
silent, ``connected`` again as soon as packets arrive (unless the SDK itself is resuming).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.session.state import ConnectionState, StateStore
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")

logger = logging.getLogger(__name__)

SILENCE_LIMIT_S = 4.0
"""No packet from the server for this long while publishing: it is not answering."""
CHECK_INTERVAL_S = 0.5
"""How often the counter is read."""
STATS_TIMEOUT_S = 2.0
"""A read of the counter that takes longer counts as no reading."""


class Liveness(enum.Enum):
    """What the received-packet counter says about the server."""

    UNKNOWN = 1
    """Not enough samples, or nothing published (the server has nothing to answer)."""
    ANSWERING = 2
    """Packets arrived within the limit."""
    SILENT = 3
    """No packet for :data:`SILENCE_LIMIT_S` or longer."""


@dataclass
class SilenceDetector:
    """Follows a received-packet counter; pure, so it can be checked with plain numbers."""

    limit_s: float = SILENCE_LIMIT_S
    _packets: int = -1
    _changed_at_s: float = 0.0

    def observe(self, packets_received: int, now_s: float, publishing: bool) -> Liveness:
        """One reading of the counter at ``now_s`` (monotonic seconds)."""
        if not publishing:
            self._packets = -1
            return Liveness.UNKNOWN
        if packets_received != self._packets:
            first = self._packets < 0
            self._packets, self._changed_at_s = packets_received, now_s
            return Liveness.UNKNOWN if first else Liveness.ANSWERING
        if now_s - self._changed_at_s >= self.limit_s:
            return Liveness.SILENT
        return Liveness.ANSWERING


async def _packets_received(room: rtc.Room) -> int | None:
    try:
        # Bounded: a watcher stuck on one read would stop noticing a silent server at all.
        stats = await asyncio.wait_for(room.get_rtc_stats(), STATS_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a room closing mid-read is normal
        logger.debug("rtc stats: %r", exc)
        return None
    total = 0
    for report in [*stats.publisher_stats, *stats.subscriber_stats]:
        if report.WhichOneof("stats") == "transport":
            total += report.transport.transport.packets_received
    return total


def _publishing(room: rtc.Room) -> bool:
    # Muted tracks may send next to nothing, leaving the server nothing to answer.
    return any(not p.muted for p in room.local_participant.track_publications.values())


async def watch(room: rtc.Room, store: StateStore, clock: Callable[[], float]) -> None:
    """Keep ``store``'s connection truthful while ``room`` is open (run as a task; cancel it).

    Args:
        room: The SDK room.
        store: The session's state.
        clock: Monotonic seconds (the loop's clock).
    """
    detector = SilenceDetector()
    marked_silent = False
    while True:
        await asyncio.sleep(CHECK_INTERVAL_S)
        connection = store.state.connection
        if connection not in (ConnectionState.CONNECTED, ConnectionState.RECONNECTING):
            marked_silent = False
            continue
        if connection is ConnectionState.RECONNECTING and not marked_silent:
            continue  # the SDK is resuming; its own events bring the state back
        packets = await _packets_received(room)
        if packets is None:
            continue
        verdict = detector.observe(packets, clock(), _publishing(room))
        if verdict is Liveness.SILENT and connection is ConnectionState.CONNECTED:
            logger.warning("the server has not answered for %.0f s", detector.limit_s)
            marked_silent = True
            store.update(connection=ConnectionState.RECONNECTING)
        elif verdict is Liveness.ANSWERING and marked_silent:
            marked_silent = False
            if room.connection_state == rtc.ConnectionState.CONN_CONNECTED:
                logger.warning("the server answers again")
                store.update(connection=ConnectionState.CONNECTED)
