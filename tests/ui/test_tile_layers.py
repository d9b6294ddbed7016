"""A guest's tile receives the simulcast layer that fits it, from the real SFU, and a bigger one
when it grows: what the tile paints is read back as the frame size the SFU sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from livekit import rtc
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.session.remote_video import RemoteVideo
from desktop.session.room_session import RoomSession
from desktop.session.state import ParticipantState, Source, TrackState
from desktop.ui.tile import VideoTile
from tests.fixtures.livekit import LiveKitServer
from tests.participants import Feeder, join, wait_for


async def _pump(tile: VideoTile, until: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Run the stage's display tick and Qt until ``until`` holds."""

    def tick() -> None:
        tile.tick()
        QApplication.processEvents()

    await wait_for(
        until, timeout_s, state=lambda: f"painting {tile.frame_size}", tick=tick, interval_s=0.03
    )


async def test_a_tile_gets_the_small_layer_and_a_bigger_one_when_enlarged(
    qtbot: QtBot, livekit_server: LiveKitServer, unique_room: str
) -> None:
    session = RoomSession()
    guest = await join(livekit_server, "guest", unique_room)
    feeder = Feeder()
    video: RemoteVideo | None = None
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room))
        # 960×540 simulcast: layers of 320×180, 640×360 and 960×540.
        source = rtc.VideoSource(960, 540)
        feeder.video(source, 960, 540, fps=15)
        await guest.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True),
        )
        await wait_for(lambda: "guest" in session.store.state.remotes)
        camera = TrackState("TR", Source.CAMERA, True)
        tile = VideoTile(ParticipantState("guest", "Guest", tracks=(camera,)))
        qtbot.addWidget(tile)
        tile.resize(320, 180)
        tile.show()
        qtbot.waitExposed(tile)
        deadline = time.monotonic() + 15
        while video is None and time.monotonic() < deadline:
            video = session.open_remote_video("guest", Source.CAMERA, tile_height_px=180)
            await asyncio.sleep(0.1)
        assert video is not None
        tile.set_remote_video(video)

        def painting(height: int) -> Callable[[], bool]:
            return lambda: tile.frame_size is not None and tile.frame_size[1] == height

        await _pump(tile, painting(180))  # a 180 px tile paints the 320×180 layer
        tile.resize(1280, 720)  # the stage gives it the whole window: the top layer
        await _pump(tile, painting(540))
        assert tile.frame_size == (960, 540)
        assert video.tile_height_px == 720
        tile.resize(320, 180)  # and back to one of many
        await _pump(tile, painting(180))
    finally:
        if video is not None:
            await video.aclose()
        await feeder.aclose()
        await guest.disconnect()
        await session.aclose()
