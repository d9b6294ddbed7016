"""The show's figures: time on air, the most people at once, the running costs, and the
summary the end-of-stream screen shows (with the platform's own figures where it has them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from desktop.media.frames import wall_clock_ms
from desktop.session.errors import SessionError
from desktop.session.room_events import DisconnectReason
from desktop.session.settings import ConnectMode
from desktop.session.show_costs import CostMeter
from desktop.session.state import ConnectionState, QualitySample, RecordingGap, RoomState
from desktop.session.studio.context import StudioContext
from spaces_contract.money import Rates
from spaces_contract.status import BroadcastStatus

logger = logging.getLogger(__name__)


@dataclass
class StreamSummary:
    """What the end-of-stream screen shows."""

    duration_s: float
    """How long the show was live (0 when it never went live)."""
    peak_participants: int
    """Most people in the room at once (the host included)."""
    peak_publishers: int
    """Most people publishing at once."""
    recordings: list[str] = field(default_factory=list)
    """Local recording files and cloud recording links."""
    revenue: dict[str, float] = field(default_factory=dict)
    """The platform's split (multiplier, duration bonus, commission, creator share)."""
    currency: str = "USD"
    """The currency of ``revenue`` (the platform's, else the studio's setting)."""
    room_duration_s: float = 0.0
    """How long the room existed (the platform's figure, or the studio's session)."""
    costs: dict[str, str] = field(default_factory=dict)
    """Cost, revenue, commission and net (``Economics.as_json``: two-place decimal strings)."""
    quality_history: dict[str, tuple[QualitySample, ...]] = field(default_factory=dict)
    """Each guest's connection grades over the show (drawn as a sparkline)."""
    recording_gaps: list[RecordingGap] = field(default_factory=list)
    """Stretches the cloud recording missed (start, end, duration)."""
    ended_ms: int = 0
    """When the summary was made (wall clock ms; the end of the quality sparklines)."""


class Tally:
    """Counts the show from the studio's start: the peaks (a state listener), time on air (the
    studio's :class:`~desktop.session.studio.context.LiveClock`) and the costs; sums it up at
    the end.

    Args:
        studio: The studio's shared state.
    """

    def __init__(self, studio: StudioContext) -> None:
        self._studio = studio
        self._peak_participants = 1
        self._peak_publishers = 0
        self._started_s = time.monotonic()
        studio.store.subscribe(self.track_peaks)
        self._costs_from_backend = False

    def start_costs(self, mode: ConnectMode) -> None:
        """Count the show's cost from now on (the platform's figures win where it counts)."""
        if self._studio.costs is None:
            self._studio.costs = CostMeter(
                self._studio.store, Rates(currency=self._studio.settings.currency or "USD"),
                live_ms=lambda: int(self.live_duration_s() * 1000),
            )  # fmt: skip
            self._studio.costs.start()
        self._costs_from_backend = mode is ConnectMode.PLATFORM

    def status_costs(self, status: BroadcastStatus) -> None:
        """The platform's latest economics (used where the platform counts the show)."""
        if self._studio.costs is not None:
            self._studio.costs.use_backend(status.economics, self._costs_from_backend)

    def live_duration_s(self) -> float:
        """Time on air so far (every Go Live to its End, added)."""
        return self._studio.clock.elapsed_s()

    async def end_stream(self, leave: Callable[[], Awaitable[None]]) -> StreamSummary:
        """End the show for everyone: stop outputs, close the room, leave it, sum it up.

        After this the state says ``ended``; guests' tiles go, nothing reconnects.

        Args:
            leave: Leaves the room (the connection's own), once the outputs have stopped.
        """
        studio = self._studio
        if studio.live.is_live:
            studio.clock.stop()
        if studio.guard is not None:
            await studio.guard.disarm()
        await studio.watchdog.aclose()
        await studio.program.aclose()
        await studio.live.aclose()
        studio.clock.stop()
        summary = StreamSummary(
            duration_s=studio.clock.total_s,
            peak_participants=self._peak_participants,
            peak_publishers=self._peak_publishers,
            recordings=list(studio.recordings),
            currency=studio.settings.currency,
            room_duration_s=time.monotonic() - self._started_s,
            quality_history=dict(studio.store.state.quality_history),
            recording_gaps=list(studio.store.state.recording_gaps),
            ended_ms=wall_clock_ms(),
        )
        if studio.backend is not None and studio.store.state.room_name:
            try:
                ended = await studio.backend.end_stream(studio.store.state.room_name)
                stats = ended.stats
                # The platform's "duration" is the room's lifetime, not the time on air.
                summary.room_duration_s = stats.duration / 1000 or summary.room_duration_s
                # The backend samples the room; the studio saw every join. Show the larger.
                summary.peak_participants = max(summary.peak_participants, stats.total_participants)
                summary.peak_publishers = max(summary.peak_publishers, stats.peak_publishers)
                summary.revenue = {
                    "basePrice": ended.revenue.base_price,
                    "revenueMultiplier": ended.revenue.revenue_multiplier,
                    "durationBonus": ended.revenue.duration_bonus,
                    "totalRevenue": ended.revenue.total_revenue,
                    "commissionRate": ended.revenue.commission_rate,
                    "platformCommission": ended.revenue.platform_commission,
                    "creatorRevenue": ended.revenue.creator_revenue,
                }
                currency = getattr(ended.revenue, "currency", "")
                if isinstance(currency, str) and currency:
                    summary.currency = currency
                if ended.recording is not None and ended.recording.name:
                    summary.recordings.append(ended.recording.name)
                if ended.economics is not None and studio.costs is not None:
                    studio.costs.use_backend(ended.economics, self._costs_from_backend)
            except SessionError as error:
                logger.warning("end_stream: %s", error)
        if studio.costs is not None:
            summary.costs = studio.costs.current()
            await studio.costs.aclose()  # the figures stop with the show (the state keeps them)
            studio.costs = None
        # Leave the room (in LiveKit mode nobody else closes it for the host) and stop
        # showing guests: their video stopped with the room.
        if studio.monitor is not None:
            await studio.monitor.aclose()
            studio.monitor = None
        await leave()
        studio.store.update(
            remotes={}, ended=True, is_live=False, is_recording=False, live_since_ms=0,
            connection=ConnectionState.DISCONNECTED if studio.room_url else ConnectionState.IDLE,
            disconnect_reason=DisconnectReason.LEFT,
        )  # fmt: skip
        return summary

    def track_peaks(self, old: RoomState, new: RoomState) -> None:
        """Keep the most people in the room, and publishing, at once (a state listener)."""
        self._peak_participants = max(self._peak_participants, new.participant_count)
        self._peak_publishers = max(self._peak_publishers, new.publisher_count)
