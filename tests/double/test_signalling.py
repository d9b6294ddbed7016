"""Signalling behaviour of the double as the real SDK sees it: tokens, quality, mute,
reconnection after a cut signal connection."""

from __future__ import annotations

import datetime
import time

import pytest
from livekit import api, rtc

from tests.double.helpers import Feeder, join, read_video_stamps, wait_for
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.fixtures.livekit_double import LiveKitDouble


async def _connect_with(double: LiveKitDouble, token: str) -> rtc.Room:
    room = rtc.Room()
    await room.connect(double.ws_url, token, rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S))
    return room


@pytest.mark.parametrize(
    ("case", "words"),
    [("bad signature", "invalid token"), ("expired", "invalid token"), ("no join", "roomJoin")],
)
async def test_bad_tokens_are_refused_quickly_with_the_reason(
    livekit_double: LiveKitDouble, unique_room: str, case: str, words: str
) -> None:
    if case == "bad signature":
        token = (
            api.AccessToken(livekit_double.api_key, "another-secret-0123456789abcdefghij")
            .with_identity("mallory")
            .with_grants(api.VideoGrants(room_join=True, room=unique_room))
            .to_jwt()
        )
    elif case == "expired":
        token = livekit_double.token("late", unique_room, ttl_s=-120)
    else:
        token = (
            api.AccessToken(livekit_double.api_key, livekit_double.api_secret)
            .with_identity("nojoin")
            .with_grants(api.VideoGrants(room_join=False, room=unique_room))
            .to_jwt()
        )
    started = time.monotonic()
    with pytest.raises(rtc.ConnectError) as info:
        await _connect_with(livekit_double, token)
    assert words in str(info.value)
    assert time.monotonic() - started < 15


async def test_join_gives_nonzero_ping_and_quality_updates_arrive(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    host = await join(livekit_double, "host", unique_room)
    guest = await join(livekit_double, "guest", unique_room)
    qualities: list[tuple[str, int]] = []
    host.on(
        "connection_quality_changed",
        lambda participant, quality: qualities.append((participant.identity, quality)),
    )
    try:
        await wait_for(lambda: "guest" in host.remote_participants)
        livekit_double.set_quality("guest", "poor")
        await wait_for(
            lambda: ("guest", rtc.ConnectionQuality.QUALITY_POOR) in qualities, timeout_s=30
        )
        livekit_double.set_quality("guest", "excellent")
        await wait_for(lambda: qualities[-1] == ("guest", rtc.ConnectionQuality.QUALITY_EXCELLENT))
        # The process is still alive after several ping intervals: ping values were non-zero.
        assert host.isconnected() and guest.isconnected()
    finally:
        await host.disconnect()
        await guest.disconnect()


async def test_mute_unmute_and_unpublish_are_signalled_to_others(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    host = await join(livekit_double, "host", unique_room)
    guest = await join(livekit_double, "guest", unique_room)
    events: list[str] = []
    guest.on("track_muted", lambda participant, pub: events.append(f"muted {pub.sid}"))
    guest.on("track_unmuted", lambda participant, pub: events.append(f"unmuted {pub.sid}"))
    guest.on("track_unpublished", lambda pub, participant: events.append(f"gone {pub.sid}"))
    feeder = Feeder()
    try:
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source)
        track = rtc.LocalAudioTrack.create_audio_track("mic", source)
        pub = await host.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        await wait_for(lambda: "host" in guest.remote_participants)
        await wait_for(lambda: bool(guest.remote_participants["host"].track_publications))
        track.mute()
        await wait_for(lambda: f"muted {pub.sid}" in events)
        track.unmute()
        await wait_for(lambda: f"unmuted {pub.sid}" in events)
        await host.local_participant.unpublish_track(pub.sid)
        await wait_for(lambda: f"gone {pub.sid}" in events)
    finally:
        await feeder.aclose()
        await host.disconnect()
        await guest.disconnect()


async def test_cut_signal_connection_resumes_and_media_keeps_flowing(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    host = await join(livekit_double, "host", unique_room)
    guest = await join(livekit_double, "guest", unique_room)
    states: list[str] = []
    host.on("reconnecting", lambda: states.append("reconnecting"))
    host.on("reconnected", lambda: states.append("reconnected"))
    tracks: list[rtc.Track] = []
    guest.on("track_subscribed", lambda track, *_: tracks.append(track))
    feeder = Feeder()
    try:
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180)
        await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
        )
        await wait_for(lambda: bool(tracks))
        before = await read_video_stamps(tracks[0], 3)
        livekit_double.cut_signal("host")
        await wait_for(lambda: "reconnected" in states, timeout_s=30)
        assert states[0] == "reconnecting"
        assert host.connection_state == rtc.ConnectionState.CONN_CONNECTED
        after = await read_video_stamps(tracks[-1], 3)
        assert min(after) > max(before)
    finally:
        await feeder.aclose()
        await host.disconnect()
        await guest.disconnect()


async def test_expired_token_is_refused_by_validate(livekit_double: LiveKitDouble) -> None:
    import aiohttp

    token = livekit_double.token("x", "r", ttl_s=-int(datetime.timedelta(minutes=5).seconds))
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{livekit_double.http_url}/rtc/validate",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status == 401
        assert "invalid token" in await response.text()
