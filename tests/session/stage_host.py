"""A host's session, program feed and stage tiles in one room, for tests of guests on stage.

The tiles follow the stage widget's rule without Qt; the program notes when each guest's pictures
and sound last arrived. Used by ``test_guest_arrivals.py`` and ``test_media_watchdog.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from livekit import rtc

from desktop.media.compositor import Layout
from desktop.media.frames import AudioFrame, VideoFrame
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.program import DirectBroadcast
from desktop.session.program_feed import ProgramFeed
from desktop.session.remote_video import RemoteVideo
from desktop.session.room_session import RoomSession
from desktop.session.state import RoomState, Source
from tests.fixtures.livekit import CONNECT_TIMEOUT_S

TILE_TICK_S = 0.016
"""Tiles look for a new frame at about the display rate (as the stage does)."""


class ProgramSpy(DirectBroadcast):
    """The program, noting when each guest's pictures and sound last arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.video_at: dict[str, float] = {}
        self.audio_at: dict[str, float] = {}

    def push_video(self, source_id: str, frame: VideoFrame) -> None:
        self.video_at[source_id] = time.monotonic()
        super().push_video(source_id, frame)

    def push_audio(self, source_id: str, frame: AudioFrame) -> None:
        self.audio_at[source_id] = time.monotonic()
        super().push_audio(source_id, frame)


class Tiles:
    """The stage's tiles without Qt: the stage widget's rule for opening a guest's camera.

    A shown guest's tile opens their camera once the room state says it is subscribed, and then
    holds that feed (as ``StageWidget._sync_guests`` does); it takes the newest frame at about
    the display rate.
    """

    def __init__(self, session: RoomSession) -> None:
        self.session = session
        self.shown: dict[str, int] = {}
        """Guests with a tile, and the tile's height."""
        self.videos: dict[str, RemoteVideo] = {}
        self.frame_at: dict[str, float] = {}
        self.frame_height: dict[str, int] = {}
        self.on_frame: dict[str, Callable[[], None]] = {}
        self._unsubscribe = session.store.subscribe(self._sync)
        self._ticker = asyncio.ensure_future(self._tick())

    def show(self, identity: str, height_px: int = 180) -> None:
        """Give a guest a tile (it opens their camera as soon as it can)."""
        self.shown[identity] = height_px
        self._sync(self.session.store.state, self.session.store.state)

    def _sync(self, _old: RoomState, new: RoomState) -> None:
        for identity in list(self.videos):
            if identity not in new.remotes:
                asyncio.ensure_future(self.videos.pop(identity).aclose())
        for identity, height in self.shown.items():
            person = new.remotes.get(identity)
            camera = person.track(Source.CAMERA) if person else None
            if identity not in self.videos and camera is not None and camera.subscribed:
                video = self.session.open_remote_video(identity, Source.CAMERA, height)
                if video is not None:
                    self.videos[identity] = video

    async def _tick(self) -> None:
        while True:
            for identity, video in list(self.videos.items()):
                frame = video.frames.take_latest()
                if frame is not None:
                    self.frame_at[identity] = time.monotonic()
                    self.frame_height[identity] = frame.height
                    callback = self.on_frame.pop(identity, None)
                    if callback is not None:
                        callback()
            await asyncio.sleep(TILE_TICK_S)

    async def aclose(self) -> None:
        self._unsubscribe()
        self._ticker.cancel()
        await asyncio.gather(self._ticker, return_exceptions=True)
        for video in self.videos.values():
            await video.aclose()
        self.videos.clear()


class Host:
    """The host's session, program feed and tiles in one room."""

    def __init__(self, server: Any, room_name: str) -> None:
        self.server = server
        self.room_name = room_name
        self.session = RoomSession()
        self.program = ProgramSpy(EncoderSettings(1280, 720, 30))
        self.feed = ProgramFeed(self.program, self.session.store)
        self.tiles: Tiles | None = None
        self.subscribed_at: dict[str, float] = {}
        """When each guest's camera track last arrived at the host's SDK."""

    async def start(self) -> rtc.Room:
        token = self.server.token("host", self.room_name)
        await self.session.connect(self.server.ws_url, token, CONNECT_TIMEOUT_S)
        assert self.session.room is not None
        self.feed.attach(self.session.room)
        self.feed.set_layout(Layout.GRID)

        def subscribed(
            _track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant
        ) -> None:
            if pub.source == rtc.TrackSource.SOURCE_CAMERA:
                self.subscribed_at[p.identity] = time.monotonic()

        self.session.room.on("track_subscribed", subscribed)
        self.tiles = Tiles(self.session)
        return self.session.room

    @property
    def room(self) -> rtc.Room:
        assert self.session.room is not None
        return self.session.room

    def on_stage(self, identity: str) -> None:
        """Add a guest to the program and to a tile (as "Add to stage" does)."""
        self.feed.set_in_program(identity, True)
        assert self.tiles is not None
        self.tiles.show(identity)

    def camera_published(self, identity: str) -> asyncio.Future[rtc.RemoteTrackPublication]:
        """Resolved in the SDK's own event, as the server announces the guest's camera."""
        future: asyncio.Future[rtc.RemoteTrackPublication] = (
            asyncio.get_running_loop().create_future()
        )

        def published(pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
            if p.identity == identity and pub.source == rtc.TrackSource.SOURCE_CAMERA:
                if not future.done():
                    future.set_result(pub)
                    self.room.off("track_published", published)

        self.room.on("track_published", published)
        return future

    def shows(self, identity: str, since: float) -> tuple[bool, bool, bool]:
        """Whether fresh pictures reach the program (shown, not initials) and the tile, and
        fresh sound the mix."""
        program = self.program
        member = next((m for m in program.compositor.scene.stage if m.source_id == identity),
                      None)  # fmt: skip
        in_program = (
            program.video_at.get(identity, 0.0) > since
            and program.compositor.has_frame(identity)
            and member is not None
            and member.camera_on
        )
        assert self.tiles is not None
        in_tile = self.tiles.frame_at.get(identity, 0.0) > since
        heard = program.audio_at.get(identity, 0.0) > since
        return in_program, in_tile, heard

    async def aclose(self) -> None:
        if self.tiles is not None:
            await self.tiles.aclose()
        await self.feed.aclose()
        await self.session.aclose()
        self.program.close()
