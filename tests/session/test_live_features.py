"""Live features of the host's session: switching devices, remote tiles, adaptation and
moderation through the backend — each checked at the other end with a real SDK."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc
from livekit.rtc.participant import PublishTrackError

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, decode_stamp
from desktop.session.backend_client import HttpBackend
from desktop.session.moderation import Moderator
from desktop.session.room_session import RoomSession
from desktop.session.state import Source
from tests.fixtures.backend import BackendServer
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer
from tests.participants import Feeder, join, read_video_stamps, wait_for


async def test_switch_camera_and_mic_while_live(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    session = RoomSession()
    first, second = SyntheticCamera(320, 180, 20), SyntheticCamera(320, 180, 20)
    mic, other_mic = SyntheticMicrophone(), SyntheticMicrophone(frequency_hz=880)
    for source in (first, second, mic, other_mic):
        source.start()
    viewer = await join(livekit_server, "viewer", unique_room)
    tracks: list[rtc.Track] = []
    viewer.on(
        "track_subscribed",
        lambda t, pub, p: tracks.append(t) if pub.kind == rtc.TrackKind.KIND_VIDEO else None,
    )
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room))
        publication = await session.publish_camera(first)
        await session.publish_microphone(mic)
        await wait_for(lambda: bool(tracks))
        await asyncio.sleep(2)  # the first camera's counter runs ahead of the second's
        before = await read_video_stamps(tracks[0], 3)
        await second.aclose()
        second = SyntheticCamera(320, 180, 20)
        second.start()
        await session.switch_camera(second)
        await session.switch_microphone(other_mic)
        after = await read_video_stamps(tracks[0], 10)
        # Frames of the new camera (its counter restarted) arrive on the same track.
        assert min(after) < min(before)
        local = session.store.state.local
        assert local is not None
        camera = local.track(Source.CAMERA)
        assert camera is not None and camera.sid == publication.sid
        assert len(local.tracks) == 2
    finally:
        await viewer.disconnect()
        await session.aclose()
        for source in (first, second, mic, other_mic):
            await source.aclose()


async def test_remote_tile_gets_rgb_frames(livekit_server: LiveKitServer, unique_room: str) -> None:
    session = RoomSession()
    guest = await join(livekit_server, "guest", unique_room)
    feeder = Feeder()
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room))
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180)
        await guest.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
        )
        await wait_for(
            lambda: (
                "guest" in session.store.state.remotes
                and session.store.state.remotes["guest"].track(Source.CAMERA) is not None
            )
        )
        tile = None
        for _ in range(100):
            tile = session.open_remote_video("guest", Source.CAMERA, tile_height_px=180)
            if tile is not None:
                break
            await asyncio.sleep(0.1)
        assert tile is not None
        frame = await asyncio.wait_for(tile.frames.aget(), 15)
        assert frame is not None and frame.rgb.shape == (frame.height, frame.width, 3)
        grey = frame.rgb.mean(axis=2).astype(np.uint8)
        assert decode_stamp(grey)[0] >= 0
        await tile.aclose()
    finally:
        await feeder.aclose()
        await guest.disconnect()
        await session.aclose()


async def test_moderation_through_the_backend(
    backend_server: BackendServer, livekit_server: LiveKitServer
) -> None:
    backend = HttpBackend(backend_server.url, backend_server.host_credential)
    session = RoomSession()
    feeder = Feeder()
    guests: list[rtc.Room] = []
    try:
        room = (await backend.call("create_room", appointmentId=backend_server.appointment_id))[
            "room"
        ]
        await session.connect(room["url"], room["token"])
        moderator = Moderator(backend, session.store, room["name"])
        for identity in ("ann", "bob"):
            joined = await backend.call(
                "join_room",
                roomName=room["name"],
                userId=identity,
                permissions={"canPublish": True},
            )
            guest = rtc.Room()
            await guest.connect(
                joined["url"], joined["token"], rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S)
            )
            source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
            feeder.audio(source)
            await guest.local_participant.publish_track(
                rtc.LocalAudioTrack.create_audio_track("mic", source),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
            )
            guests.append(guest)
        state = session.store
        await wait_for(
            lambda: all(
                i in state.state.remotes and not state.state.remotes[i].mic_muted
                for i in ("ann", "bob")
            )
        )
        ann_muted = asyncio.Event()
        guests[0].on("track_muted", lambda *_: ann_muted.set())
        await moderator.mute("ann")
        await asyncio.wait_for(ann_muted.wait(), 10)
        await wait_for(lambda: state.state.remotes["ann"].mic_muted)
        assert await moderator.mute_all() == ["bob"]
        await wait_for(lambda: state.state.remotes["bob"].mic_muted)
        await moderator.remove("bob")
        await wait_for(lambda: "bob" not in state.state.remotes)
        # Removed means removed: the SFU disconnected bob, saying why.
        await wait_for(lambda: guests[1].connection_state == rtc.ConnectionState.CONN_DISCONNECTED)
        await moderator.set_on_stage("ann", False)
        await wait_for(lambda: not state.state.remotes["ann"].can_publish)
        # Backstage, the SFU takes ann's tracks away and refuses new ones.
        await wait_for(lambda: state.state.remotes["ann"].track(Source.MICROPHONE) is None)
        retry = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        try:
            await asyncio.wait_for(
                guests[0].local_participant.publish_track(
                    rtc.LocalAudioTrack.create_audio_track("mic-again", retry),
                    rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
                ),
                10,
            )
            refused = False
        except (PublishTrackError, TimeoutError):
            refused = True
        assert refused, "the SFU let a backstage guest publish"
        # Back on stage, ann can publish again and the host sees it.
        await moderator.set_on_stage("ann", True)
        await wait_for(lambda: state.state.remotes["ann"].can_publish)
        feeder.audio(retry)
        await guests[0].local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic-again", retry),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        await wait_for(lambda: state.state.remotes["ann"].track(Source.MICROPHONE) is not None)
        assert moderator.audit == [
            "muted ann's microphone",
            "muted bob's microphone",
            "removed bob",
            "moved ann backstage",
            "moved ann on stage",
        ]
    finally:
        await feeder.aclose()
        for guest in guests:
            await guest.disconnect()
        await session.aclose()
        await backend.aclose()
