"""The real livekit-server fixture: media flows, and no ICE traffic can leave loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import rtc

from tests.fixtures.livekit import CandidateSide, LiveKitServer
from tests.participants import Feeder, join, read_video_stamps, wait_for


async def test_media_flows_and_every_candidate_is_loopback(
    livekit_server_factory: Callable[..., LiveKitServer], unique_room: str
) -> None:
    server = livekit_server_factory()
    if server.is_remote:
        pytest.skip("a remote LiveKit's log is not readable here")
    host = await join(server, "host", unique_room)
    viewer = await join(server, "viewer", unique_room)
    feeder = Feeder()
    tracks: list[rtc.Track] = []
    viewer.on("track_subscribed", lambda track, *_: tracks.append(track))
    try:
        source = rtc.VideoSource(640, 360)
        feeder.video(source, 640, 360)
        await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True),
        )
        await wait_for(lambda: bool(tracks), timeout_s=20)
        stamps = await read_video_stamps(tracks[0], 5)
        assert stamps == sorted(stamps) and stamps[-1] > stamps[0]
    finally:
        await feeder.aclose()
        await viewer.disconnect()
        await host.disconnect()
    offered = [c for c in server.ice_candidates() if c.side is CandidateSide.SERVER]
    assert offered, "the server's log shows no candidates: the check would be blind"
    assert {c.address for c in offered} == {"127.0.0.1"}
    assert server.ice_server_hosts() == {"127.0.0.1"}, "clients were given a foreign STUN"
    assert server.stray_addresses() == []


def test_the_check_names_a_candidate_that_would_leave_loopback(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    lines = [
        {
            "msg": "sending ICE candidate",
            "trickle": {
                "candidateInit": json.dumps(
                    {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 7882 typ host"}
                )
            },
        },
        {
            "msg": "added ICE candidate",
            "candidate": {
                "candidate": "candidate:2 1 udp 1686052607 203.0.113.9 40000 typ srflx "
                "raddr 0.0.0.0 rport 0"
            },
        },
        {"msg": "sending signal response", "iceServers": [{"urls": ["stun:stun.l.google.com"]}]},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines))
    server = LiveKitServer("ws://127.0.0.1:1", "k", "s", log_path=log)
    strays = server.stray_addresses()
    assert len(strays) == 2
    assert "203.0.113.9" in strays[0] and "stun.l.google.com" in strays[1]
    clean = LiveKitServer("ws://127.0.0.1:1", "k", "s", log_path=tmp_path / "missing.log")
    assert clean.stray_addresses() == []
