"""Uplink statistics: the sampler's arithmetic on known counters; real figures via the double."""

from __future__ import annotations

from livekit.rtc._proto import stats_pb2

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.link_stats import LinkSampler, format_bitrate
from desktop.session.publisher import PublishDefaults
from desktop.session.room_session import RoomSession
from desktop.session.state import Source
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer
from tests.participants import wait_for


def _report(timestamp_us: int, bytes_sent: int, packets_sent: int, packets_lost: int,
            rtt_s: float) -> list[stats_pb2.RtcStats]:  # fmt: skip
    video = stats_pb2.RtcStats()
    rtp = video.outbound_rtp
    rtp.rtc.timestamp = timestamp_us
    rtp.stream.ssrc, rtp.stream.kind = 7, "video"
    rtp.sent.bytes_sent, rtp.sent.packets_sent = bytes_sent, packets_sent
    rtp.outbound.rid, rtp.outbound.frame_width, rtp.outbound.frame_height = "f", 1280, 720
    rtp.outbound.frames_per_second = 30
    rtp.outbound.quality_limitation_reason = stats_pb2.LIMITATION_BANDWIDTH
    remote = stats_pb2.RtcStats()
    inbound = remote.remote_inbound_rtp
    inbound.stream.ssrc, inbound.stream.kind = 7, "video"
    inbound.received.packets_lost = packets_lost
    inbound.remote_inbound.round_trip_time = rtt_s
    inbound.remote_inbound.round_trip_time_measurements = 1
    return [video, remote]


def test_rates_and_loss_come_from_the_counters_between_two_samples() -> None:
    sampler = LinkSampler()
    first = sampler.sample({Source.CAMERA: _report(1_000_000, 100_000, 1_000, 10, 0.030)}, 1)
    assert first.layers[0].bitrate_bps == 0  # no rate from one sample
    assert first.rtt_ms is not None and abs(first.rtt_ms - 30.0) < 1e-6
    assert first.packet_loss_pct == 0.0  # losses before the first sample are not this interval's
    # 2 s later: 250 000 more bytes (1 Mb/s), 900 packets sent and 100 more lost (10 %).
    second = sampler.sample({Source.CAMERA: _report(3_000_000, 350_000, 1_900, 110, 0.045)}, 2)
    layer = second.layers[0]
    assert (layer.source, layer.rid, layer.width, layer.height) == (Source.CAMERA, "f", 1280, 720)
    assert layer.bitrate_bps == 1_000_000 and layer.fps == 30.0
    assert layer.limitation == "bandwidth" and layer.active
    assert abs(second.packet_loss_pct - 10.0) < 1e-6
    assert second.rtt_ms is not None and abs(second.rtt_ms - 45.0) < 1e-6
    assert format_bitrate(layer.bitrate_bps) == "1.0 Mb/s" and format_bitrate(48_000) == "48 kb/s"


async def test_the_session_samples_its_uplink_through_the_double(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    session = RoomSession(defaults=PublishDefaults(width=640, height=360, fps=20))
    camera, mic = SyntheticCamera(640, 360, fps=20), SyntheticMicrophone()
    camera.start()
    mic.start()
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room),
                              CONNECT_TIMEOUT_S)  # fmt: skip
        assert session.store.state.link is None
        await session.publish_camera(camera)
        await session.publish_microphone(mic)

        def measured() -> bool:
            link = session.store.state.link
            return (
                link is not None
                and link.audio_bitrate_bps > 0
                and any(layer.active for layer in link.layers)
            )

        await wait_for(measured, timeout_s=20)
        link = session.store.state.link
        assert link is not None
        active = [layer for layer in link.layers if layer.active]
        assert all(layer.source is Source.CAMERA for layer in link.layers)
        assert all(0 < layer.width <= 640 and 0 < layer.fps <= 25 for layer in active)
        # A 20 fps synthetic camera is a few hundred kb/s; Opus is about 48 kb/s.
        assert all(10_000 < layer.bitrate_bps < 5_000_000 for layer in active)
        assert 10_000 < link.audio_bitrate_bps < 200_000
        assert link.rtt_ms is not None and 0 <= link.rtt_ms < 500  # on 127.0.0.1
        assert link.packet_loss_pct == 0.0
    finally:
        await session.aclose()
        camera.stop()
        mic.stop()
