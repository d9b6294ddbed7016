"""What the real SFU does with the host's media: simulcast layers, tiles choosing a layer, dynacast.

Layers are read where they are real: the host's sender statistics (``state.link``, what the
stats panel shows) for what goes out, decoded frame sizes for what a viewer gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livekit import rtc

from desktop.media.synthetic import SyntheticCamera
from desktop.session.link_stats import LayerStats
from desktop.session.publisher import PublishDefaults
from desktop.session.room_session import RoomSession
from desktop.session.state import Source
from tests.fixtures.livekit import LiveKitServer
from tests.participants import Feeder, join, wait_for

WIDTH, HEIGHT = 1280, 720
"""720p: LiveKit sends three layers (320×180, 640×360, 1280×720)."""


def _camera_layers(session: RoomSession) -> list[LayerStats]:
    link = session.store.state.link
    return [] if link is None else [lay for lay in link.layers if lay.source is Source.CAMERA]


def _active_heights(session: RoomSession) -> set[int]:
    return {layer.height for layer in _camera_layers(session) if layer.active}


class _Sizes:
    """Decoded frame sizes of a remote video track, as they arrive."""

    def __init__(self, track: rtc.Track) -> None:
        self.last: tuple[int, int] = (0, 0)
        self.count = 0
        self._stream = rtc.VideoStream(track, capacity=1)
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for event in self._stream:
            self.last = (event.frame.width, event.frame.height)
            self.count += 1

    async def aclose(self) -> None:
        self._task.cancel()
        await self._stream.aclose()


async def _host_with_camera(
    server: LiveKitServer, room: str
) -> tuple[RoomSession, SyntheticCamera]:
    session = RoomSession(defaults=PublishDefaults(width=WIDTH, height=HEIGHT, fps=30))
    camera = SyntheticCamera(WIDTH, HEIGHT, 30)
    camera.start()
    await session.connect(server.ws_url, server.token("host", room))
    await session.publish_camera(camera)
    return session, camera


async def test_camera_sends_layers_and_a_viewer_gets_the_one_it_asks_for(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    session, camera = await _host_with_camera(livekit_server, unique_room)
    viewer = await join(livekit_server, "viewer", unique_room)
    subscribed: list[tuple[rtc.Track, rtc.RemoteTrackPublication]] = []
    viewer.on("track_subscribed", lambda track, pub, _p: subscribed.append((track, pub)))
    sizes: _Sizes | None = None
    try:
        await wait_for(lambda: bool(subscribed), timeout_s=20)
        track, publication = subscribed[0]
        sizes = _Sizes(track)
        # The host's own sender statistics: at least two layers of distinct sizes going out.
        await wait_for(lambda: len(_active_heights(session)) >= 2, timeout_s=30)
        sent = {(layer.width, layer.height) for layer in _camera_layers(session)}
        assert {(320, 180), (1280, 720)} <= sent, sent
        publication.set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_LOW)
        await wait_for(lambda: sizes is not None and sizes.last == (320, 180), timeout_s=30)
        publication.set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_HIGH)
        await wait_for(lambda: sizes is not None and sizes.last == (1280, 720), timeout_s=30)
    finally:
        if sizes is not None:
            await sizes.aclose()
        await viewer.disconnect()
        await session.aclose()
        await camera.aclose()


async def test_a_tiles_size_picks_the_layer_the_host_receives(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    session = RoomSession()
    guest = await join(livekit_server, "guest", unique_room)
    feeder = Feeder()
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room))
        # 960×540 still makes three layers (320×180, 640×360, 960×540) and spares the CPU of a
        # loaded two-core machine the full 720p encode.
        source = rtc.VideoSource(960, 540)
        feeder.video(source, 960, 540, fps=15)
        await guest.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True),
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
        feed = tile

        def guest_in_host_room() -> rtc.RemoteParticipant:
            assert session.room is not None
            return session.room.remote_participants["guest"]

        async def frame_height(fits: Callable[[int], bool], timeout_s: float = 30.0) -> None:
            async def until() -> None:
                while (frame := await feed.frames.aget()) is not None:
                    if fits(frame.height):
                        return

            await asyncio.wait_for(until(), timeout_s)

        await frame_height(lambda h: h == 180)  # a small tile gets the 320×180 layer
        tile.fit(720)
        await frame_height(lambda h: h == 540)  # a full-size tile gets the full layer
        # The guest's link goes poor (reported by the SFU; a real degraded link is shown in the
        # network tests): the big tile drops to the small layer within seconds, then recovers.
        session.events._on_quality(guest_in_host_room(), rtc.ConnectionQuality.QUALITY_POOR)
        await frame_height(lambda h: h == 180, timeout_s=12.0)
        assert any("guest's connection is poor" in a.description
                   for a in session.store.state.adaptations)  # fmt: skip
        session.events._on_quality(guest_in_host_room(), rtc.ConnectionQuality.QUALITY_GOOD)
        await frame_height(lambda h: h == 540)
        # A middle-sized tile no longer gets the full layer (the 360p one; on a machine short of
        # CPU the sender may have dropped that layer, and the SFU then sends the next one down).
        tile.fit(360)
        await frame_height(lambda h: h <= 360)
        await tile.aclose()
    finally:
        await feeder.aclose()
        await guest.disconnect()
        await session.aclose()


async def test_dynacast_pauses_layers_nobody_watches_and_resumes_them(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    session, camera = await _host_with_camera(livekit_server, unique_room)
    viewer = await join(livekit_server, "viewer", unique_room)
    subscribed: list[rtc.RemoteTrackPublication] = []
    viewer.on("track_subscribed", lambda _t, pub, _p: subscribed.append(pub))
    try:
        await wait_for(lambda: bool(subscribed), timeout_s=20)
        await wait_for(lambda: 720 in _active_heights(session), timeout_s=30)
        # The only viewer asks for the small layer: the host stops sending the other two.
        subscribed[0].set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_LOW)
        await wait_for(lambda: _active_heights(session) == {180}, timeout_s=30)
        # And sends the full layer again as soon as someone wants it.
        subscribed[0].set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_HIGH)
        await wait_for(lambda: 720 in _active_heights(session), timeout_s=30)
    finally:
        await viewer.disconnect()
        await session.aclose()
        await camera.aclose()
