"""Two real SDK participants exchange camera, microphone and screen through the double."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livekit import rtc

from tests.double.helpers import Feeder, join, read_audio_peak, read_video_stamps, wait_for
from tests.fixtures.livekit_double import LiveKitDouble


async def test_camera_mic_and_screen_reach_the_other_participant(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    host = await join(livekit_double, "host", unique_room)
    guest = await join(livekit_double, "guest", unique_room)
    subscribed: dict[int, rtc.Track] = {}

    @guest.on("track_subscribed")
    def on_subscribed(
        track: rtc.Track, publication: rtc.RemoteTrackPublication, _: rtc.RemoteParticipant
    ) -> None:
        subscribed[publication.source] = track

    feeder = Feeder()
    try:
        camera = rtc.VideoSource(640, 360)
        screen = rtc.VideoSource(640, 360, is_screencast=True)
        mic = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.video(camera, 640, 360)
        feeder.video(screen, 640, 360, fps=10)
        feeder.audio(mic)
        local = host.local_participant
        await local.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True),
        )
        await local.publish_track(
            rtc.LocalAudioTrack.create_audio_track("microphone", mic),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        await local.publish_track(
            rtc.LocalVideoTrack.create_video_track("screen", screen),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_SCREENSHARE),
        )
        await wait_for(lambda: len(subscribed) == 3, timeout_s=30)
        camera_stamps = await read_video_stamps(subscribed[rtc.TrackSource.SOURCE_CAMERA], 10)
        screen_stamps = await read_video_stamps(subscribed[rtc.TrackSource.SOURCE_SCREENSHARE], 5)
        peak = await read_audio_peak(subscribed[rtc.TrackSource.SOURCE_MICROPHONE])
        # The frame counters drawn by the sender arrive in order (the relay may skip some).
        assert camera_stamps == sorted(camera_stamps) and len(set(camera_stamps)) >= 8
        assert screen_stamps == sorted(screen_stamps) and len(set(screen_stamps)) >= 4
        assert 0.1 < peak < 0.6  # the tone is -10 dBFS (0.32)
        remote = guest.remote_participants["host"]
        sources = {p.source for p in remote.track_publications.values()}
        assert sources == {
            rtc.TrackSource.SOURCE_CAMERA,
            rtc.TrackSource.SOURCE_MICROPHONE,
            rtc.TrackSource.SOURCE_SCREENSHARE,
        }
    finally:
        await feeder.aclose()
        await host.disconnect()
        await guest.disconnect()


async def test_late_joiner_receives_what_is_already_published(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    host = await join(livekit_double, "host", unique_room)
    feeder = Feeder()
    guest: rtc.Room | None = None
    try:
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180)
        await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
        )
        await asyncio.sleep(1)
        tracks: list[rtc.Track] = []
        guest = rtc.Room()
        guest.on("track_subscribed", lambda track, *_: tracks.append(track))
        from tests.fixtures.livekit import CONNECT_TIMEOUT_S

        await guest.connect(
            livekit_double.ws_url,
            livekit_double.token("late", unique_room),
            rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S),
        )
        await wait_for(lambda: bool(tracks), timeout_s=20)
        stamps = await read_video_stamps(tracks[0], 5)
        assert stamps == sorted(stamps)
    finally:
        await feeder.aclose()
        await host.disconnect()
        if guest is not None:
            await guest.disconnect()


async def test_chat_on_lk_chat_topic_both_ways(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    host = await join(livekit_double, "host", unique_room)
    guest = await join(livekit_double, "guest", unique_room)
    received: dict[str, list[tuple[str, str]]] = {"host": [], "guest": []}

    def handler(name: str) -> Callable[[rtc.TextStreamReader, str], None]:
        def on_stream(reader: rtc.TextStreamReader, sender: str) -> None:
            async def read() -> None:
                received[name].append((sender, await reader.read_all()))

            asyncio.ensure_future(read())

        return on_stream

    host.register_text_stream_handler("lk.chat", handler("host"))
    guest.register_text_stream_handler("lk.chat", handler("guest"))
    try:
        await asyncio.sleep(0.5)  # data channels open after the peer connection
        await host.local_participant.send_text("welcome to the show", topic="lk.chat")
        await guest.local_participant.send_text("glad to be here ✨", topic="lk.chat")
        await wait_for(lambda: bool(received["host"]) and bool(received["guest"]))
        assert received["guest"] == [("host", "welcome to the show")]
        assert received["host"] == [("guest", "glad to be here ✨")]
    finally:
        await host.disconnect()
        await guest.disconnect()


async def test_h264_publisher_is_relayed(livekit_double: LiveKitDouble, unique_room: str) -> None:
    host = await join(livekit_double, "host", unique_room)
    guest = await join(livekit_double, "guest", unique_room)
    tracks: list[rtc.Track] = []
    guest.on("track_subscribed", lambda track, *_: tracks.append(track))
    feeder = Feeder()
    try:
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180)
        publication = await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(
                source=rtc.TrackSource.SOURCE_CAMERA, video_codec=rtc.VideoCodec.H264
            ),
        )
        await wait_for(lambda: bool(tracks), timeout_s=20)
        stamps = await read_video_stamps(tracks[0], 5)
        assert stamps == sorted(stamps) and len(set(stamps)) == 5
        assert publication.mime_type.lower() in ("", "video/h264")
    finally:
        await feeder.aclose()
        await host.disconnect()
        await guest.disconnect()
