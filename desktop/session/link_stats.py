"""What the host's uplink is doing: bitrate, frame rate and size per layer, RTT, packet loss.

The figures come from WebRTC's own statistics (``LocalTrack.get_stats``): cumulative counters,
so rates and loss are computed between two samples. :class:`LinkSampler` is that computation,
kept free of the SDK so it can be checked with known counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop.session.state import Source

LIMITATIONS = {0: "none", 1: "cpu", 2: "bandwidth", 3: "other"}
"""WebRTC's qualityLimitationReason values, as words."""


@dataclass(frozen=True, slots=True)
class LayerStats:
    """One encoded layer being sent (a simulcast layer, or the only one)."""

    source: Source
    """Camera or screen."""
    rid: str
    """Simulcast layer id (q/h/f), empty when there is one layer."""
    width: int
    """Encoded width (0 while the layer is paused)."""
    height: int
    """Encoded height."""
    fps: float
    """Encoded frames per second."""
    bitrate_bps: int
    """Payload bits per second sent since the previous sample."""
    limitation: str = "none"
    """Why the encoder holds back: none, cpu, bandwidth, other."""

    @property
    def active(self) -> bool:
        """Whether the layer is sending (the SFU pauses layers nobody watches)."""
        return self.bitrate_bps > 0 and self.width > 0


@dataclass(frozen=True, slots=True)
class LinkStats:
    """The host's outgoing link at one moment."""

    layers: tuple[LayerStats, ...] = ()
    """Every video layer being published."""
    audio_bitrate_bps: int = 0
    """Microphone bits per second."""
    rtt_ms: float | None = None
    """Round-trip time to the server (None until measured)."""
    packet_loss_pct: float = 0.0
    """Packets the server reported lost since the previous sample, in % of those sent."""
    available_bitrate_bps: int = 0
    """What the congestion controller thinks the link can carry."""
    sampled_at_ms: int = 0
    """When this was sampled (wall clock ms)."""


@dataclass
class _Counters:
    bytes_sent: int
    packets_sent: int
    timestamp_us: int


@dataclass
class LinkSampler:
    """Turns successive WebRTC stats reports into :class:`LinkStats`."""

    _sent: dict[str, _Counters] = field(default_factory=dict)
    _lost: dict[str, int] = field(default_factory=dict)

    def sample(self, reports: Mapping[Source, Iterable[Any]], now_ms: int) -> LinkStats:
        """Compute the link figures from one stats report per published source.

        Args:
            reports: For each source, the ``RtcStats`` messages its track's ``get_stats`` gave.
            now_ms: Wall clock ms, stamped on the result.
        """
        layers: list[LayerStats] = []
        audio_bps = 0
        rtts_s: list[float] = []
        pair_rtt_s: float | None = None
        available_bps = 0
        sent_delta = lost_delta = 0
        for source, stats in reports.items():
            for item in stats:
                kind = item.WhichOneof("stats")
                if kind == "outbound_rtp":
                    rtp = item.outbound_rtp
                    stream_id = f"{source.name}:{rtp.stream.ssrc}"
                    bitrate_bps, packets = self._rate(
                        stream_id, rtp.sent.bytes_sent, rtp.sent.packets_sent,
                        rtp.rtc.timestamp,
                    )  # fmt: skip
                    sent_delta += packets
                    if rtp.stream.kind == "audio":
                        audio_bps += bitrate_bps
                    else:
                        out = rtp.outbound
                        layers.append(LayerStats(
                            source, out.rid, out.frame_width, out.frame_height,
                            float(out.frames_per_second), bitrate_bps,
                            LIMITATIONS.get(int(out.quality_limitation_reason), "other"),
                        ))  # fmt: skip
                elif kind == "remote_inbound_rtp":
                    remote = item.remote_inbound_rtp
                    stream_id = f"{source.name}:{remote.stream.ssrc}"
                    lost = max(0, remote.received.packets_lost)
                    lost_delta += max(0, lost - self._lost.get(stream_id, lost))
                    self._lost[stream_id] = lost
                    if remote.remote_inbound.round_trip_time_measurements > 0:
                        rtts_s.append(remote.remote_inbound.round_trip_time)
                elif kind == "candidate_pair":
                    pair = item.candidate_pair.candidate_pair
                    if pair.nominated and pair.current_round_trip_time > 0:
                        pair_rtt_s = pair.current_round_trip_time
                        available_bps = int(pair.available_outgoing_bitrate)
        # ICE's own round trip is the link's; RTCP's (per stream) stands in until ICE has one.
        rtt_s = pair_rtt_s if pair_rtt_s is not None else (max(rtts_s) if rtts_s else None)
        loss_pct = 100.0 * lost_delta / (sent_delta + lost_delta) if lost_delta else 0.0
        layers.sort(key=lambda layer: (layer.source.value, -layer.width))
        return LinkStats(
            layers=tuple(layers),
            audio_bitrate_bps=audio_bps,
            rtt_ms=None if rtt_s is None else rtt_s * 1000.0,
            packet_loss_pct=min(100.0, loss_pct),
            available_bitrate_bps=available_bps,
            sampled_at_ms=now_ms,
        )

    def _rate(self, stream_id: str, bytes_sent: int, packets_sent: int,
              timestamp_us: int) -> tuple[int, int]:  # fmt: skip
        """Bits per second and packets since the previous sample of this stream."""
        previous = self._sent.get(stream_id)
        self._sent[stream_id] = _Counters(bytes_sent, packets_sent, timestamp_us)
        if previous is None or timestamp_us <= previous.timestamp_us:
            return 0, 0
        elapsed_s = (timestamp_us - previous.timestamp_us) / 1e6
        sent_bytes = max(0, bytes_sent - previous.bytes_sent)
        return int(sent_bytes * 8 / elapsed_s), max(0, packets_sent - previous.packets_sent)


def format_bitrate(bitrate_bps: float) -> str:
    """``1.2 Mb/s``, ``350 kb/s``."""
    if bitrate_bps >= 1_000_000:
        return f"{bitrate_bps / 1e6:.1f} Mb/s"
    return f"{bitrate_bps / 1e3:.0f} kb/s"
