"""HLS, recording options and the show's costs end to end: the backend over HTTP, the real
livekit-server (participants, webhooks) and the Egress stand-in (segments, the recording file).

A room asks for HLS and a low-quality MP4 recording in ``create_room``; a host publishes, a guest
joins and leaves; the playlist is played back with ffprobe while live (its segments grow) and
after the end; the recording's container, size and bitrate show the quality asked for; the
status and the end figures count the participants' time from the real join/leave webhooks and
the bytes from the egress results.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from livekit import rtc

from tests.fixtures.backend import BackendServer, backend_config, seed
from tests.fixtures.egress import CONNECT_TIMEOUT_S, LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer, free_port
from tests.participants import Feeder, publish_camera_and_mic

SEGMENT_S = 2


def _probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_type,codec_name,width,height:format=duration,bit_rate,format_name",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(out)
    return result


def _segments(playlist: Path) -> list[float]:
    return [float(m) for m in re.findall(r"#EXTINF:([0-9.]+),", playlist.read_text())]


async def _status_until(
    server: BackendServer, room_name: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status, answer = await server.call("get_broadcast_status", roomName=room_name)
        assert status == 200, answer
        if check(answer):
            return answer
        assert time.monotonic() < deadline, f"status never got there: {answer}"
        await asyncio.sleep(0.5)


async def test_hls_recording_options_and_costs_of_a_real_show(
    real_livekit_factory: Callable[..., LiveKitWithEgress],
    rtmp_server: RtmpServer,
    tmp_path: Path,
) -> None:
    port = free_port()
    pair = real_livekit_factory(webhook_url=f"http://127.0.0.1:{port}/webhooks/livekit")
    config = backend_config(pair, rtmp_server, tmp_path, region="eu-test-1")
    appointment_id, host_cred, viewer, other = seed(config)
    server = BackendServer(
        config, f"http://127.0.0.1:{port}", appointment_id, host_cred, viewer, other, port=port
    )
    await server.start()
    feeder = Feeder()
    host, guest = rtc.Room(), rtc.Room()
    options = rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S)
    try:
        status, created = await server.call(
            "create_room", appointmentId=appointment_id,
            recording={"enabled": True, "output": "mp4", "layout": "speaker", "quality": "low"},
            egress={"hls": {"enabled": True, "playlistName": "show.m3u8",
                            "segmentDurationS": SEGMENT_S}},
        )  # fmt: skip
        assert status == 200, created
        room_name = created["room"]["name"]
        host_connecting_s = time.time()
        await host.connect(created["room"]["url"], created["room"]["token"], options)
        host_connected_s = time.time()
        await publish_camera_and_mic(host, feeder)
        status, joined = await server.call("join_room", roomName=room_name, userId="guest-1")
        assert status == 200, joined
        guest_connecting_s = time.time()
        await guest.connect(joined["url"], joined["token"], options)
        guest_connected_s = time.time()

        # Live: the playlist is where status says, plays, and keeps growing.
        live = await _status_until(
            server, room_name, lambda s: s.get("hls", {}).get("segmentCount", 0) >= 2
        )
        hls = live["hls"]
        assert hls["playlistName"] == "show.m3u8" and hls["segmentDurationS"] == SEGMENT_S
        playlist = Path(hls["location"])
        assert playlist.name == "show.m3u8" and room_name in str(playlist)
        assert playlist.is_relative_to(pair.egress.output_dir / "recordings")
        first = _segments(playlist)
        assert len(first) >= 2 and "#EXT-X-ENDLIST" not in playlist.read_text()
        streams = {s["codec_type"]: s for s in _probe(playlist)["streams"]}
        assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
        live_playlist = Path(hls["liveLocation"])
        assert 1 <= len(_segments(live_playlist)) <= 3
        assert live["region"] == "eu-test-1"
        await _status_until(server, room_name, lambda s: s["hls"]["segmentCount"] >= len(first) + 2)
        assert len(_segments(playlist)) >= len(first) + 2

        leaving_s = time.time()
        await guest.disconnect()
        # The server's participant_left webhook closes the guest's stay.
        assert server.store is not None
        await _status_until(server, room_name, lambda s: "guest-1" not in (
            server.store.get_stream(room_name).presence  # type: ignore[union-attr]
        ))  # fmt: skip
        gone_s = time.time()
        running = await _status_until(server, room_name, lambda s: True)
        assert Decimal(running["economics"]["participantMinutes"]) > 0
        assert running["economics"]["currency"] == "USD"

        ending_s = time.time()
        status, ended = await server.call("end_stream", roomName=room_name)
        ended_s = time.time()
        assert status == 200, ended
    finally:
        await feeder.aclose()
        for room in (host, guest):
            await room.disconnect()
        await server.stop()

    # After the end: a complete playlist that plays from start to end.
    text = playlist.read_text()
    assert "#EXT-X-ENDLIST" in text
    durations = _segments(playlist)
    probed = _probe(playlist)
    assert abs(float(probed["format"]["duration"]) - sum(durations)) < SEGMENT_S + 0.5
    assert sum(durations) >= 4 * SEGMENT_S
    segment_files = [playlist.parent / line for line in text.splitlines() if line.endswith(".ts")]
    assert all(f.exists() for f in segment_files)

    # The recording: MP4, the "low" preset's 1280×720, at its 3 Mb/s band.
    recording = pair.egress.output_dir / "recordings" / ended["recording"]["name"]
    probed = _probe(recording)
    assert "mp4" in probed["format"]["format_name"]
    video = next(s for s in probed["streams"] if s["codec_type"] == "video")
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)
    assert 2_000_000 < int(probed["format"]["bit_rate"]) < 4_500_000

    # The figures: bytes from the egress results are the bytes on disk; participant time from
    # the real webhooks lies between what the test saw.
    figures = ended["economics"]
    stored = recording.stat().st_size + sum(f.stat().st_size for f in segment_files)
    stored_gb = Decimal(stored) / Decimal(10**9)
    assert Decimal(figures["storedGb"]) == stored_gb.quantize(Decimal("0.000001"), ROUND_HALF_UP)
    cost = (stored_gb * Decimal("0.02")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert figures["storageCost"] == str(cost)
    minutes = Decimal(figures["participantMinutes"])
    # The server's join time lies within connect(); the leave is stamped in whole seconds (so
    # up to 1 s before the guest really left) and heard by the time the test saw it; the host
    # stays until end_stream.
    least = (ending_s - host_connected_s) + (leaving_s - 1 - guest_connected_s)
    most = (ended_s - host_connecting_s) + (gone_s - guest_connecting_s)
    assert Decimal(str(least / 60)) - Decimal("0.005") <= minutes
    assert minutes <= Decimal(str(most / 60)) + Decimal("0.005")
    expected = (minutes * Decimal("0.05")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert abs(Decimal(figures["participantCost"]) - expected) <= Decimal("0.01")
    total = Decimal(figures["totalRevenue"])
    # 2 people at the peak: $50 × 0.2 = $10.00, 20 % of it to the platform.
    assert (total, figures["platformCommission"], figures["creatorRevenue"]) == (
        Decimal("10.00"), "2.00", "8.00")  # fmt: skip
    assert Decimal(figures["net"]) == Decimal("2.00") - Decimal(figures["infrastructureCost"])
