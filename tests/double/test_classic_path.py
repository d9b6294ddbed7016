"""The classic signalling path (/rtc, two peer connections): asked for directly, or reached by
the SDK's fallback when /rtc/v1 answers 404."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from livekit import rtc

from tests.double.helpers import Feeder, read_video_stamps, wait_for
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.fixtures.livekit_double import LiveKitDouble


async def _exchange(double: LiveKitDouble, room_name: str, options: rtc.RoomOptions) -> None:
    host, guest = rtc.Room(), rtc.Room()
    tracks: list[rtc.Track] = []
    chat: list[str] = []
    guest.on("track_subscribed", lambda track, *_: tracks.append(track))

    def on_chat(reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            chat.append(await reader.read_all())

        asyncio.ensure_future(read())

    guest.register_text_stream_handler("lk.chat", on_chat)
    feeder = Feeder()
    try:
        await host.connect(double.ws_url, double.token("host", room_name), options)
        await guest.connect(double.ws_url, double.token("guest", room_name), options)
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180)
        await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True),
        )
        await wait_for(lambda: bool(tracks), timeout_s=20)
        stamps = await read_video_stamps(tracks[0], 5)
        assert stamps == sorted(stamps) and len(set(stamps)) == 5
        await host.local_participant.send_text("hello over two connections", topic="lk.chat")
        await wait_for(lambda: chat == ["hello over two connections"])
    finally:
        await feeder.aclose()
        await host.disconnect()
        await guest.disconnect()


async def test_classic_path_when_asked(livekit_double: LiveKitDouble, unique_room: str) -> None:
    options = rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S, single_peer_connection=False)
    await _exchange(livekit_double, unique_room, options)


@pytest.mark.slow
async def test_fallback_to_classic_path_after_a_404(
    livekit_double_factory: Callable[..., LiveKitDouble], unique_room: str
) -> None:
    old_server = livekit_double_factory(without_v1=True)
    await _exchange(old_server, unique_room, rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S))
