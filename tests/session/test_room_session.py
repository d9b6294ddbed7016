"""The host's RoomSession against the LiveKit double, with a real SDK viewer at the other end."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import pytest
from livekit import rtc

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, SyntheticScreen
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.publisher import PublishDefaults
from desktop.session.room_events import DisconnectReason
from desktop.session.room_session import RoomSession
from desktop.session.state import ConnectionState, RoomState, Source
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer, restart_server, stop_server
from tests.participants import Feeder, join, read_audio_peak, read_video_stamps, wait_for


async def test_host_publishes_and_sees_the_viewer(livekit_server: LiveKitServer,
                                                  unique_room: str) -> None:  # fmt: skip
    session = RoomSession(defaults=PublishDefaults(width=640, height=360, fps=20))
    history: list[RoomState] = []
    session.store.subscribe(lambda old, new: history.append(new))
    camera = SyntheticCamera(640, 360, fps=20)
    mic = SyntheticMicrophone(level_dbfs=-10)
    screen = SyntheticScreen(640, 360, fps=10)
    for source in (camera, mic, screen):
        source.start()
    viewer: rtc.Room | None = None
    feeder = Feeder()
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room),
                              CONNECT_TIMEOUT_S)  # fmt: skip
        assert session.store.state.connection is ConnectionState.CONNECTED
        assert [s.connection for s in history[:2]] == [ConnectionState.CONNECTING,
                                                       ConnectionState.CONNECTED]  # fmt: skip
        await session.publish_camera(camera)
        await session.publish_microphone(mic)
        await session.publish_screen(screen)
        tracks: dict[int, rtc.Track] = {}
        viewer = rtc.Room()
        viewer.on("track_subscribed", lambda t, pub, p: tracks.__setitem__(pub.source, t))
        # Active speakers come from the SFU's audio levels: the host's tone makes it one.
        speakers: set[str] = set()
        viewer.on("active_speakers_changed", lambda ps: speakers.update(p.identity for p in ps))
        await viewer.connect(livekit_server.ws_url, livekit_server.token("viewer", unique_room),
                             rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S))  # fmt: skip
        await wait_for(lambda: len(tracks) == 3, timeout_s=30)
        # What the host captured arrives: frame counters in order, the tone's level.
        camera_stamps = await read_video_stamps(tracks[rtc.TrackSource.SOURCE_CAMERA], 8)
        screen_stamps = await read_video_stamps(tracks[rtc.TrackSource.SOURCE_SCREENSHARE], 4)
        assert camera_stamps == sorted(camera_stamps) and len(set(camera_stamps)) == 8
        assert screen_stamps == sorted(screen_stamps)
        assert 0.1 < await read_audio_peak(tracks[rtc.TrackSource.SOURCE_MICROPHONE]) < 0.6
        published = viewer.remote_participants["host"].track_publications.values()
        camera_pub = next(p for p in published if p.source == rtc.TrackSource.SOURCE_CAMERA)
        assert camera_pub.simulcasted
        # The host's state shows the viewer join, publish, chat, mute and leave.
        await wait_for(lambda: "viewer" in session.store.state.remotes)
        assert session.store.state.remotes["viewer"].joined_at_ms > 0
        viewer_mic = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(viewer_mic)
        viewer_track = rtc.LocalAudioTrack.create_audio_track("mic", viewer_mic)
        await viewer.local_participant.publish_track(
            viewer_track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        await wait_for(lambda: session.store.state.remotes["viewer"].track(Source.MICROPHONE)
                       is not None)  # fmt: skip
        assert not session.store.state.remotes["viewer"].mic_muted
        await wait_for(lambda: session.store.state.remotes["viewer"].is_speaking, timeout_s=15)
        await viewer.local_participant.send_text("great show!", topic="lk.chat")
        await wait_for(lambda: any(m.text == "great show!" for m in session.store.state.chat))
        assert session.store.state.chat[-1].sender_identity == "viewer"
        # And the other way: the host's chat line and the host's voice reach the viewer.
        heard: list[tuple[str, str]] = []

        def on_chat(reader: rtc.TextStreamReader, sender: str) -> None:
            async def read() -> None:
                heard.append((sender, await reader.read_all()))

            asyncio.ensure_future(read())

        viewer.register_text_stream_handler("lk.chat", on_chat)
        await session.send_chat("thanks for coming")
        await wait_for(lambda: ("host", "thanks for coming") in heard)
        await wait_for(lambda: "host" in speakers, timeout_s=15)
        viewer_track.mute()
        await wait_for(lambda: session.store.state.remotes["viewer"].mic_muted)
        assert session.store.state.publisher_count == 2
        await viewer.disconnect()
        viewer = None
        await wait_for(lambda: "viewer" not in session.store.state.remotes)
        # Muting the host's own mic keeps it published.
        await session.set_muted(Source.MICROPHONE, True)
        local = session.store.state.local
        assert local is not None
        mic_track = local.track(Source.MICROPHONE)
        assert mic_track is not None and mic_track.muted
        await session.stop_screen_share()
        local = session.store.state.local
        assert local is not None and local.track(Source.SCREEN) is None
        assert local.track(Source.CAMERA) is not None
    finally:
        await feeder.aclose()
        if viewer is not None:
            await viewer.disconnect()
        await session.aclose()
        for source in (camera, mic, screen):
            await source.aclose()
    final: ConnectionState = session.store.state.connection
    assert final is ConnectionState.DISCONNECTED


async def test_server_killed_and_restarted_shows_reconnecting_then_publishes_again(
    livekit_server_factory: Callable[..., LiveKitServer], unique_room: str
) -> None:
    server = livekit_server_factory()
    if server.is_remote:
        pytest.skip("a remote LiveKit (LIVEKIT_URL) cannot be killed by the test")
    session = RoomSession()
    seen: list[ConnectionState] = []
    session.store.subscribe(lambda old, new: seen.append(new.connection))
    camera = SyntheticCamera(320, 180, fps=15)
    camera.start()
    viewer = await join(server, "viewer", unique_room)
    tracks: list[rtc.Track] = []
    viewer.on("track_subscribed", lambda t, *_: tracks.append(t))
    try:
        await session.connect(server.ws_url, server.token("host", unique_room))
        await session.publish_camera(camera)
        await wait_for(lambda: bool(tracks))
        before = await read_video_stamps(tracks[0], 3)
        count_before = len(tracks)
        os.kill(server.pid, signal.SIGKILL)
        await wait_for(lambda: ConnectionState.RECONNECTING in seen, timeout_s=30)
        # Never "connected" while the server is down.
        assert session.store.state.connection is not ConnectionState.CONNECTED
        server = await asyncio.to_thread(restart_server, server)
        await wait_for(
            lambda: session.store.state.connection is ConnectionState.CONNECTED, timeout_s=60
        )
        # The viewer rejoins the new server and sees the host's camera again, newer frames.
        await wait_for(lambda: len(tracks) > count_before, timeout_s=60)
        after = await read_video_stamps(tracks[-1], 3)
        assert min(after) > max(before)
    finally:
        await viewer.disconnect()
        await session.aclose()
        await camera.aclose()
        stop_server(server)


async def test_removed_by_a_moderator_says_so(livekit_server: LiveKitServer, unique_room: str
                                              ) -> None:  # fmt: skip
    from livekit import api

    session = RoomSession()
    await session.connect(livekit_server.ws_url, livekit_server.token("guest", unique_room))
    lkapi = livekit_server.api()
    try:
        await lkapi.room.remove_participant(
            api.RoomParticipantIdentity(room=unique_room, identity="guest")
        )
        await wait_for(lambda: session.store.state.connection is ConnectionState.DISCONNECTED)
        assert session.store.state.disconnect_reason is DisconnectReason.REMOVED
    finally:
        await lkapi.aclose()
        await session.aclose()


@pytest.mark.parametrize(
    ("url", "token", "code"),
    [
        ("not a url", "x", SessionErrorCode.BAD_URL),
        ("ws://127.0.0.1:1", "x", SessionErrorCode.UNREACHABLE),
        (None, "bad.token.value", SessionErrorCode.TOKEN_REFUSED),
    ],
)
async def test_connect_failures_are_typed_and_fast(
    livekit_server: LiveKitServer, url: str | None, token: str, code: SessionErrorCode
) -> None:
    session = RoomSession()
    started = time.monotonic()
    with pytest.raises(SessionError) as info:
        await session.connect(url or livekit_server.ws_url, token, timeout_s=3)
    assert info.value.code is code
    assert info.value.hint
    assert session.store.state.connection is ConnectionState.FAILED
    assert session.store.state.error == str(info.value)
    assert time.monotonic() - started < 30
    await session.aclose()
    await asyncio.sleep(0)
